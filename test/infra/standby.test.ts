/**
 * Standby on AWS (issue 16 §2), restore fixture (app: postgres standby, default threshold, in the
 * stack's bucket and a foreign store; shop: mysql standby, lagAlarmHours 30, foreign store only;
 * notes and legacy: none): one StandbyLagSeconds alarm per job with a standby, wired to the
 * alerts topic; the bucket's events to EventBridge and a rule that starts the restore state
 * machine with target standby when one of app's manifests lands (pattern evaluated with
 * EventBridge's matching rules, role with iam-simulate).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseRestoreRequest, restoreKind } from '../../functions/logic/restore-contract.ts';
import { matchesEventPattern } from './support/event-pattern.ts';
import { STANDBY_PASSWORD_ARN } from './support/fixtures.ts';
import { expectGrantedByItsStatements, TemplatePolicies } from './support/policies.ts';
import { arnOf, resolvedProperties, resolveIntrinsics } from './support/resolve.ts';
import { logicalIdIn, SYNTH_TIMEOUT_MS, type SynthesizedStack, synthesized } from './support/synthesized.ts';

let stack: SynthesizedStack;
let template: Template;

beforeAll(async () => {
  stack = (await synthesized('restore')).stacks['Restore']!;
  template = Template.fromJSON(stack.template as never);
}, SYNTH_TIMEOUT_MS);

const alerts = () => ({ Ref: logicalIdIn(stack, 'DumpVault/Alerts/Resource') });

describe('the standby lag alarm', () => {
  it('alarms per job with a standby when the backup it holds is older than its threshold', () => {
    // Bug caught: no alarm on StandbyLagSeconds (a standby that stopped following would go unseen),
    // or one watching another metric name than the watchdog publishes.
    // app: daily at 03:00 Europe/Berlin, longest gap 25 h (DST) → 2 × 25 h.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StandbyLagSeconds',
      Namespace: 'DumpVault',
      Dimensions: Match.arrayWith([{ Name: 'Job', Value: 'app' }]),
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 50 * 3600,
      TreatMissingData: 'notBreaching',
      AlarmActions: [alerts()],
      OKActions: [alerts()],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'StandbyLagSeconds',
      Dimensions: Match.arrayWith([{ Name: 'Job', Value: 'shop' }]),
      Threshold: 30 * 3600,
    });
    const jobs = Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => a['Properties']['MetricName'] === 'StandbyLagSeconds')
      .map(
        (a) =>
          (a['Properties']['Dimensions'] as Array<{ Name: string; Value: string }>).find(
            (d) => d.Name === 'Job',
          )?.Value,
      )
      .sort();
    expect(jobs).toEqual(['app', 'shop']);
  });
});

/** The restore fixture's standby rule of job app (shop writes only to a foreign store: none). */
function standbyRule(): Record<string, unknown> {
  return resolvedProperties(stack.template, logicalIdIn(stack, 'DumpVault/Restore/Standby-app/Resource'));
}
const bucketName = () =>
  String(resolveIntrinsics(stack.template, { Ref: logicalIdIn(stack, 'DumpVault/Bucket/Resource') }));
const s3Event = (key: string, overrides: Record<string, unknown> = {}) => ({
  version: '0',
  source: 'aws.s3',
  'detail-type': 'Object Created',
  detail: { bucket: { name: bucketName() }, object: { key, size: 1234 }, reason: 'PutObject' },
  ...overrides,
});
const MANIFEST = 'dumpvault/app/2026-12-02T030000Z-0a1b2c3d.manifest.json';

