// Bundles the CLI (task-image/dumpvault.ts) into dist/dumpvault.mjs with esbuild: the
// package's `bin`, and what the task image runs. Runs on `npm ci` (prepare) in ~1 s.
// `node scripts/build-cli.mjs <file>` writes the bundle elsewhere (tests run a fresh one).
import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = process.argv[2] ?? fileURLToPath(new URL('../dist/dumpvault.mjs', import.meta.url));

/**
 * Builtins the bundle loads with `require` where first used instead of importing at start.
 * esbuild hoists every `import … from 'node:http'` of the bundled code — the lazily loaded S3
 * and Azure SDKs' included — to the top of the bundle, and Node 22 evaluates the ESM facade of
 * `node:http` by reading every export, which loads its fetch implementation (undici) with it:
 * ~40 ms of CPU at every start of a command that sends no HTTP request (docs/performance.md,
 * start-up). As CommonJS they load when a module that uses them first runs.
 */
const LAZY_BUILTINS = /^(node:)?(http|https|http2)$/;
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    b.onResolve({ filter: LAZY_BUILTINS }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true }
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: [fileURLToPath(new URL('../task-image/dumpvault.ts', import.meta.url))],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  // Whitespace and comments out: a smaller script to parse and hold, and one without the
  // non-Latin-1 characters of comments, which make V8 keep the whole source two bytes per char.
  minifyWhitespace: true,
  define: { DUMPVAULT_VERSION: JSON.stringify(pkg.version) },
  // jsonc-parser's "main" is a UMD build whose inner require() calls esbuild cannot follow
  // (the bundle fails with "Cannot find module './impl/format'"); its ESM build bundles.
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  // ESM bundles of CommonJS dependencies need a require().
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __dvCreateRequire } from 'node:module'; const require = __dvCreateRequire(import.meta.url);",
  },
  plugins: [lazyBuiltins],
  logLevel: 'warning',
});

// The bin must be executable (npm links it; a rebuild creates the file anew with mode 0644).
chmodSync(outfile, 0o755);
