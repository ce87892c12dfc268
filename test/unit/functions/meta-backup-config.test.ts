/**
 * What a deployed backup task is given for its meta-backup (issue 16 §1): the single-job config
 * start-backup passes (DUMPVAULT_JOB_JSON) and the public keys the stack puts in its
 * environment. Bugs caught: singleJobConfig dropped `metaBackup`, so a deployed task never wrote
 * a meta-backup at all; readPublicKeys read only the encryption entries' recipients, so a
 * `metaBackup.recipients` key file was missing in the task and every meta-backup failed.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../core/config/load.ts';
import { singleJobConfig } from '../../../functions/logic/task-contract.ts';
import { readPublicKeys } from '../../../infra/task-image.ts';

const PUBLIC = '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZstandin\n-----END PGP PUBLIC KEY BLOCK-----\n';
const META_ARN = 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:dumpvault-meta-AbCdEf';

const config = (metaBackup: Record<string, unknown>) =>
  validateConfig({
    prefix: 'dv/',
    destinations: { primary: { type: 's3', bucket: 'managed' } },
    jobs: [
      {
        name: 'app',
        engine: 'postgres',
        source: { url: 'postgres://app@db:5432/app' },
        schedule: { rate: '1 day' },
        destinations: ['primary'],
      },
    ],
    metaBackup,
  });

describe('the meta-backup of a deployed backup task', () => {
  it('hands the task the config with its metaBackup section', () => {
    const full = config({ passphraseSecret: META_ARN, secrets: true });

    const single = singleJobConfig(full, full.jobs[0]!);

    expect(single.metaBackup).toEqual({ passphraseSecret: META_ARN, secrets: true });
    expect(validateConfig(JSON.parse(JSON.stringify(single))).metaBackup).toEqual(single.metaBackup);
  });

  it("puts the metaBackup recipients' public keys in the task environment, and refuses a private one", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dumpvault-meta-keys-'));
    writeFileSync(path.join(dir, 'meta.pub.asc'), PUBLIC);
    writeFileSync(path.join(dir, 'meta.sec.asc'), '-----BEGIN PGP PRIVATE KEY BLOCK-----\n');

    expect(readPublicKeys(config({ recipients: ['meta.pub.asc'] }), dir)).toEqual({ 'meta.pub.asc': PUBLIC });
    expect(() => readPublicKeys(config({ recipients: ['meta.sec.asc'] }), dir)).toThrow(
      /metaBackup\.recipients\[0\]: meta\.sec\.asc holds a private key/,
    );
    expect(() => readPublicKeys(config({ recipients: ['missing.asc'] }), dir)).toThrow(
      /metaBackup\.recipients\[0\]: cannot read/,
    );
  });
});
