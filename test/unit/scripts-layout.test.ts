/**
 * scripts/ (demo, bench, emulators) never reaches into test/: the emulators and stand-in tools
 * live in scripts/emulators/ and the tests import them from there, not the other way round.
 * Bug caught: a scripts ↔ test import loop (issue 18 §5), e.g. the bench importing a test helper
 * that itself imports the bench's harness.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(import.meta.dirname, '..', '..');

/** Every source file under `dir` (relative to the repository). */
function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(f))
    .map((f) => path.join(dir, f));
}

/** The module specifiers a file imports or requires. */
function specifiers(text: string): string[] {
  const found = text.matchAll(/(?:from\s+|import\s*\(\s*|require\s*\(\s*|import\s+)['"]([^'"]+)['"]/g);
  return [...found].map((m) => m[1]!);
}

describe('scripts/', () => {
  it('imports nothing from test/', () => {
    const intoTest = sources('scripts').flatMap((file) =>
      specifiers(readFileSync(path.join(root, file), 'utf8'))
        .filter((s) => s.startsWith('.'))
        .filter((s) =>
          path.relative(root, path.resolve(root, path.dirname(file), s)).startsWith(`test${path.sep}`),
        )
        .map((s) => `${file} imports ${s}`),
    );

    expect(intoTest).toEqual([]);
  });
});
