import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';

/** `sample-app/public/`, next to both `src/` and the compiled `dist/`. */
const PUBLIC = path.resolve(import.meta.dirname, '..', 'public');
const ASSETS: Record<string, string> = { 'app.css': 'text/css', 'app.js': 'text/javascript' };
const read = (file: string) => readFileSync(path.join(PUBLIC, file), 'utf8');

/** The demo page: plain HTML, CSS and one module script, no build step. */
@Controller()
export class PageController {
  private readonly files = new Map(['index.html', ...Object.keys(ASSETS)].map((file) => [file, read(file)]));

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return this.files.get('index.html')!;
  }

  @Get('assets/:file')
  asset(
    @Param('file') file: string,
    @Res({ passthrough: true }) response: { header(name: string, value: string): unknown },
  ): string {
    if (!(file in ASSETS)) throw new NotFoundException(`No asset ${file}.`);
    response.header('Content-Type', `${ASSETS[file]}; charset=utf-8`);
    return this.files.get(file)!;
  }
}
