/**
 * Who may do what, answered the way AWS evaluates it (issue 12 §1): the synthesized policies
 * of the README example and of the restore fixture, resolved to one account and region and
 * evaluated by `@cloud-copilot/iam-simulate` (identity policy + resource policy + key policy).
 * Every allowed request has a denied counterpart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { TemplatePolicies } from './support/policies.ts';
import { ACCOUNT, arnOf, REGION } from './support/resolve.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let readme: SynthesizedStack;
let readmePolicies: TemplatePolicies;

beforeAll(async () => {
  readme = (await synthesized('readme')).stacks['DumpVault']!;
  readmePolicies = new TemplatePolicies(readme.template);
}, SYNTH_TIMEOUT_MS);

const CLOUDWATCH = { service: 'cloudwatch.amazonaws.com' };
const alarmOf = (account: string, name = 'dumpvault-freshness') =>
  `arn:aws:cloudwatch:${REGION}:${account}:alarm:${name}`;
const OTHER_ACCOUNT = '210987654321';

describe('the alerts topic and its key', () => {
  const topic = () => arnOf(readme.template, logicalIdIn(readme, 'DumpVault/Alerts/Resource'));
  const key = () => arnOf(readme.template, logicalIdIn(readme, 'DumpVault/Key/Resource'));
  const fromAlarm = (account: string) => ({
    'aws:SourceArn': alarmOf(account),
    'aws:SourceAccount': account,
  });

  it("lets this account's CloudWatch alarms publish to the topic (it refused them before)", async () => {
    expect(
      await readmePolicies.decide({
        principal: CLOUDWATCH,
        action: 'sns:Publish',
        resource: topic(),
        context: fromAlarm(ACCOUNT),
      }),
    ).toBe('Allowed');
  });

  it("refuses another account's alarms and other services on the topic", async () => {
    expect(
      await readmePolicies.decide({
        principal: CLOUDWATCH,
        action: 'sns:Publish',
        resource: topic(),
        context: fromAlarm(OTHER_ACCOUNT),
      }),
    ).not.toBe('Allowed');
    expect(
      await readmePolicies.decide({
        principal: { service: 'events.amazonaws.com' },
        action: 'sns:Publish',
        resource: topic(),
        context: fromAlarm(ACCOUNT),
      }),
    ).not.toBe('Allowed');
  });

  it("lets this account's alarms use the topic key to encrypt and decrypt their notifications", async () => {
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      expect(
        await readmePolicies.decide({
          principal: CLOUDWATCH,
          action,
          resource: key(),
          context: fromAlarm(ACCOUNT),
        }),
      ).toBe('Allowed');
    }
  });

  it("refuses the key to another account's alarms and anything but encrypt/decrypt to CloudWatch", async () => {
    expect(
      await readmePolicies.decide({
        principal: CLOUDWATCH,
        action: 'kms:GenerateDataKey',
        resource: key(),
        context: fromAlarm(OTHER_ACCOUNT),
      }),
    ).not.toBe('Allowed');
    expect(
      await readmePolicies.decide({
        principal: CLOUDWATCH,
        action: 'kms:ScheduleKeyDeletion',
        resource: key(),
        context: fromAlarm(ACCOUNT),
      }),
    ).not.toBe('Allowed');
  });
});

describe('the schedules', () => {
  it('may invoke start-backup and no other function', async () => {
    const role = logicalIdIn(readme, 'DumpVault/SchedulerRole/Resource');
    const startBackup = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/StartBackup/Resource'));
    const taskStopped = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/TaskStopped/Resource'));

    expect(
      await readmePolicies.decide({
        principal: { role },
        action: 'lambda:InvokeFunction',
        resource: startBackup,
      }),
    ).toBe('Allowed');
    expect(
      await readmePolicies.decide({
        principal: { role },
        action: 'lambda:InvokeFunction',
        resource: taskStopped,
      }),
    ).toBe('ImplicitlyDenied');
  });
});
