import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';

/**
 * Extracts the TypeScript code blocks of the documentation and type-checks them, as an
 * application using the published package would compile them.
 *
 * Conventions for a block (its first non-empty line):
 * - `// @check-skip`: not checked (shell-like or deliberately partial code; use sparingly).
 * - `// @prelude`: {@link PRELUDE} is put before it, so it may leave out the usual imports and
 *   use `registry`, `dataSource`, `id` and `lastEventId` without defining them.
 * Any other block must compile on its own.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** What blocks marked `// @prelude` may use without importing or defining it. */
export const PRELUDE = `import { Body, Controller, Delete, Get, Inject, Injectable, Module, Param, Post, Req, Sse, UseGuards, UseInterceptors } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Observable } from 'rxjs';
import { DataSource } from 'typeorm';
import {
  AdmittedStream, LastEventId, PublicStreamError, ResumableSse, ResumableStream, StreamGuard, StreamingModule,
  StreamRegistry, type SseMessage, type StreamingModuleOptions,
} from 'nestjs-meridian-stream';
import { TypeOrmEventStore } from 'nestjs-meridian-stream/typeorm';
import { RedisStreamBus } from 'nestjs-meridian-stream/redis';
declare const registry: StreamRegistry;
declare const dataSource: DataSource;
declare const id: string;
declare const lastEventId: string | undefined;
`;

/**
 * Third-party SDKs the recipes show but this repository does not install: the part of their
 * published typings that the examples use, so the calls into this library are still checked.
 */
const STUBS = `declare module 'openai' {
  interface ChatCompletionChunk {
    id: string;
    choices: { index: number; delta: { role?: string; content?: string | null }; finish_reason: string | null }[];
  }
  interface ChatCompletionCreateParamsStreaming {
    model: string;
    messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
    stream: true;
  }
  interface RequestOptions {
    signal?: AbortSignal;
  }
  class Stream<Item> implements AsyncIterable<Item> {
    [Symbol.asyncIterator](): AsyncIterator<Item>;
    controller: AbortController;
  }
  export default class OpenAI {
    constructor(options?: { apiKey?: string });
    chat: {
      completions: {
        create(body: ChatCompletionCreateParamsStreaming, options?: RequestOptions): Promise<Stream<ChatCompletionChunk>>;
      };
    };
  }
}
`;

/** The package's entry points, mapped to their sources as the repository's tsconfig does. */
const ENTRY_POINTS: Record<string, string> = {
  'nestjs-meridian-stream': 'lib/index.ts',
  'nestjs-meridian-stream/typeorm': 'lib/typeorm/index.ts',
  'nestjs-meridian-stream/redis': 'lib/redis/index.ts',
  'nestjs-meridian-stream/terminus': 'lib/terminus/index.ts',
  'nestjs-meridian-stream/prometheus': 'lib/prometheus/index.ts',
};

export interface CodeBlock {
  /** Markdown file, relative to the repository. */
  readonly file: string;
  /** Line of the block's first code line in that file (1-based). */
  readonly line: number;
  readonly code: string;
  readonly mode: 'check' | 'prelude' | 'skip';
}

const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;

/** The Markdown files whose blocks are checked: README.md and docs/*.md. */
export function documentationFiles(): string[] {
  const docs = path.join(ROOT, 'docs');
  const pages = existsSync(docs)
    ? readdirSync(docs)
        .filter((name) => name.endsWith('.md'))
        .sort()
        .map((name) => `docs/${name}`)
    : [];
  return ['README.md', ...pages];
}

/** Every ```ts / ```typescript block of a Markdown file. */
export function extractBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split(/\r?\n/);
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = FENCE_OPEN.exec(lines[index]);
    if (!open) continue;
    const [, indent, fence, language] = open;
    const body: string[] = [];
    let end = index + 1;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    while (end < lines.length && !close.test(lines[end])) {
      body.push(lines[end].startsWith(indent) ? lines[end].slice(indent.length) : lines[end].trimStart());
      end++;
    }
    if (language === 'ts' || language === 'typescript') {
      const first = body.find((line) => line.trim() !== '')?.trim() ?? '';
      const mode = first.startsWith('// @check-skip') ? 'skip' : first.startsWith('// @prelude') ? 'prelude' : 'check';
      blocks.push({ file, line: index + 2, code: body.join('\n'), mode });
    }
    index = end;
  }
  return blocks;
}

/** A problem in a block, located in its Markdown file. */
export interface BlockProblem {
  readonly block: CodeBlock;
  readonly message: string;
}

/**
 * Type-checks `blocks` together in one program (each block its own ES module) in a temporary
 * folder outside the repository, whose `node_modules` is a link to the repository's. Strict, with
 * the decorator settings a Nest application uses. Returns the problems of each block.
 */
export function typeCheck(blocks: readonly CodeBlock[]): Map<CodeBlock, BlockProblem[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'meridian-doc-blocks-'));
  try {
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const stubs = path.join(dir, 'stubs.d.ts');
    writeFileSync(stubs, STUBS);
    const preludeLines = PRELUDE.split('\n').length - 1;
    const files = new Map<string, { block: CodeBlock; offset: number }>();
    blocks.forEach((block, index) => {
      const name = `${String(index).padStart(3, '0')}-${block.file.replace(/[^\w]+/g, '-')}-L${block.line}.ts`;
      const prefix = block.mode === 'prelude' ? PRELUDE : '';
      // `export {}` makes every block a module, so blocks never see each other's names.
      writeFileSync(path.join(dir, name), `${prefix}${block.code}\nexport {};\n`);
      files.set(path.join(dir, name), { block, offset: block.mode === 'prelude' ? preludeLines : 0 });
    });
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts'],
      types: ['node'],
      strict: true,
      noImplicitOverride: true,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
      esModuleInterop: true,
      skipLibCheck: true,
      noEmit: true,
      paths: Object.fromEntries(
        Object.entries(ENTRY_POINTS).map(([name, source]) => [name, [path.join(ROOT, source)]]),
      ),
    };
    const program = ts.createProgram({ rootNames: [stubs, ...files.keys()], options });
    const problems = new Map<CodeBlock, BlockProblem[]>(blocks.map((block) => [block, []]));
    const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
    for (const diagnostic of global) {
      for (const block of blocks) problems.get(block)!.push({ block, message: `${format(diagnostic)}` });
    }
    for (const sourceFile of program.getSourceFiles()) {
      const entry = files.get(path.resolve(sourceFile.fileName));
      if (!entry) continue;
      const diagnostics = [
        ...program.getSyntacticDiagnostics(sourceFile),
        ...program.getSemanticDiagnostics(sourceFile),
      ];
      for (const diagnostic of diagnostics) {
        const { line, character } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
        const blockLine = line - entry.offset;
        const where =
          blockLine < 0
            ? `${entry.block.file}:${entry.block.line} (in the prelude it was given)`
            : `${entry.block.file}:${entry.block.line + blockLine}:${character + 1}`;
        const text = blockLine >= 0 ? `\n    ${sourceFile.text.split('\n')[line].trim()}` : '';
        problems.get(entry.block)!.push({ block: entry.block, message: `${where} ${format(diagnostic)}${text}` });
      }
    }
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function format(diagnostic: ts.Diagnostic): string {
  return `TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
}
