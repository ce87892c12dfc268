/**
 * The backup task's meta-backup grants (issue 16 §1), restore fixture (`metaBackup` with a
 * passphrase secret; app writes to the managed bucket under prefix `dumpvault/`, shop only to a
 * foreign store), answered by `@cloud-copilot/iam-simulate` on the synthesized template.
 * Bug caught: the task wrote `{prefix}_dumpvault/config-….json.gpg` but its role could neither
 * put there nor read the meta passphrase, so every deployed run alerted a meta-backup failure.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { META_PASSPHRASE_ARN } from './support/fixtures.ts';
import { expectGrantedByItsStatements, type PolicyRequest, TemplatePolicies } from './support/policies.ts';
import { arnOf, resourcesOfType } from './support/resolve.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let stack: SynthesizedStack;
let policies: TemplatePolicies;

beforeAll(async () => {
  stack = (await synthesized('restore')).stacks['Restore']!;
  policies = new TemplatePolicies(stack.template);
}, SYNTH_TIMEOUT_MS);

const taskRole = (job: string) => ({
  role: logicalIdIn(stack, `DumpVault/BackupTasks/Role-${job}/Resource`),
});
const bucketArn = () => arnOf(stack.template, logicalIdIn(stack, 'DumpVault/Bucket/Resource'));
const keyArn = () => arnOf(stack.template, logicalIdIn(stack, 'DumpVault/Key/Resource'));
const META_KEY = 'dumpvault/_dumpvault/config-2026-12-02T150724Z.json.gpg';
const metaObject = () => `${bucketArn()}/${META_KEY}`;

describe('the backup task and the meta-backup', () => {
  it('lets the task of a job writing to the managed bucket put the meta-backup, encrypted with the bucket key', async () => {
    // Bug caught: PutObject on {prefix}_dumpvault/ missing (AccessDenied on every run's meta-backup).
    await expectGrantedByItsStatements(policies, {
      principal: taskRole('app'),
      action: 's3:PutObject',
      resource: metaObject(),
    });
    // SSE-KMS: S3 asks for a data key of the bucket key on the task's behalf.
    await expectGrantedByItsStatements(policies, {
      principal: taskRole('app'),
      action: 'kms:GenerateDataKey',
      resource: keyArn(),
    });
  });

  it('lets every backup task read the meta passphrase (shop encrypts its meta-backup for its foreign store too)', async () => {
    // Bug caught: GetSecretValue on metaBackup.passphraseSecret missing ("meta passphrase unreadable").
    for (const job of ['app', 'shop', 'notes', 'legacy']) {
      await expectGrantedByItsStatements(policies, {
        principal: taskRole(job),
        action: 'secretsmanager:GetSecretValue',
        resource: META_PASSPHRASE_ARN,
      });
    }
  });

  it('never lets the task delete a meta-backup, nor put anything else in _dumpvault/ or another folder', async () => {
    // Bug caught: a grant on {prefix}* or with s3:* (the identity that writes never deletes).
    const ask = (action: string, resource: string): PolicyRequest => ({
      principal: taskRole('app'),
      action,
      resource,
    });
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:GetObject']) {
      expect(await policies.decide(ask(action, metaObject())), action).toBe('ImplicitlyDenied');
    }
    expect(await policies.decide(ask('s3:PutObject', `${bucketArn()}/dumpvault/_dumpvault/notes.txt`))).toBe(
      'ImplicitlyDenied',
    );
    expect(
      await policies.decide(ask('s3:PutObject', `${bucketArn()}/_dumpvault/${META_KEY.split('/').at(-1)}`)),
    ).toBe('ImplicitlyDenied');
    // shop writes only to a foreign store: nothing in the managed bucket, meta-backup included.
    expect(
      await policies.decide({ principal: taskRole('shop'), action: 's3:PutObject', resource: metaObject() }),
    ).toBe('ImplicitlyDenied');
  });

  it("lets the task keep the meta-backup's alert streak (JOB#<job>:meta-backup), and only its own job's", async () => {
    // Bug caught: the streak lives in its own partition, which the task's LeadingKeys condition
    // left out: reading it was AccessDenied, so a deployed backup could not alert its meta-backup.
    const table = arnOf(stack.template, logicalIdIn(stack, 'DumpVault/History/Resource'));
    const ask = (action: string, partition: string): PolicyRequest => ({
      principal: taskRole('app'),
      action,
      resource: table,
      context: { 'dynamodb:LeadingKeys': [partition] },
    });
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem']) {
      await expectGrantedByItsStatements(policies, ask(action, 'JOB#app:meta-backup'));
      expect(await policies.decide(ask(action, 'JOB#shop:meta-backup')), action).toBe('ImplicitlyDenied');
    }
  });

  it('lets no other role of the deployment read the meta passphrase', async () => {
    // Bug caught: the meta secret granted with the jobs' secrets (prune Lambdas, the restore task,
    // Guard): the key to dumpvault's own config must stay with the identity that writes it.
    const backupTaskRoles = new Set(['app', 'shop', 'notes', 'legacy'].map((job) => taskRole(job).role));
    const others = resourcesOfType(stack.template, 'AWS::IAM::Role').filter((id) => !backupTaskRoles.has(id));
    expect(others.length).toBeGreaterThan(10);
    for (const role of others) {
      expect(
        await policies.decide({
          principal: { role },
          action: 'secretsmanager:GetSecretValue',
          resource: META_PASSPHRASE_ARN,
        }),
        role,
      ).toBe('ImplicitlyDenied');
    }
  });
});
