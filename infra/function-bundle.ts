/**
 * The Lambda handlers' code as ES-module bundles. From the sources (this repository, run
 * through tsx) each handler of functions/ is bundled with esbuild, once per process, in memory;
 * the published package instead ships them prebuilt beside its compiled construct
 * (lib/functions/<name>/, written by `npm run build:lib`), so a project that installs it needs
 * neither esbuild nor the handlers' dependencies. Nothing is written to the system temp folder.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Whether this module runs compiled (the installed package) rather than from its TypeScript source. */
const COMPILED = import.meta.url.endsWith('.js');

/** The package root: the nearest folder above this module holding a package.json (infra/.. or lib/infra/../..). */
export const PACKAGE_ROOT = ((): string => {
  for (let dir = path.dirname(HERE); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${HERE}`);
  }
})();

/** The handlers in functions/. */
export const FUNCTION_NAMES = [
  'start-backup',
  'task-stopped',
  'watchdog',
  'success-digest',
  'prune',
  'restore-resolve',
  'restore-guard',
  'restore-verify',
  'restore-record',
  'restore-ended',
] as const;
export type FunctionName = (typeof FUNCTION_NAMES)[number];

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

/** A handler's bundle: `index.mjs` and its source map `index.mjs.map`. */
export interface FunctionBundle {
  readonly code: Uint8Array;
  readonly map: Uint8Array;
}

/** The file names of a bundle in its directory. */
const CODE_FILE = 'index.mjs';
const MAP_FILE = 'index.mjs.map';

const bundles = new Map<FunctionName, FunctionBundle>();

/** Bundles one handler from functions/<name>.ts with esbuild, in memory. */
function bundleFromSource(name: FunctionName): FunctionBundle {
  // Loaded only here: the installed package ships prebuilt bundles and does not depend on esbuild.
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  const outfile = path.join(PACKAGE_ROOT, 'functions', name, CODE_FILE);
  const result = esbuild.buildSync({
    entryPoints: [path.join(PACKAGE_ROOT, 'functions', `${name}.ts`)],
    outfile,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    // Mappings only (stack traces under --enable-source-maps need no sources): a map a tenth the size.
    sourcemap: 'external',
    sourcesContent: false,
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
  const file = (suffix: string): Uint8Array => {
    const out = result.outputFiles.find((f) => f.path.endsWith(suffix));
    if (!out) throw new Error(`esbuild wrote no ${suffix} for the ${name} function`);
    return out.contents;
  };
  return { code: file(`${path.sep}${CODE_FILE}`), map: file(`${path.sep}${MAP_FILE}`) };
}

/** The directory of a handler's prebuilt bundle in the installed package. */
export function prebuiltBundleDir(name: FunctionName, libDir = path.dirname(HERE)): string {
  return path.join(libDir, 'functions', name);
}

/**
 * A directory that stands for a handler's code where CDK wants a source path (it reads it only
 * when it skips bundling, for a stack not selected for synth).
 */
export function bundleSourceDir(name: FunctionName): string {
  return COMPILED ? prebuiltBundleDir(name) : path.join(PACKAGE_ROOT, 'functions');
}

/** Reads a handler's prebuilt bundle; a package built without `npm run build:lib` is named as such. */
function prebuiltBundle(name: FunctionName): FunctionBundle {
  const dir = prebuiltBundleDir(name);
  try {
    return { code: readFileSync(path.join(dir, CODE_FILE)), map: readFileSync(path.join(dir, MAP_FILE)) };
  } catch {
    throw new Error(
      `the ${name} function's bundle ${path.join(dir, CODE_FILE)} is missing: the dumpvault package was packed without "npm run build:lib"`,
    );
  }
}

/** A handler's bundle (memoised for the process): prebuilt when compiled, bundled from source otherwise. */
export function functionBundle(name: FunctionName): FunctionBundle {
  let found = bundles.get(name);
  if (!found) {
    found = COMPILED ? prebuiltBundle(name) : bundleFromSource(name);
    bundles.set(name, found);
  }
  return found;
}

/** Writes a handler's bundle, and `config.json` when given, into `dir` (created if missing). */
export function writeFunctionAsset(name: FunctionName, dir: string, configJson?: string): void {
  const { code, map } = functionBundle(name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, CODE_FILE), code);
  writeFileSync(path.join(dir, MAP_FILE), map);
  if (configJson !== undefined) writeFileSync(path.join(dir, 'config.json'), configJson);
}

/** Bundles every handler from source into `<libDir>/functions/<name>/` (the package build). */
export function writePrebuiltBundles(libDir: string): void {
  for (const name of FUNCTION_NAMES) {
    writeFunctionAsset(name, prebuiltBundleDir(name, libDir), undefined);
  }
}
