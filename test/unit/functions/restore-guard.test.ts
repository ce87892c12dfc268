/**
 * The Guard step's rules (functions/logic/restore-guard.ts): confirmation, drop, and the target
 * that already has data — with the target's contents handed in by a recording probe (the
 * probes themselves run against the real servers in target-probe.test.ts) and the password
 * secret by a recording fetcher. Also how the handler's runStep shapes each refusal for the
 * state machine's Retry and Catch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import type { EngineName } from '../../../core/config/schema.ts';
import { RestoreError } from '../../../core/contracts/restore-state-machine.ts';
import { ConfigError } from '../../../core/errors.ts';
import { clearSecrets } from '../../../core/redact.ts';
import {
  GuardRefusedError,
  RestoreInputError,
  type RestoreRun,
  RetryableError,
  runStep,
  TargetUnreachableError,
} from '../../../functions/logic/restore-contract.ts';
import { type GuardDeps, guardRestore, readTargetPassword } from '../../../functions/logic/restore-guard.ts';
import type { ProbeTarget, TargetInventory } from '../../../functions/logic/target-probe.ts';
import { PASSWORD_ARN, recordingLog, SECRET_VALUE } from './support.ts';

const EXECUTION = {
  id: 'arn:aws:states:eu-central-1:123456789012:execution:Restore:e1',
  startTime: '2026-11-22T10:00:00.123Z',
};
const TARGET_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:restore-target-AbCdEf';
const TARGET_URL = 'postgres://restore@db:5432/copy';
const TAG = 'dumpvault-restore-target=Prod';

const CONFIG = validateConfig({
  destinations: { primary: { type: 's3', bucket: 'managed' } },
  jobs: [
    {
      name: 'app',
      engine: 'postgres',
      source: { url: 'postgres://app@db.internal:5432/app', passwordSecret: PASSWORD_ARN },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
    },
    {
      name: 'shop',
      engine: 'mysql',
      source: { url: 'mysql://app@shop.internal:3306/shop' },
      schedule: { rate: '1 day' },
      destinations: ['primary'],
    },
  ],
});

interface World {
  readonly deps: GuardDeps;
  readonly probed: Array<{ engine: EngineName; target: ProbeTarget }>;
  readonly secretsRead: string[];
  readonly log: ReturnType<typeof recordingLog>;
}

/** Deps whose probe finds `inventory` (or throws `probeError`) and whose secrets hold `secret`. */
function world(
  options: { inventory?: TargetInventory; probeError?: Error; secret?: string | Error } = {},
): World {
  const probed: World['probed'] = [];
  const secretsRead: string[] = [];
  const log = recordingLog();
  const deps: GuardDeps = {
    config: CONFIG,
    fetchSecret: async (arn) => {
      secretsRead.push(arn);
      const secret = options.secret ?? SECRET_VALUE;
      if (secret instanceof Error) throw secret;
      return secret;
    },
    probe: async (engine, target) => {
      probed.push({ engine, target });
      if (options.probeError) throw options.probeError;
      return options.inventory ?? { missing: false, objects: {} };
    },
    restoreTargetTag: TAG,
    log,
  };
  return { deps, probed, secretsRead, log };
}

const run = (targetKind: RestoreRun['targetKind'], job = 'app') =>
  ({
    job,
    runId: 'r1',
    targetKind,
    target: targetKind === 'connection' ? TARGET_URL : 'a scratch database',
  }) as RestoreRun;

/** The state Guard receives for a confirmed URL target. */
const confirmed = (extra: Record<string, unknown> = {}) => ({
  state: {
    job: 'app',
    target: { url: TARGET_URL, passwordSecret: TARGET_ARN },
    confirm: 'app',
    run: run('connection'),
    ...extra,
  },
  execution: EXECUTION,
});

const WITH_DATA: TargetInventory = { missing: false, objects: { tables: 3, views: 1, sequences: 2 } };

afterEach(() => clearSecrets());

