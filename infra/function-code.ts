/**
 * Lambda code assets, bundled locally with esbuild (no Docker): each handler of functions/ is
 * bundled once per process into an ES module, then staged with the deployment's `config.json`
 * beside it (the config is too large for the Lambda environment and holds no secrets).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';
import type { Config } from '../core/config/schema.ts';

/** The package root (infra/ is one level below it). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The handlers in functions/. */
export type FunctionName =
  | 'start-backup'
  | 'task-stopped'
  | 'watchdog'
  | 'prune'
  | 'restore-resolve'
  | 'restore-guard'
  | 'restore-verify'
  | 'restore-record'
  | 'restore-ended';

/**
 * Optional native or cloud-specific modules of the database drivers the Guard bundles (pg,
 * mongodb). The drivers `require()` them inside try/catch and work without them (kerberos and
 * GSSAPI auth, zstd/snappy compression, SOCKS proxies, client-side field encryption, GCP
 * OIDC, libpq bindings): they stay outside the bundle, so a copy that happens to be
 * installed on the build machine (a native addon) can never break or bloat it.
 */
export const DRIVER_OPTIONAL_MODULES = [
  'kerberos',
  '@mongodb-js/zstd',
  'snappy',
  'socks',
  'aws4',
  'mongodb-client-encryption',
  'gcp-metadata',
  'pg-native',
] as const;

let workDir: string | undefined;
const bundles = new Map<FunctionName, string>();

function work(): string {
  workDir ??= mkdtempSync(path.join(tmpdir(), 'dumpvault-functions-'));
  return workDir;
}

/** Bundles one handler (memoised for the process) and returns the bundle's directory. */
function bundle(name: FunctionName): string {
  const cached = bundles.get(name);
  if (cached) return cached;
  const outdir = path.join(work(), 'bundles', name);
  buildSync({
    entryPoints: [path.join(PACKAGE_ROOT, 'functions', `${name}.ts`)],
    outfile: path.join(outdir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: 'external',
    legalComments: 'none',
    external: [...DRIVER_OPTIONAL_MODULES],
    // jsonc-parser's UMD "main" requires its parts in a way esbuild cannot follow; use its ESM build.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    // ESM bundles of CommonJS dependencies need a require().
    banner: {
      js: "import { createRequire as __dvCreateRequire } from 'node:module'; const require = __dvCreateRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  bundles.set(name, outdir);
  return outdir;
}

/**
 * The code asset of a handler: its bundle, plus `config.json` when `config` is given. Assets
 * with equal content share a directory, so the asset hash only changes when the code or the
 * config does.
 */
export function functionCode(name: FunctionName, config?: Config): lambda.Code {
  const source = bundle(name);
  const configJson = config ? `${JSON.stringify(config, null, 2)}\n` : undefined;
  const key = createHash('sha256')
    .update(name)
    .update(configJson ?? '')
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(work(), 'assets', `${name}-${key}`);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true });
    copyFileSync(path.join(source, 'index.mjs'), path.join(dir, 'index.mjs'));
    copyFileSync(path.join(source, 'index.mjs.map'), path.join(dir, 'index.mjs.map'));
    if (configJson) writeFileSync(path.join(dir, 'config.json'), configJson);
  }
  return lambda.Code.fromAsset(dir);
}
