/**
 * `engines` tells the truth: every dependency the repository installs accepts the lowest Node
 * version package.json promises, except the ones listed here with why they are kept anyway.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/**
 * Declares a newer Node than the floor; kept because it is test-only and
 * test/integration/task/restore-state-machine.test.ts runs it on Node 20 here (docs/limits.md).
 */
const KNOWN_NEWER: Record<string, string> = { 'aws-local-stepfunctions': '>=22.0.0' };

/** The lowest version a `>=X.Y[.Z]` range admits. */
function floor(range: string): [number, number, number] {
  const m = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (!m) throw new Error(`engines.node should be ">=X.Y", got ${JSON.stringify(range)}`);
  return [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)];
}

/** True when the Node version `v` satisfies a dependency's `engines.node` (the forms they use). */
function admits(range: string, v: [number, number, number]): boolean {
  return range.split('||').some((alt) => {
    const parts = alt.trim().split(/\s+(?=[<>^~=])/);
    return parts.every((p) => {
      const m = /^(>=|>|\^|~|<=|<|=)?\s*(\d+)(?:\.(\d+|x))?(?:\.(\d+|x))?/.exec(p.trim());
      if (!m) return true;
      const want = [Number(m[2]), Number(m[3] ?? 0) || 0, Number(m[4] ?? 0) || 0];
      const cmp = v[0] - want[0]! || v[1] - want[1]! || v[2] - want[2]!;
      switch (m[1]) {
        case '>=':
          return cmp >= 0;
        case '>':
          return cmp > 0;
        case '<':
          return cmp < 0;
        case '<=':
          return cmp <= 0;
        case '^':
          return v[0] === want[0] && cmp >= 0;
        case '~':
          return v[0] === want[0] && v[1] === want[1] && cmp >= 0;
        default:
          return cmp === 0 || (m[3] === undefined && v[0] === want[0]);
      }
    });
  });
}

describe('package.json engines', () => {
  it('is met by every direct dependency but the listed ones (a dependency needing a newer Node once went unnoticed)', () => {
    // Bug caught: a dependency that needs a newer Node than "engines" says, added silently.
    const pkg = readJson(path.join(ROOT, 'package.json'));
    const lowest = floor((pkg['engines'] as { node: string }).node);
    const deps = Object.keys({
      ...(pkg['dependencies'] as Record<string, string> | undefined),
      ...(pkg['devDependencies'] as Record<string, string>),
    });
    const newer: Record<string, string> = {};
    for (const dep of deps) {
      const range = (
        readJson(path.join(ROOT, 'node_modules', dep, 'package.json'))['engines'] as
          | { node?: string }
          | undefined
      )?.node;
      if (range && !admits(range, lowest)) newer[dep] = range;
    }

    expect(newer).toEqual(KNOWN_NEWER);
  });

  it('reads the dependency ranges the way npm does for the forms in use', () => {
    expect(admits('>=20.19.0', [20, 19, 0])).toBe(true);
    expect(admits('>=22.0.0', [20, 19, 0])).toBe(false);
    expect(admits('^16 || ^18 || >=20', [20, 19, 0])).toBe(true);
    expect(admits('^20.0.0 || ^22.0.0 || >=24.0.0', [20, 19, 0])).toBe(true);
    expect(admits('^18.0.0 || >=22', [20, 19, 0])).toBe(false);
  });
});
