/**
 * The engine registry and the small pieces every engine shares: scratch names, failure hints
 * and the deferred dump output.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { EngineName } from '../../../core/config/schema.ts';
import { ConfigError, ToolError, UserError } from '../../../core/errors.ts';
import { deferred, deferredOutput } from '../../../task-image/engines/deferred-output.ts';
import { explainFailure } from '../../../task-image/engines/failure-hints.ts';
import { engineFor } from '../../../task-image/engines/index.ts';
import { scratchIdentifier } from '../../../task-image/engines/scratch.ts';
import { parseTableCounts } from '../../../task-image/engines/table-counts.ts';
import { collect, rejectionOf } from './support.ts';

describe('engineFor', () => {
  it('returns the engine named in the config', () => {
    for (const name of ['postgres', 'mysql', 'sqlite', 'mongodb'] as const)
      expect(engineFor(name).name).toBe(name);
  });

  it('fails with a ConfigError for an unknown engine', () => {
    expect(() => engineFor('oracle' as EngineName)).toThrow(ConfigError);
  });
});

describe('scratchIdentifier', () => {
  it('turns job names and run ids into lowercase identifiers starting with a letter', () => {
    expect(scratchIdentifier('prod-daily_drill_20240101T0300Z-ab12', 63)).toBe(
      'prod_daily_drill_20240101t0300z_ab12',
    );
    expect(scratchIdentifier('2024 Nightly!', 63)).toBe('db_2024_nightly');
    expect(scratchIdentifier('Zoë/日本', 63)).toBe('zo');
  });

  it('keeps long names distinct by ending them in a hash of the full name', () => {
    const a = scratchIdentifier(`${'x'.repeat(70)}-a`, 63);
    const b = scratchIdentifier(`${'x'.repeat(70)}-b`, 63);

    expect(a).toHaveLength(63);
    expect(b).toHaveLength(63);
    expect(a).not.toBe(b);
  });

  it('refuses a name with nothing usable in it', () => {
    expect(() => scratchIdentifier('---', 63)).toThrow(UserError);
  });
});

describe('explainFailure', () => {
  const hints = [{ when: /does not exist/, fix: 'create it' }];

  it('appends the fix once to a matching ToolError and keeps the original as cause', () => {
    const original = new ToolError('pg_dump exited with code 1: database "x" does not exist');
    const explained = explainFailure(original, hints);

    expect(explained).toBeInstanceOf(ToolError);
    expect(explained.message).toBe('pg_dump exited with code 1: database "x" does not exist; create it');
    expect(explained.cause).toBe(original);
    expect(explainFailure(explained, hints)).toBe(explained);
  });

  it('leaves errors alone that do not match or already say what to fix', () => {
    const other = new ToolError('pg_dump exited with code 1: out of memory');
    const user = new UserError('database x does not exist: fix the URL');

    expect(explainFailure(other, hints)).toBe(other);
    expect(explainFailure(user, hints)).toBe(user);
  });
});

describe('parseTableCounts', () => {
  it('reads the last JSON object line and rejects counts that are not whole numbers', () => {
    expect(parseTableCounts('NOTICE: something\n{"a.b": 3, "c": "4"}\n', 'psql')).toEqual({ 'a.b': 3, c: 4 });
    expect(() => parseTableCounts('{"a": -1}', 'psql')).toThrow(/expected a whole number/);
    expect(() => parseTableCounts('no json here', 'psql')).toThrow(ToolError);
  });
});

describe('deferredOutput', () => {
  it('relays the opened stream and runs beforeEnd and onSettled before it ends', async () => {
    const steps: string[] = [];
    const output = deferredOutput(async () => Readable.from([Buffer.from('a'), Buffer.from('b')]), {
      beforeEnd: async () => {
        steps.push('beforeEnd');
      },
      onSettled: (error) => {
        steps.push(`settled:${error?.message ?? 'ok'}`);
      },
    });

    expect((await collect(output)).toString()).toBe('ab');
    expect(steps).toEqual(['beforeEnd', 'settled:ok']);
  });

  it('fails the output with the mapped error when opening fails, and still settles', async () => {
    const settled = deferred<Error | undefined>();
    const output = deferredOutput(
      async () => {
        throw new ToolError('psql exited with code 2: database "x" does not exist');
      },
      {
        mapError: (err) => explainFailure(err, [{ when: /does not exist/, fix: 'create it' }]),
        onSettled: (error) => settled.resolve(error),
      },
    );

    const error = await rejectionOf(collect(output));
    expect(error.message).toMatch(/; create it$/);
    expect(await settled.promise).toBe(error);
  });

  it('fails the output when beforeEnd rejects, even though the source ended', async () => {
    const output = deferredOutput(async () => Readable.from(['data']), {
      beforeEnd: async () => {
        throw new ToolError('psql exited with code 2: terminating connection');
      },
    });

    await expect(collect(output)).rejects.toThrow('terminating connection');
  });

  it('destroys the opened stream when the consumer gave up before it was opened', async () => {
    const source = new Readable({ read() {} });
    const opened = deferred<Readable>();
    const signals: AbortSignal[] = [];
    const output = deferredOutput((signal) => {
      signals.push(signal);
      return opened.promise;
    });

    output.destroy();
    opened.resolve(source);
    await new Promise((resolve) => setImmediate(resolve));

    expect(signals[0]!.aborted).toBe(true);
    expect(source.destroyed).toBe(true);
  });
});