describe('guardRestore: confirmation', () => {
  it('lets scratch and drill targets through without confirmation, reading no secret and probing nothing', async () => {
    const w = world();

    const scratch = await guardRestore(w.deps, {
      state: { job: 'app', run: run('scratch') },
      execution: EXECUTION,
    });
    const drill = await guardRestore(w.deps, {
      state: { job: 'app', target: 'ephemeral', run: run('ephemeral') },
      execution: EXECUTION,
    });

    expect(scratch).toEqual({
      allowed: true,
      rule: 'scratch target: a new database, nothing existing is touched; no confirmation needed',
    });
    expect(drill.allowed).toBe(true);
    expect(w.probed).toEqual([]);
    expect(w.secretsRead).toEqual([]);
  });

  it('refuses a target URL without confirm, naming the job, before reading its secret or connecting', async () => {
    const w = world();

    await expect(guardRestore(w.deps, confirmed({ confirm: undefined }))).rejects.toThrow(
      new GuardRefusedError(
        'restoring into postgres://restore@db:5432/copy writes to a database outside dumpvault\'s scratch space: set "confirm" to the job name "app"',
      ),
    );
    expect(w.secretsRead).toEqual([]);
    expect(w.probed).toEqual([]);
  });

  it('refuses a confirm that is not the job name, quoting it', async () => {
    await expect(guardRestore(world().deps, confirmed({ confirm: 'yes' }))).rejects.toThrow(
      /set "confirm" to the job name "app" \(got "yes"\)/,
    );
  });

  it('refuses drop for a scratch target', async () => {
    await expect(
      guardRestore(world().deps, {
        state: { job: 'app', drop: true, run: run('scratch') },
        execution: EXECUTION,
      }),
    ).rejects.toThrow(/"drop" only applies to a target URL/);
  });
});

describe('guardRestore: a target that already has data', () => {
  it('refuses a confirmed target with data without drop, counting what is there, in one sentence without the password', async () => {
    const w = world({ inventory: WITH_DATA });

    const refusal = await guardRestore(w.deps, confirmed()).catch((err: unknown) => err);

    expect(refusal).toBeInstanceOf(GuardRefusedError);
    expect((refusal as Error).message).toBe(
      'the target postgres://restore@db:5432/copy already has 3 tables, 1 view and 2 sequences: pass drop: true to replace them',
    );
    expect(w.secretsRead).toEqual([TARGET_ARN]);
    expect(w.probed).toEqual([{ engine: 'postgres', target: { url: TARGET_URL, password: SECRET_VALUE } }]);
    expect(JSON.stringify(w.log.records)).not.toContain(SECRET_VALUE);
  });

  it('says "1 table" for one table', async () => {
    const w = world({ inventory: { missing: false, objects: { tables: 1 } } });

    await expect(guardRestore(w.deps, confirmed())).rejects.toThrow(
      'the target postgres://restore@db:5432/copy already has 1 table: pass drop: true to replace them',
    );
  });

  it('lets a target with data through with drop, saying what is replaced', async () => {
    const w = world({ inventory: WITH_DATA });

    const result = await guardRestore(w.deps, confirmed({ drop: true }));

    expect(result).toEqual({
      allowed: true,
      rule: "confirmed by the job name; drop: postgres://restore@db:5432/copy has 3 tables, 1 view and 2 sequences; the restore drops and recreates the backup's objects",
      target: WITH_DATA,
    });
  });

  it('lets an empty target and a missing database through, saying which', async () => {
    const empty = await guardRestore(world().deps, confirmed());
    const missing = await guardRestore(
      world({ inventory: { missing: true, objects: {} } }).deps,
      confirmed(),
    );

    expect(empty.rule).toBe('confirmed by the job name; postgres://restore@db:5432/copy is empty');
    expect(missing.rule).toBe(
      'confirmed by the job name; postgres://restore@db:5432/copy does not exist yet: the restore creates it',
    );
  });

  it("probes with the job's engine, and without a password when the target names no secret", async () => {
    const w = world();
    const url = 'mysql://restore@shop-copy:3306/shop';

    await guardRestore(w.deps, {
      state: { job: 'shop', target: { url }, confirm: 'shop', run: run('connection', 'shop') },
      execution: EXECUTION,
    });

    expect(w.secretsRead).toEqual([]);
    expect(w.probed).toEqual([{ engine: 'mysql', target: { url } }]);
  });

  it.each([
    [
      'mysql://restore@shop-copy:3306/--database=shop',
      'target.url: the database name "--database=shop" starts with "-", which a database tool could take for an option: use a database name that starts with a letter, digit, "_" or "."',
    ],
    [
      'mysql://restore@shop-copy:3306/shop?password=Gu4rd-Secret',
      'target.url: has the secret parameter "password" in its query string: remove it from the URL and use "passwordEnv" (local) or "passwordSecret" (AWS)',
    ],
  ])('refuses %s before reading a secret or connecting', async (url, message) => {
    const w = world();

    await expect(
      guardRestore(w.deps, {
        state: { job: 'shop', target: { url }, confirm: 'shop', drop: true, run: run('connection', 'shop') },
        execution: EXECUTION,
      }),
    ).rejects.toThrow(new RestoreInputError(message));
    expect(w.secretsRead).toEqual([]);
    expect(w.probed).toEqual([]);
  });

  it('logs what it found without the password', async () => {
    const w = world({ inventory: WITH_DATA });

    await guardRestore(w.deps, confirmed({ drop: true }));

    expect(w.log.records).toEqual([
      {
        level: 'info',
        message: 'restore target probed',
        attributes: {
          job: 'app',
          runId: 'r1',
          target: TARGET_URL,
          missing: false,
          objects: WITH_DATA.objects,
        },
      },
    ]);
  });
});

