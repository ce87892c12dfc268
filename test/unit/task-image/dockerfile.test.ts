import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const lines = readFileSync(path.join(ROOT, 'task-image/Dockerfile'), 'utf8')
  .split('\n')
  .map((l) => l.trim());
const indexOf = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

describe('task image compile cache', () => {
  it('fills the cache at build, as the user the task runs as, where the task looks for it', () => {
    const user = indexOf(/^USER 10001:10001$/);
    const env = indexOf(/^ENV NODE_COMPILE_CACHE=(\S+)$/);
    const fill = indexOf(/^RUN node \/app\/dumpvault\.mjs --version$/);
    const entrypoint = indexOf(/^ENTRYPOINT \["node", "\/app\/dumpvault\.mjs"/);
    expect(user).toBeGreaterThan(-1);
    expect(env).toBeGreaterThan(-1);
    // Node names the cache's subdirectory after the user id: filled as root, the task (uid 10001)
    // would never read it.
    expect(fill).toBeGreaterThan(user);
    // Without the variable set when the bundle runs at build, nothing is written.
    expect(fill).toBeGreaterThan(env);
    // The cache is keyed by the file's path: the fill must run the file the task runs.
    expect(entrypoint).toBeGreaterThan(fill);
    const dir = lines[env]!.split('=')[1]!;
    expect(lines.some((l) => l.includes(`install -d -o 10001 -g 10001 ${dir}`))).toBe(true);
  });
});
