/**
 * Who may read the credentials of a job's azure and gcs destinations (restore fixture, job
 * legacy: an Azure copy with its own retention and a GCS copy), answered the way AWS evaluates
 * the synthesized policies (`@cloud-copilot/iam-simulate`): the identities that open the job's
 * destinations — its backup task, its prune function, the restore task, Resolve and Verify — and
 * nobody else. Every allowed request turns into a denial once its statement is removed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { AZURE_ARN, GCS_ARN, OFFSITE_ARN, PRIVATE_KEY_ARN, secretArn } from './support/fixtures.ts';
import { expectGrantedByItsStatements, type PolicyRequest, TemplatePolicies } from './support/policies.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let restore: SynthesizedStack;
let policies: TemplatePolicies;

beforeAll(async () => {
  restore = (await synthesized('restore')).stacks['Restore']!;
  policies = new TemplatePolicies(restore.template);
}, SYNTH_TIMEOUT_MS);

const read = (rolePath: string, resource: string): PolicyRequest => ({
  principal: { role: logicalIdIn(restore, rolePath) },
  action: 'secretsmanager:GetSecretValue',
  resource,
});
const PRUNE_LEGACY = 'DumpVault/Pruning/Prune-legacyRole/Resource';

describe('storage credentials of azure and gcs destinations', () => {
  it("lets a job's prune function read its azure and gcs credentials, and no unrelated secret", async () => {
    // Bug caught: the prune role got GetSecretValue on s3 destinations' credentialsSecret only
    // (infra/pruning.ts), so the prune function could not open the Azure or GCS copy and their
    // retention was never applied.
    await expectGrantedByItsStatements(policies, read(PRUNE_LEGACY, AZURE_ARN));
    await expectGrantedByItsStatements(policies, read(PRUNE_LEGACY, GCS_ARN));
    for (const unrelated of [OFFSITE_ARN, PRIVATE_KEY_ARN, secretArn('app-db'), secretArn('unrelated')]) {
      expect(await policies.decide(read(PRUNE_LEGACY, unrelated)), unrelated).toBe('ImplicitlyDenied');
    }
    // Another job's prune function may not read legacy's store credentials.
    expect(await policies.decide(read('DumpVault/Pruning/Prune-appRole/Resource', AZURE_ARN))).toBe(
      'ImplicitlyDenied',
    );
  });

  it('lets the backup task, the restore task, Resolve and Verify read the azure credentials (restores from azure)', async () => {
    // Bug caught: Resolve and Verify were granted the credentials of a job's first destination
    // only, but open every destination AWS reaches, and failed on the others'.
    for (const path of [
      'DumpVault/BackupTasks/Role-legacy/Resource',
      'DumpVault/Restore/TaskRole/Resource',
      'DumpVault/RestoreResolveRole/Resource',
      'DumpVault/RestoreVerifyRole/Resource',
    ]) {
      await expectGrantedByItsStatements(policies, read(path, AZURE_ARN));
    }
    expect(await policies.decide(read('DumpVault/BackupTasks/Role-app/Resource', AZURE_ARN))).toBe(
      'ImplicitlyDenied',
    );
  });
});
