/**
 * mongodb engine against a stand-in executable — no MongoDB server here.
 *
 * No MongoDB server can be installed on this machine, so these tests put the stand-in tools
 * in scripts/emulators/mongodb (mongodump, mongorestore, mongosh) first on PATH. They check what the
 * real tools would be asked to do (arguments, where the password goes, the temp config file)
 * and how the engine handles their byte streams and failures; they say nothing about how a
 * real MongoDB server answers.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHILD_ENV_EXTRA } from '../../../core/child-env.ts';
import { ToolError, UserError } from '../../../core/errors.ts';
import { redact } from '../../../core/redact.ts';
import {
  standInArchiveBytes as archiveBytes,
  MONGO_STANDIN_BIN as STANDIN_BIN,
} from '../../../scripts/emulators/stand-in-tools.ts';
import { MONGOSH_URI_ENV, MongodbEngine } from '../../../task-image/engines/mongodb.ts';
import { collect, rejectionOf, sha256 } from './support.ts';

interface Invocation {
  tool: 'mongodump' | 'mongorestore' | 'mongosh';
  argv: string[];
  env: Record<string, string>;
  config?: { file: string; mode: string; text: string } | null;
  marker?: string;
  bytes?: number;
  sha256?: string;
}

const engine = new MongodbEngine();
const PASSWORD = 'mongo-S3cret:pw/with@chars';
const src = { url: 'mongodb://backup@127.0.0.1:27017/shop?replicaSet=rs0', password: PASSWORD };
const savedEnv = { ...process.env };
let dir: string;
let log: string;

async function invocations(): Promise<Invocation[]> {
  if (!existsSync(log)) return [];
  return (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Invocation);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'dv-mongo-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  log = path.join(dir, `calls-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`);
  process.env.PATH = `${STANDIN_BIN}${path.delimiter}${savedEnv.PATH}`;
  process.env.STANDIN_LOG = log;
  process.env.STANDIN_ARCHIVE_BYTES = String(3 << 20);
  // Child processes see only an allow-list of this process's environment; the stand-in's
  // controls are added to it the way an operator would add a variable a tool needs.
  process.env[CHILD_ENV_EXTRA] =
    'STANDIN_LOG STANDIN_ARCHIVE_BYTES STANDIN_FAIL_AFTER STANDIN_MONGOSH_REPLIES STANDIN_MONGOSH_FAIL';
});

afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  process.env.PATH = savedEnv.PATH;
});

describe('mongodb engine against a stand-in executable — no MongoDB server here', () => {
  it('names the format: archive / mongodump-archive', () => {
    expect(engine.dumpExtension({ format: 'custom' })).toBe('archive');
    expect(engine.dumpFormat({ format: 'custom' })).toBe('mongodump-archive');
  });

  it('streams mongodump --archive unchanged, with the password only in a 0600 config file that is removed', async () => {
    const session = engine.dump(src, { format: 'custom' });
    const dump = await collect(session.output);

    expect(dump.equals(archiveBytes(3 << 20))).toBe(true);
    expect(await session.stats).toEqual({ customers: 2, orders: 3, événements: 0 });
    const calls = await invocations();
    expect(calls.map((c) => c.tool)).toEqual(['mongosh', 'mongodump']);
    const dumpCall = calls[1]!;
    expect(dumpCall.argv[0]).toBe('--archive');
    expect(dumpCall.argv[1]).toBe('--uri=mongodb://backup@127.0.0.1:27017/shop?replicaSet=rs0');
    expect(dumpCall.argv[2]).toMatch(/^--config=.*tool-config\.yaml$/);
    expect(dumpCall.config?.mode).toBe('600');
    expect(dumpCall.config?.text).toBe(`password: ${JSON.stringify(PASSWORD)}\n`);
    expect(dumpCall.sha256).toBe(sha256(dump));
    expect(existsSync(dumpCall.config!.file)).toBe(false);
    for (const call of calls) expect(call.argv.join(' ')).not.toContain(PASSWORD);
  });

  it('gives the tools the AWS credentials of this process only for MONGODB-AWS authentication', async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIAMONGOTEST0000000';
    process.env.AWS_SECRET_ACCESS_KEY = 'mongo-aws-secret-value';

    await collect(engine.dump(src, { format: 'custom' }).output);
    const awsUrl = 'mongodb://127.0.0.1:27017/shop?authMechanism=MONGODB-AWS&authSource=%24external';
    await collect(engine.dump({ url: awsUrl }, { format: 'custom' }).output);

    const [plainCount, plainDump, awsCount, awsDump] = await invocations();
    expect(plainCount!.env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(plainDump!.env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
    expect(awsCount!.env.AWS_SECRET_ACCESS_KEY).toBe('mongo-aws-secret-value');
    expect(awsDump!.env.AWS_SECRET_ACCESS_KEY).toBe('mongo-aws-secret-value');
    expect(awsDump!.env.AWS_ACCESS_KEY_ID).toBe('AKIAMONGOTEST0000000');
  });

  it('gives mongosh the connection string in its environment and asks for exact counts', async () => {
    const stats = await engine.stats(src);

    expect(stats).toEqual({ customers: 2, orders: 3, événements: 0 });
    const [call] = await invocations();
    expect(call!.argv.slice(0, 3)).toEqual(['--nodb', '--quiet', '--eval']);
    expect(call!.argv[3]).toContain('countDocuments({})');
    expect(call!.marker).toBe('stats');
    expect(call!.env[MONGOSH_URI_ENV]).toBe(
      `mongodb://backup:${encodeURIComponent(PASSWORD)}@127.0.0.1:27017/shop?replicaSet=rs0`,
    );
    expect(call!.argv.join(' ')).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('inspects the server version through mongosh and the mongodump version', async () => {
    expect(await engine.inspect(src)).toEqual({
      serverVersion: '7.0.14',
      tool: { name: 'mongodump', version: '100.9.4-standin' },
      database: 'shop',
    });
  });

  it('fails the output with a ToolError when mongodump exits 1 half-way, and removes the config file', async () => {
    process.env.STANDIN_FAIL_AFTER = String(200_000);
    const session = engine.dump(src, { format: 'custom' });

    const error = await rejectionOf(collect(session.output));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/mongodump exited with code 1: Failed: error writing data/);
    expect(error.message).not.toContain(PASSWORD);
    const dumpCall = (await invocations()).find((c) => c.tool === 'mongodump')!;
    expect(existsSync(dumpCall.config!.file)).toBe(false);
  });

  it('restores with mongorestore --archive into the target database, --drop only when asked', async () => {
    const archive = archiveBytes(3 << 20);
    const target = { url: 'mongodb://restorer@db1:27017,db2:27017/shop_copy', password: PASSWORD };

    await engine.restore(target, Readable.from([archive]), { drop: false, dumpFormat: 'mongodump-archive' });
    process.env.STANDIN_MONGOSH_REPLIES = JSON.stringify({ objects: { collections: 4 } });
    await engine.restore(target, Readable.from([archive]), { drop: true, dumpFormat: 'mongodump-archive' });

    const restores = (await invocations()).filter((c) => c.tool === 'mongorestore');
    expect(restores).toHaveLength(2);
    expect(restores[0]!.argv).toEqual([
      '--archive',
      '--uri=mongodb://restorer@db1:27017,db2:27017/?authSource=shop_copy',
      expect.stringMatching(/^--config=/),
      '--nsFrom=$db$.$coll$',
      '--nsTo=shop_copy.$coll$',
      '--stopOnError',
    ]);
    expect(restores[1]!.argv.at(-1)).toBe('--drop');
    for (const call of restores) {
      expect(call.sha256).toBe(sha256(archive));
      expect(call.bytes).toBe(archive.length);
      expect(call.config?.mode).toBe('600');
      expect(existsSync(call.config!.file)).toBe(false);
    }
  });

  // Bug: --drop only passed mongorestore --drop, which drops the archive's collections: the
  // target's other collections stayed, so the target did not equal the backup.
  it('with drop, drops the target database before mongorestore, so collections the archive lacks go too', async () => {
    const archive = archiveBytes(1 << 20);
    const target = { url: 'mongodb://restorer@db1:27017/shop_copy', password: PASSWORD };

    await engine.restore(target, Readable.from([archive]), { drop: true, dumpFormat: 'mongodump-archive' });

    const calls = (await invocations()).map((c) => `${c.tool}${c.marker ? `:${c.marker}` : ''}`);
    expect(calls).toEqual(['mongosh:drop', 'mongorestore']);
    const drop = (await invocations())[0]!;
    expect(drop.env[MONGOSH_URI_ENV]).toMatch(/^mongodb:\/\/restorer:[^@]+@db1:27017\/shop_copy$/);
  });

  it('with drop, runs no mongorestore when the drop fails', async () => {
    process.env.STANDIN_MONGOSH_FAIL =
      'MongoServerError: not authorized on shop_copy to execute command { dropDatabase: 1 }';

    const error = await rejectionOf(
      engine.restore(src, Readable.from([archiveBytes(1024)]), {
        drop: true,
        dumpFormat: 'mongodump-archive',
      }),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/not authorized/);
    expect((await invocations()).some((c) => c.tool === 'mongorestore')).toBe(false);
  });

  it('refuses to restore into a database that has collections unless asked to drop', async () => {
    process.env.STANDIN_MONGOSH_REPLIES = JSON.stringify({ objects: { collections: 2 } });

    const error = await rejectionOf(
      engine.restore(src, Readable.from([archiveBytes(1024)]), {
        drop: false,
        dumpFormat: 'mongodump-archive',
      }),
    );

    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(/already has collections: restore with --drop/);
    expect((await invocations()).some((c) => c.tool === 'mongorestore')).toBe(false);
  });

  it('fails the restore with a ToolError when mongorestore exits 1 half-way, and stops its input', async () => {
    process.env.STANDIN_FAIL_AFTER = String(100_000);
    const archive = archiveBytes(4 << 20);
    let produced = 0;
    const input = Readable.from(
      (function* () {
        for (let at = 0; at < archive.length; at += 64 * 1024) {
          produced = at;
          yield archive.subarray(at, at + 64 * 1024);
        }
      })(),
    );

    const error = await rejectionOf(
      engine.restore(src, input, { drop: false, dumpFormat: 'mongodump-archive' }),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(/mongorestore exited with code 1: Failed: shop\.orders/);
    expect(input.destroyed).toBe(true);
    expect(produced).toBeLessThan(archive.length / 2);
  });

  it('fails the restore with what to fix when the input is not an archive', async () => {
    const error = await rejectionOf(
      engine.restore(src, Readable.from([Buffer.from('PGDMP not an archive')]), {
        drop: false,
        dumpFormat: 'mongodump-archive',
      }),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toMatch(
      /does not appear to be a mongodump archive; the input is not a complete mongodump archive/,
    );
  });

  it('explains an authentication failure without revealing the password', async () => {
    process.env.STANDIN_MONGOSH_FAIL = `MongoServerError: Authentication failed. (uri had ${encodeURIComponent(PASSWORD)})`;

    const error = await rejectionOf(engine.inspect(src));

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toContain(
      'check the user name, the password (passwordEnv / passwordSecret) and authSource',
    );
    expect(redact(error.message)).toBe(error.message);
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message).not.toContain(encodeURIComponent(PASSWORD));
  });

  it('says which tool to install when the MongoDB tools are missing', async () => {
    process.env.PATH = path.join(dir, 'empty');

    const error = await rejectionOf(
      collect(engine.dump({ url: 'mongodb://127.0.0.1/shop' }, { format: 'custom' }).output),
    );

    expect(error).toBeInstanceOf(ToolError);
    expect(error.message).toBe('mongosh is not installed or not on PATH; install it and try again');
  });

  it('refuses URLs that would make the tools prompt or leak: password inside, user without password, no database', async () => {
    await expect(engine.stats({ url: 'mongodb://app:pw@db/shop' })).rejects.toThrow(/contains a password/);
    await expect(engine.stats({ url: 'mongodb://app@db/shop' })).rejects.toThrow(/needs a password/);
    await expect(engine.stats({ url: 'mongodb://db:27017' })).rejects.toThrow(/add the database name/);
    expect(await invocations()).toEqual([]);
    await expect(
      engine.stats({ url: 'mongodb://cn@db/shop?authMechanism=MONGODB-X509' }),
    ).resolves.toBeDefined();
  });

  it('checks that a scratch database does not exist yet, and drops only scratch databases it created', async () => {
    const scratch = await engine.createScratch(src, 'Drill-2024 run');
    expect(scratch.url).toBe(
      'mongodb://backup@127.0.0.1:27017/drill_2024_run?replicaSet=rs0&authSource=shop',
    );
    expect(scratch.password).toBe(PASSWORD);

    await engine.dropScratch(scratch);
    const refused = await rejectionOf(engine.dropScratch(src));
    expect(refused).toBeInstanceOf(UserError);
    expect((await invocations()).map((c) => c.marker)).toEqual(['exists', 'drop']);

    process.env.STANDIN_MONGOSH_REPLIES = JSON.stringify({ exists: { exists: true } });
    const taken = await rejectionOf(engine.createScratch(src, 'Drill-2024 run'));
    expect(taken.message).toMatch(/database drill_2024_run already exists on 127\.0\.0\.1:27017/);
  });
});