describe('readTargetPassword', () => {
  // Plain strings, the RDS JSON shape and the missing-field message: test/unit/secrets/resolve.test.ts.
  it('fails with a ConfigError naming the tag when the secret may not be read', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });

    await expect(readTargetPassword(async () => Promise.reject(denied), TARGET_ARN, TAG)).rejects.toThrow(
      new ConfigError(
        `target.passwordSecret: cannot read secret ${TARGET_ARN} (AccessDeniedException): the deployment reads only the jobs' password secrets and secrets tagged ${TAG}`,
      ),
    );
  });
});

describe('what the Guard Lambda throws (runStep)', () => {
  /** What the handler throws for this Guard run (it must throw). */
  const shaped = async (deps: GuardDeps, event = confirmed()): Promise<Error> => {
    try {
      await runStep(() => guardRestore(deps, event));
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected the Guard to throw');
  };

  it('keeps GuardRefusedError: the state machine never retries a refusal', async () => {
    const err = await shaped(world({ inventory: WITH_DATA }).deps);

    expect(err.name).toBe(RestoreError.guardRefused);
  });

  it('keeps TargetUnreachableError with its sentence, the password redacted', async () => {
    const probeError = new TargetUnreachableError(
      `cannot connect to the target ${TARGET_URL}: password authentication failed (tried ${SECRET_VALUE})`,
    );

    const err = await shaped(world({ probeError }).deps);

    expect(err.name).toBe(RestoreError.targetUnreachable);
    expect(err.message).toBe(
      `cannot connect to the target ${TARGET_URL}: password authentication failed (tried ***)`,
    );
  });

  it('keeps the ConfigError of a secret that may not be read (no retry), and retries a throttled read', async () => {
    const denied = Object.assign(new Error('no'), { name: 'AccessDeniedException' });
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });

    const deniedErr = await shaped(world({ secret: denied }).deps);
    const throttledErr = await shaped(world({ secret: throttled }).deps);

    expect(deniedErr.name).toBe('ConfigError');
    expect(throttledErr).toBeInstanceOf(RetryableError);
    expect(throttledErr.message).toBe(
      `target.passwordSecret: cannot read secret ${TARGET_ARN} now (ThrottlingException); Secrets Manager did not answer, run again`,
    );
  });
});