describe('the standby rule (a manifest lands -> the restore state machine, target standby)', () => {
  it('sends the bucket\'s "Object Created" events to EventBridge, without a custom resource', () => {
    // Bug caught: no bucket notifications to EventBridge, so no rule ever fires.
    template.hasResourceProperties('AWS::S3::Bucket', {
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    });
    expect(Object.keys(template.findResources('Custom::S3BucketNotifications'))).toEqual([]);
  });

  it('has one rule per job with a standby in the stack bucket', () => {
    // Bug caught: a rule for shop (its manifests never reach this bucket) or none for app.
    const rules = Object.keys(stack.logicalIds).filter((p) =>
      /^DumpVault\/Restore\/Standby-[^/]+\/Resource$/.test(p),
    );
    expect(rules).toEqual(['DumpVault/Restore/Standby-app/Resource']);
  });

  it("matches app's new manifests only: not the meta-backup, data objects, other jobs or other events", () => {
    // Bug caught: a prefix/suffix pair ORed (EventBridge ORs alternatives), which would start a
    // standby run for every data object and for the meta-backup in {prefix}_dumpvault/.
    const pattern = standbyRule()['EventPattern'] as Parameters<typeof matchesEventPattern>[0];
    const matches = (event: unknown) => matchesEventPattern(pattern, event);
    expect(matches(s3Event(MANIFEST))).toBe(true);
    expect(matches(s3Event('dumpvault/_dumpvault/config-2026-12-02T030500Z.json.gpg'))).toBe(false);
    expect(matches(s3Event('dumpvault/app/2026-12-02T030000Z-0a1b2c3d.pgdump.gpg'))).toBe(false);
    expect(matches(s3Event('dumpvault/app-eu/2026-12-02T030000Z-0a1b2c3d.manifest.json'))).toBe(false);
    expect(matches(s3Event('dumpvault/legacy/2026-12-02T030000Z-0a1b2c3d.manifest.json'))).toBe(false);
    expect(matches(s3Event('app/2026-12-02T030000Z-0a1b2c3d.manifest.json'))).toBe(false);
    expect(matches(s3Event(MANIFEST, { 'detail-type': 'Object Deleted' }))).toBe(false);
    expect(
      matches({
        ...s3Event(MANIFEST),
        detail: { bucket: { name: 'other-bucket' }, object: { key: MANIFEST } },
      }),
    ).toBe(false);
    // A rekey rewriting an older backup's manifest is an "Object Created" of a manifest key: it
    // matches by design, and Resolve ends that execution SKIPPED (restore-standby.ts, tested in
    // test/integration/task/standby-state-machine.test.ts).
  });

  it('starts the restore state machine with the input its contract expects', () => {
    // Bug caught: an input Resolve refuses (wrong field names, key not substituted), so every
    // standby execution failed at Resolve.
    const [target] = standbyRule()['Targets'] as Array<Record<string, unknown>>;
    expect(target!['Arn']).toBe(
      arnOf(stack.template, logicalIdIn(stack, 'DumpVault/Restore/StateMachine/Resource')),
    );
    expect(target!['DeadLetterConfig']).toBeDefined();
    const transformer = target!['InputTransformer'] as {
      InputPathsMap: Record<string, string>;
      InputTemplate: string;
    };
    const event = s3Event(MANIFEST);
    const input = transformer.InputTemplate.replace(/<([^>]+)>/g, (_, name: string) => {
      const path = transformer.InputPathsMap[name]!.replace(/^\$\./, '').split('.');
      return JSON.stringify(path.reduce<unknown>((v, k) => (v as Record<string, unknown>)[k], event));
    });
    const request = parseRestoreRequest(JSON.parse(input));
    expect(request).toMatchObject({
      job: 'app',
      target: 'standby',
      key: MANIFEST,
      trigger: 'schedule',
      drop: false,
    });
    expect(restoreKind(request.target)).toBe('standby');
  });

  it("lets the rule's role start executions of the restore state machine and nothing else", async () => {
    // Bug caught: a role with states:* or on every state machine, or one that may not start it.
    const [target] = standbyRule()['Targets'] as Array<Record<string, unknown>>;
    const roleId = Object.keys(stack.template.Resources).find(
      (id) => arnOf(stack.template, id) === target!['RoleArn'],
    )!;
    const policies = new TemplatePolicies(stack.template);
    const machine = arnOf(stack.template, logicalIdIn(stack, 'DumpVault/Restore/StateMachine/Resource'));
    await expectGrantedByItsStatements(policies, {
      principal: { role: roleId },
      action: 'states:StartExecution',
      resource: machine,
    });
    const denied = [
      ['states:StartExecution', `${machine}-other`],
      ['states:StopExecution', machine.replace(':stateMachine:', ':execution:').concat(':x')],
      ['ecs:RunTask', '*'],
      [
        'lambda:InvokeFunction',
        arnOf(stack.template, logicalIdIn(stack, 'DumpVault/RestoreResolve/Resource')),
      ],
      ['s3:GetObject', `arn:aws:s3:::${bucketName()}/${MANIFEST}`],
    ] as const;
    for (const [action, resource] of denied) {
      expect(await policies.decide({ principal: { role: roleId }, action, resource }), action).toBe(
        'ImplicitlyDenied',
      );
    }
  });

  it("lets the restore task read the standby's password secret, and the backup task not", async () => {
    // Bug caught: the standby run failed on GetSecretValue (AccessDenied) before restoring.
    const policies = new TemplatePolicies(stack.template);
    const read = (path: string) => ({
      principal: { role: logicalIdIn(stack, path) },
      action: 'secretsmanager:GetSecretValue',
      resource: STANDBY_PASSWORD_ARN,
    });
    await expectGrantedByItsStatements(policies, read('DumpVault/Restore/TaskRole/Resource'));
    expect(await policies.decide(read('DumpVault/BackupTasks/Role-app/Resource'))).toBe('ImplicitlyDenied');
  });
});
