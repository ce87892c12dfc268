/**
 * Start-up of a local backup: the backup command reaches the cloud SDKs and nodemailer only
 * through dynamic imports, so a backup to a file runs none of their module code
 * (docs/performance.md, start-up). Read from esbuild's metafile of the command's bundle: the
 * static import graph is what runs at start.
 */
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const entry = 'task-image/cli/commands/backup.ts';

/** The chain of static imports from `start` to the first input whose path contains `target`. */
function staticChain(meta: Metafile, target: string, start = entry): string[] | undefined {
  const from = new Map<string, string | undefined>([[start, undefined]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (file.includes(target)) {
      const chain: string[] = [];
      for (let f: string | undefined = file; f !== undefined; f = from.get(f)) chain.unshift(f);
      return chain;
    }
    for (const imp of meta.inputs[file]?.imports ?? []) {
      if (imp.kind !== 'import-statement' && imp.kind !== 'require-call') continue;
      if (!from.has(imp.path)) {
        from.set(imp.path, file);
        queue.push(imp.path);
      }
    }
  }
  return undefined;
}

let meta: Metafile;

beforeAll(async () => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    outfile: 'lazy-modules-probe.mjs',
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    logLevel: 'silent',
  });
  meta = result.metafile;
}, 60_000);

describe('the backup command', () => {
  it.each(['@aws-sdk/client-s3/', '@azure/storage-blob/', 'nodemailer/', 'core/storage/s3.ts'])(
    'loads %s only through a dynamic import (a static one runs it on every file backup)',
    (target) => {
      expect(staticChain(meta, target)).toBeUndefined();
    },
  );

  it('still bundles them, behind a dynamic import (the probe finds what it looks for)', () => {
    expect(staticChain(meta, 'core/storage/file.ts')).toBeDefined();
    expect(Object.keys(meta.inputs).some((f) => f.includes('@aws-sdk/client-s3/'))).toBe(true);
    expect(Object.keys(meta.inputs).some((f) => f.includes('nodemailer/'))).toBe(true);
  });
});

describe('a cloud destination', () => {
  // Bug caught: an S3 backup loading the Azure SDK too (~20–40 ms of module code at every start)
  // because the loader imported core/storage/index.ts, which builds every kind of destination.
  it.each([
    ['core/storage/s3-create.ts', '@azure/storage-blob/'],
    ['core/storage/azure-create.ts', '@aws-sdk/client-s3/'],
  ])('%s reaches no %s', (start, target) => {
    expect(Object.keys(meta.inputs)).toContain(start);
    expect(staticChain(meta, target, start)).toBeUndefined();
    expect(
      staticChain(
        meta,
        target === '@azure/storage-blob/' ? '@aws-sdk/client-s3/' : '@azure/storage-blob/',
        start,
      ),
    ).toBeDefined();
  });

  it('is loaded through those modules, not through core/storage/index.ts', () => {
    const lazy = (meta.inputs['core/storage/load.ts']?.imports ?? []).filter(
      (i) => i.kind === 'dynamic-import',
    );
    expect(lazy.map((i) => i.path).sort()).toEqual([
      'core/storage/azure-create.ts',
      'core/storage/s3-create.ts',
    ]);
  });
});
