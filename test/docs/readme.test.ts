import { documentationFiles, extractBlocks, typeCheck, type BlockProblem, type CodeBlock } from './doc-blocks.js';

/**
 * Every ```ts block of README.md and docs/*.md compiles against the library's entry points, in
 * strict mode with Nest's decorator settings. A failure names the Markdown file and line.
 * Conventions (`// @check-skip`, `// @prelude`) are described in doc-blocks.ts.
 */

const files = documentationFiles();
const blocks: CodeBlock[] = files.flatMap((file) => extractBlocks(file));
const checked = blocks.filter((block) => block.mode !== 'skip');
let problems: Map<CodeBlock, BlockProblem[]>;

beforeAll(() => {
  problems = typeCheck(checked);
}, 60_000);

describe('documentation code blocks', () => {
  it('finds the README and the pages under docs/', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'docs/concepts.md',
        'docs/options.md',
        'docs/recipes.md',
        'docs/migrating-from-go.md',
      ]),
    );
    expect(checked.length).toBeGreaterThan(10);
  });

  it('checks the quick start as it stands: complete, no prelude, not skipped', () => {
    const readme = extractBlocks('README.md');
    const quickStart = readme.find((block) => block.code.includes('StreamingModule.forRoot()'));
    expect(quickStart?.mode).toBe('check');
  });

  it('skips few blocks', () => {
    const skipped = blocks.filter((block) => block.mode === 'skip');
    expect(skipped.length).toBeLessThanOrEqual(Math.max(2, Math.floor(blocks.length / 10)));
  });

  it.each(checked.map((block) => [`${block.file}:${block.line}`, block] as const))('%s compiles', (_where, block) => {
    const found = problems.get(block) ?? [];
    if (found.length > 0) {
      throw new Error(
        `The code block at ${block.file}:${block.line} does not compile:\n${found.map((p) => p.message).join('\n')}`,
      );
    }
  });
});
