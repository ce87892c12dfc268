import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stripJsonComments } from '../../../core/config/jsonc.ts';
import { loadConfig, validateConfig } from '../../../core/config/load.ts';
import { ConfigError } from '../../../core/errors.ts';

const valid = () => ({
  destinations: { local: { type: 'file', path: './b' } },
  encryption: { ops: { type: 'openpgp', recipients: ['k.asc'] } },
  jobs: [
    {
      name: 'app',
      engine: 'postgres',
      source: { url: 'postgres://app@db:5432/app' },
      destinations: ['local'],
      encryption: 'ops',
    },
  ],
});

function errorOf(input: unknown): string {
  try {
    validateConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the config to be refused');
}

describe('validateConfig', () => {
  it('accepts the documented shape and fills defaults', () => {
    const config = validateConfig(valid());
    expect(config.jobs[0]!.compression).toBe('zstd');
    expect(config.jobs[0]!.dumpFormat).toBe('custom');
    // No retention given: none is filled in, so validate can say the default applies.
    expect(config.jobs[0]!.retention).toBeUndefined();
    expect(config.prefix).toBe('');
  });

  it('names the JSON path and the expected value for every error at once', () => {
    const input = valid();
    Object.assign(input.jobs[0]!, { retention: { daily: -1, weekly: 1.5 }, compression: 'lz4' });
    const message = errorOf(input);
    expect(message).toContain('jobs[0].retention.daily: expected a whole number ≥ 0, got -1');
    expect(message).toContain('jobs[0].retention.weekly: expected a whole number ≥ 0, got 1.5');
    expect(message).toContain('jobs[0].compression: expected one of gzip, zstd, none, got "lz4"');
  });

  it('refuses unknown fields by name (a typo must not silently disable a setting)', () => {
    const input = valid();
    Object.assign(input.jobs[0]!, { retenton: { daily: 7 } });
    expect(errorOf(input)).toMatch(/jobs\[0\]: unknown field "retenton"/);
  });

  it('refuses references to destinations and encryptions that do not exist', () => {
    const input = valid();
    input.jobs[0]!.destinations = ['offsite'];
    input.jobs[0]!.encryption = 'vault';
    const message = errorOf(input);
    expect(message).toContain('jobs[0].destinations[0]: no destination named "offsite" (defined: local)');
    expect(message).toContain('jobs[0].encryption: no encryption named "vault" (defined: ops)');
  });

  it('refuses duplicate job names and names that cannot be used in keys', () => {
    const input = valid();
    input.jobs.push({ ...input.jobs[0]! });
    expect(errorOf(input)).toContain('jobs[1].name: "app" is used by another job');
    input.jobs.push({ ...input.jobs[0]!, name: 'Bad_Name' });
    expect(errorOf(input)).toMatch(/jobs\[2\]\.name: expected a job name of lowercase letters/);
  });

  it('refuses a password inside a source URL without echoing it', () => {
    const input = valid();
    input.jobs[0]!.source.url = 'postgres://app:hunter2hunter2@db/app';
    const message = errorOf(input);
    expect(message).toMatch(/jobs\[0\]\.source\.url: contains a password/);
    expect(message).not.toContain('hunter2hunter2');
  });

  it('requires a schedule to have exactly one of cron and rate', () => {
    const input = valid();
    Object.assign(input.jobs[0]!, { schedule: { cron: '0 3 * * ? *', rate: '1 day' } });
    expect(errorOf(input)).toMatch(/jobs\[0\]\.schedule: expected exactly one of "cron" or "rate"/);
  });
});

describe('loadConfig', () => {
  it('reads commented JSON (what "dumpvault init" writes)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dv-cfg-'));
    const file = path.join(dir, 'dumpvault.config.json');
    await writeFile(
      file,
      `// header\n${JSON.stringify(valid(), null, 2).replace('"local": {', '"local": { /* inline */')}`,
    );
    const loaded = loadConfig(file);
    expect(loaded.config.jobs[0]!.name).toBe('app');
    expect(loaded.stateDir).toBe(path.join(dir, '.dumpvault'));
  });

  it('says how to create a config when the file is missing', () => {
    expect(() => loadConfig('/nonexistent/dumpvault.config.json')).toThrow(
      /does not exist: run "dumpvault init"/,
    );
  });

  it('reports invalid JSON with the file name', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'dv-cfg-'));
    const file = path.join(dir, 'c.json');
    await writeFile(file, '{ "jobs": [ }');
    expect(() => loadConfig(file)).toThrow(/c\.json is not valid JSON/);
  });
});

describe('stripJsonComments', () => {
  it('keeps comment-like text inside strings', () => {
    expect(
      JSON.parse(stripJsonComments('{"url": "http://x//y", /* c */ "a": "/* no */", // end\n "b": 1,}')),
    ).toEqual({
      url: 'http://x//y',
      a: '/* no */',
      b: 1,
    });
  });
});
