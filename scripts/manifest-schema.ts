/**
 * Writes docs/manifest.schema.json, the JSON Schema of manifest format version 1, from the zod
 * schema the code validates manifests with (`npm run docs:schema`). test/unit/docs.test.ts fails
 * when the file is stale.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { manifestJsonSchema } from '../core/manifest.ts';

const file = path.join(import.meta.dirname, '..', 'docs', 'manifest.schema.json');
writeFileSync(file, manifestJsonSchema());
console.log(`wrote ${path.relative(process.cwd(), file)}`);
