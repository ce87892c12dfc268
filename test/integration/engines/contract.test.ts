/**
 * The engine contract (test/support/engine-suite.ts) against every engine: PostgreSQL and
 * MariaDB on the real servers of this machine, SQLite with the real sqlite3 CLI on real files,
 * and MongoDB against the stand-in tools of scripts/emulators/mongodb — a stand-in, not a
 * MongoDB server (none can be installed here): it shows the engine streams the archive through
 * unchanged and fails loudly, not how a real server answers.
 *
 * A dump tool that fails half-way is one of the tampering wrappers of
 * scripts/emulators/truncating (the real tool, stopped after part of its dump, exit 1) or the
 * mongodump stand-in told to fail (STANDIN_FAIL_AFTER).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHILD_ENV_EXTRA } from '../../../core/child-env.ts';
import type { Connection } from '../../../core/engine.ts';
import {
  MONGO_STANDIN_BIN,
  standInArchiveBytes,
  TRUNCATING_BIN,
} from '../../../scripts/emulators/stand-in-tools.ts';
import { MongodbEngine } from '../../../task-image/engines/mongodb.ts';
import { MysqlEngine } from '../../../task-image/engines/mysql.ts';
import { PostgresEngine } from '../../../task-image/engines/postgres.ts';
import { SqliteEngine } from '../../../task-image/engines/sqlite.ts';
import {
  dropMariaDb,
  dropPostgresDb,
  MY,
  mariaFingerprint,
  PG,
  postgresFingerprint,
  sqliteFingerprint,
} from '../../support/databases.ts';
import { describeEngine } from '../../support/engine-suite.ts';
import {
  createMariaObjectsDb,
  createPostgresObjectsDb,
  createSqliteObjectsDb,
  MARIA_OBJECTS,
  PG_OBJECTS,
  SQLITE_OBJECTS,
} from '../../support/objects.ts';

/** The tampering wrappers' controls, let through to the tools (children get an allow-list). */
const TRUNCATING_CONTROLS = 'DV_KEEP_BYTES DV_EXIT_CODE DV_STDERR_LINE';

/** Sets `vars` in this process's environment; returns how to put back what was there. */
function setEnv(vars: Record<string, string>): () => void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** The environment in which a tampering wrapper dies after half of a good dump, saying `line`. */
function truncatingEnv(dumpBytes: number, line: string, extra: Record<string, string> = {}) {
  return {
    PATH: `${TRUNCATING_BIN}${path.delimiter}${process.env.PATH}`,
    DV_KEEP_BYTES: String(Math.floor(dumpBytes / 2)),
    DV_EXIT_CODE: '1',
    DV_STDERR_LINE: line,
    [CHILD_ENV_EXTRA]: TRUNCATING_CONTROLS,
    ...extra,
  };
}

const dbOf = (conn: Connection) => decodeURIComponent(new URL(conn.url).pathname.slice(1));

describeEngine('PostgresEngine on the real PostgreSQL server (custom format)', async () => {
  const db = createPostgresObjectsDb(2000);
  let restore = () => {};
  return {
    engine: new PostgresEngine(),
    source: { url: `postgres://${PG.user}@${PG.host}:${PG.port}/${db}` },
    options: { format: 'custom' },
    objects: PG_OBJECTS,
    content: (conn) => postgresFingerprint(dbOf(conn)),
    breakDumpTool(bytes) {
      restore = setEnv(
        truncatingEnv(bytes, 'pg_dump: error: connection to server was lost', {
          PG_DUMP_PATH: path.join(TRUNCATING_BIN, 'pg_dump'),
        }),
      );
      return /pg_dump.*connection to server was lost/s;
    },
    repairDumpTool: () => restore(),
    dispose: async () => dropPostgresDb(db),
  };
});

describeEngine('MysqlEngine on the real MariaDB server', async () => {
  const db = createMariaObjectsDb(2000);
  let restore = () => {};
  return {
    engine: new MysqlEngine(),
    source: { url: `mysql://${MY.user}@${MY.host}:${MY.port}/${db}` },
    options: { format: 'custom' },
    objects: MARIA_OBJECTS,
    content: (conn) => mariaFingerprint(dbOf(conn)),
    breakDumpTool(bytes) {
      restore = setEnv(
        truncatingEnv(bytes, 'mariadb-dump: Error 2013: Lost connection to server during query'),
      );
      return /mariadb-dump.*Lost connection to server during query/s;
    },
    repairDumpTool: () => restore(),
    dispose: async () => dropMariaDb(db),
  };
});

describeEngine('SqliteEngine with the sqlite3 CLI on a real file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dv-contract-sqlite-'));
  const file = path.join(dir, 'app.db');
  createSqliteObjectsDb(file, 2000);
  let restore = () => {};
  return {
    engine: new SqliteEngine(),
    source: { url: `sqlite:${file}` },
    options: { format: 'custom' },
    objects: SQLITE_OBJECTS,
    content: (conn) => sqliteFingerprint(conn.url.slice('sqlite:'.length)),
    breakDumpTool(bytes) {
      restore = setEnv(truncatingEnv(bytes, 'Error: disk I/O error'));
      return /sqlite3.*disk I\/O error/s;
    },
    repairDumpTool: () => restore(),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
});

describeEngine('MongodbEngine against the stand-in tools (a stand-in, not a MongoDB server)', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'dv-contract-mongo-'));
  const log = path.join(dir, 'calls.jsonl');
  const archiveSize = 3 << 20;
  const putBack = setEnv({
    PATH: `${MONGO_STANDIN_BIN}${path.delimiter}${process.env.PATH}`,
    STANDIN_LOG: log,
    STANDIN_ARCHIVE_BYTES: String(archiveSize),
    [CHILD_ENV_EXTRA]: 'STANDIN_LOG STANDIN_ARCHIVE_BYTES STANDIN_FAIL_AFTER',
  });
  const source: Connection = { url: 'mongodb://127.0.0.1:27017/shop' };
  let restore = () => {};
  return {
    engine: new MongodbEngine(),
    source,
    options: { format: 'custom' },
    objects: undefined,
    // The stand-in "database" holds its archive; a target holds what mongorestore last received.
    async content(conn) {
      if (conn.url === source.url) {
        return createHash('sha256').update(standInArchiveBytes(archiveSize)).digest('hex');
      }
      const calls = existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : [];
      const restores = calls
        .map((l) => JSON.parse(l) as { tool: string; sha256?: string })
        .filter((c) => c.tool === 'mongorestore');
      return restores.at(-1)?.sha256 ?? 'nothing restored';
    },
    breakDumpTool(bytes) {
      restore = setEnv({ STANDIN_FAIL_AFTER: String(Math.floor(bytes / 2)) });
      return /mongodump.*connection reset by peer/s;
    },
    repairDumpTool: () => restore(),
    async dispose() {
      putBack();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
