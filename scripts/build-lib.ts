/**
 * Builds the construct library the package ships (`npm run build:lib`, run by `npm pack`):
 * infra/ and the core/ modules it imports compiled by tsc to `<root>/lib` (JavaScript and
 * `.d.ts`, tsconfig.lib.json), and every Lambda handler prebuilt by esbuild into
 * `<root>/lib/functions/<name>/`, where the compiled construct looks for them. `<root>` is the
 * repository unless given (`tsx scripts/build-lib.ts <root>`: the consumer test builds a
 * private copy).
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { writePrebuiltBundles } from '../infra/function-bundle.ts';

const repo = path.join(import.meta.dirname, '..');
const lib = path.join(path.resolve(process.argv[2] ?? repo), 'lib');

rmSync(lib, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(
  process.execPath,
  [tsc, '-p', path.join(repo, 'tsconfig.lib.json'), '--outDir', lib],
  { stdio: 'inherit' },
);
if (compiled.status !== 0) {
  console.error(`build-lib: tsc failed (exit ${compiled.status ?? compiled.signal})`);
  process.exit(1);
}
writePrebuiltBundles(lib);
