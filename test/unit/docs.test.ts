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

describe('docs/', () => {
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
