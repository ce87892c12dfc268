/**
 * `aws.alerts.successDigest` in the synthesized stack (issue 14 §2): the restore fixture asks for
 * the digest at 07:30 Berlin time, the README fixture does not. Its permissions are evaluated in
 * policies.test.ts; the schedule → function hop in wiring.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { arnOf, type CfnTemplate, resolvedProperties, resourcesOfType } from './support/resolve.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let restore: SynthesizedStack;
let readme: SynthesizedStack;

beforeAll(async () => {
  restore = (await synthesized('restore')).stacks['Restore']!;
  readme = (await synthesized('readme')).stacks['DumpVault']!;
}, SYNTH_TIMEOUT_MS);

const schedulesOf = (template: CfnTemplate) =>
  resourcesOfType(template, 'AWS::Scheduler::Schedule').map((id) => resolvedProperties(template, id));

describe('the success digest', () => {
  it('schedules the digest function daily at the configured time in its time zone, with the scheduled time as input (successDigest deployed nothing before)', () => {
    const fn = arnOf(restore.template, logicalIdIn(restore, 'DumpVault/SuccessDigest/Resource'));
    const digest = schedulesOf(restore.template).filter(
      (s) => (s['Target'] as Record<string, unknown>)['Arn'] === fn,
    );
    expect(digest).toHaveLength(1);
    expect(digest[0]).toMatchObject({
      ScheduleExpression: 'cron(30 7 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      State: 'ENABLED',
      Target: {
        Input: JSON.stringify({ scheduledTime: '<aws.scheduler.scheduled-time>' }),
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 },
        DeadLetterConfig: {
          Arn: arnOf(restore.template, logicalIdIn(restore, 'DumpVault/DeadLetterQueue/Resource')),
        },
      },
    });
  });

  it('gives the function the history table and the alerts topic, and alarms on its errors', () => {
    const fn = resolvedProperties(restore.template, logicalIdIn(restore, 'DumpVault/SuccessDigest/Resource'));
    const env = (fn['Environment'] as { Variables: Record<string, string> }).Variables;
    expect(env['DUMPVAULT_HISTORY_TABLE']).toBeDefined();
    expect(env['DUMPVAULT_TOPIC_ARN']).toBe(
      arnOf(restore.template, logicalIdIn(restore, 'DumpVault/Alerts/Resource')),
    );
    const alarm = resolvedProperties(
      restore.template,
      logicalIdIn(restore, 'DumpVault/SuccessDigestErrors/Resource'),
    );
    expect(alarm['AlarmActions']).toEqual([
      arnOf(restore.template, logicalIdIn(restore, 'DumpVault/Alerts/Resource')),
    ]);
  });

  it('deploys no digest function or schedule when successDigest is not set', () => {
    expect(Object.keys(readme.logicalIds).filter((p) => p.includes('SuccessDigest'))).toEqual([]);
  });
});
