/**
 * Where the stand-in executables live, for tests and scripts that put them first on PATH.
 *
 * - `mongodb/`: mongodump, mongorestore and mongosh stand-ins (no MongoDB server can be
 *   installed here, DESIGN.md §7); they record how they were called and emit or consume a
 *   deterministic archive (mongodb/standin.cjs documents their environment variables).
 * - `truncating/`: pg_dump, mariadb-dump and sqlite3 wrappers that run the real tool and
 *   misbehave on cue: part of the dump then exit 0, or an error line then exit 0
 *   (truncating/truncate.cjs documents their environment variables).
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The folder of the MongoDB stand-in tools (a stand-in, not MongoDB). */
export const MONGO_STANDIN_BIN = fileURLToPath(new URL('./mongodb', import.meta.url));

/** The folder of the tampering pg_dump / mariadb-dump / sqlite3 wrappers. */
export const TRUNCATING_BIN = fileURLToPath(new URL('./truncating', import.meta.url));

/** The archive the mongodump stand-in writes, `size` bytes long (a valid mongodump archive). */
export const standInArchiveBytes = (
  createRequire(import.meta.url)('./mongodb/standin.cjs') as { archiveBytes: (size: number) => Buffer }
).archiveBytes;
