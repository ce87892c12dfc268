// Bundles the CLI (task-image/dumpvault.ts) into dist/dumpvault.mjs with esbuild: the
// package's `bin`, and what the task image runs. Runs on `npm ci` (prepare) in ~1 s.
// `node scripts/build-cli.mjs <file>` writes the bundle elsewhere (tests run a fresh one).
import { chmodSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = process.argv[2] ?? fileURLToPath(new URL('../dist/dumpvault.mjs', import.meta.url));

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
  logLevel: 'warning',
});

// The bin must be executable (npm links it; a rebuild creates the file anew with mode 0644).
chmodSync(outfile, 0o755);
