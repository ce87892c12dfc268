/**
 * The documents a stranger restores from stay true to the code.
 * Bugs caught: the manifest schema in docs/ drifting from the zod schema the code validates
 * with; a README that grows back past ~200 lines; a link from the README or docs/ to a file
 * that is not there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { manifestJsonSchema } from '../../core/manifest.ts';

const root = path.join(import.meta.dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** Every TypeScript source file under `dir` (recursively). */
function sourcesUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

describe('docs/', () => {
  it('keeps benchmark figures in docs/performance.md, not in code comments', () => {
    // Bug: a comment quoting "160 MiB peak" or "153 MB/s" goes stale with the next bench run;
    // comments point to docs/performance.md instead (issue 18 §4).
    const figure = /\d\s?(MB\/s|CPU-s\b|MiB peak|peak RSS)|peak RSS:? \d|(MB\/s|CPU-s)[^\n]*\d/;
    const quoting = ['core', 'task-image', 'functions', 'infra']
      .flatMap(sourcesUnder)
      .flatMap((file) =>
        read(file)
          .split('\n')
          .map((line, i) => ({ file, line: i + 1, text: line.trim() }))
          .filter((l) => /^(\*|\/\/|\/\*\*)/.test(l.text) && figure.test(l.text)),
      )
      .map((l) => `${l.file}:${l.line}: ${l.text}`);
    expect(quoting).toEqual([]);
  });

  it('holds the manifest schema generated from the code (npm run docs:schema)', () => {
    expect(
      read('docs/manifest.schema.json'),
      'docs/manifest.schema.json is stale: run npm run docs:schema',
    ).toBe(manifestJsonSchema());
  });

  it('keeps the README short: pitch, the two commands, CLI, guarantees, links', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(220);
  });

  it('links only to files that exist', () => {
    const files = [
      'README.md',
      ...readdirSync(path.join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const file of files) {
      for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        if (!existsSync(path.join(root, path.dirname(file), target!))) broken.push(`${file} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
