/**
 * The template walk (issue 12 §1): every alarm action reaches a topic whose policy lets this
 * alarm publish and whose key lets CloudWatch encrypt; every EventBridge rule target and every
 * Scheduler target may invoke what it targets. The questions are answered by a real IAM policy
 * evaluator (support/policies.ts), and the walk fails when it finds nothing to walk.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type Decision, type StatementFilter, TemplatePolicies } from './support/policies.ts';
import { ACCOUNT, arnOf, type CfnTemplate, resolvedProperties, resourcesOfType } from './support/resolve.ts';
import { SYNTH_TIMEOUT_MS, synthesized } from './support/synthesized.ts';

const templates: Record<string, CfnTemplate> = {};

beforeAll(async () => {
  templates['readme'] = (await synthesized('readme')).stacks['DumpVault']!.template;
  templates['restore'] = (await synthesized('restore')).stacks['Restore']!.template;
}, SYNTH_TIMEOUT_MS);

interface Hop {
  readonly from: string;
  readonly question: string;
  readonly decision: Decision;
}

/** Every alarm action → topic policy (sns:Publish) → the topic's key (GenerateDataKey*, Decrypt). */
async function walkAlarms(template: CfnTemplate): Promise<Hop[]> {
  const policies = new TemplatePolicies(template);
  const topics = new Map(
    resourcesOfType(template, 'AWS::SNS::Topic').map((id) => [
      arnOf(template, id),
      resolvedProperties(template, id),
    ]),
  );
  const hops: Hop[] = [];
  // An alarm without actions counts only as part of a composite alarm that has them.
  const composed = resourcesOfType(template, 'AWS::CloudWatch::CompositeAlarm')
    .map((id) => String(resolvedProperties(template, id)['AlarmRule']))
    .join('\n');
  for (const type of ['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm']) {
    for (const id of resourcesOfType(template, type)) {
      const alarm = resolvedProperties(template, id);
      const alarmArn = arnOf(template, id);
      const actions = [
        ...((alarm['AlarmActions'] as string[] | undefined) ?? []),
        ...((alarm['OKActions'] as string[] | undefined) ?? []),
      ];
      if (!actions.length) {
        hops.push({
          from: id,
          question: 'has an alarm action or is part of a composite alarm that has one',
          decision: composed.includes(`"${alarmArn}"`) ? 'Allowed' : 'ImplicitlyDenied',
        });
      }
      const context = { 'aws:SourceArn': alarmArn, 'aws:SourceAccount': ACCOUNT };
      for (const topicArn of new Set(actions)) {
        const topic = topics.get(topicArn);
        if (!topic) {
          hops.push({
            from: id,
            question: `action ${topicArn} is a topic of this stack`,
            decision: 'ImplicitlyDenied',
          });
          continue;
        }
        const principal = { service: 'cloudwatch.amazonaws.com' };
        hops.push({
          from: id,
          question: `sns:Publish ${topicArn}`,
          decision: await policies.decide({ principal, action: 'sns:Publish', resource: topicArn, context }),
        });
        const keyArn = topic['KmsMasterKeyId'] as string | undefined;
        if (!keyArn) continue;
        for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
          hops.push({
            from: id,
            question: `${action} ${keyArn}`,
            decision: await policies.decide({ principal, action, resource: keyArn, context }),
          });
        }
      }
    }
  }
  return hops;
}

/**
 * Every EventBridge rule's target: a Lambda function → a Lambda permission for events.amazonaws.com
 * from that rule; a target with a role (the standby rule starts the restore state machine) → the
 * role may start it and trusts events.amazonaws.com.
 */
async function walkRules(template: CfnTemplate): Promise<Hop[]> {
  const policies = new TemplatePolicies(template);
  const roles = new Map(resourcesOfType(template, 'AWS::IAM::Role').map((id) => [arnOf(template, id), id]));
  const hops: Hop[] = [];
  for (const id of resourcesOfType(template, 'AWS::Events::Rule')) {
    const rule = resolvedProperties(template, id);
    const targets = (rule['Targets'] as Array<{ Arn: string; RoleArn?: string }> | undefined) ?? [];
    if (!targets.length) hops.push({ from: id, question: 'has a target', decision: 'ImplicitlyDenied' });
    for (const target of targets) {
      if (!target.RoleArn) {
        hops.push({
          from: id,
          question: `lambda:InvokeFunction ${target.Arn}`,
          decision: await policies.decide({
            principal: { service: 'events.amazonaws.com' },
            action: 'lambda:InvokeFunction',
            resource: target.Arn,
            context: { 'aws:SourceArn': arnOf(template, id), 'aws:SourceAccount': ACCOUNT },
          }),
        });
        continue;
      }
      const role = roles.get(target.RoleArn);
      if (!role) {
        hops.push({
          from: id,
          question: `role ${target.RoleArn} is in the stack`,
          decision: 'ImplicitlyDenied',
        });
        continue;
      }
      const action = target.Arn.includes(':states:') ? 'states:StartExecution' : 'lambda:InvokeFunction';
      hops.push({
        from: id,
        question: `${action} ${target.Arn}`,
        decision: await policies.decide({ principal: { role }, action, resource: target.Arn }),
      });
      const trust = JSON.stringify(resolvedProperties(template, role)['AssumeRolePolicyDocument']);
      hops.push({
        from: id,
        question: 'its role trusts events.amazonaws.com',
        decision: trust.includes('"events.amazonaws.com"') ? 'Allowed' : 'ImplicitlyDenied',
      });
    }
  }
  return hops;
}

/** Every schedule → its role may start the target and reach the DLQ, and trusts Scheduler. */
async function walkSchedules(template: CfnTemplate): Promise<Hop[]> {
  const policies = new TemplatePolicies(template);
  const roles = new Map(resourcesOfType(template, 'AWS::IAM::Role').map((id) => [arnOf(template, id), id]));
  const hops: Hop[] = [];
  for (const id of resourcesOfType(template, 'AWS::Scheduler::Schedule')) {
    const target = resolvedProperties(template, id)['Target'] as {
      Arn: string;
      RoleArn: string;
      DeadLetterConfig?: { Arn: string };
    };
    const role = roles.get(target.RoleArn);
    if (!role) {
      hops.push({
        from: id,
        question: `role ${target.RoleArn} is in the stack`,
        decision: 'ImplicitlyDenied',
      });
      continue;
    }
    const action = target.Arn.includes(':states:') ? 'states:StartExecution' : 'lambda:InvokeFunction';
    hops.push({
      from: id,
      question: `${action} ${target.Arn}`,
      decision: await policies.decide({ principal: { role }, action, resource: target.Arn }),
    });
    if (target.DeadLetterConfig) {
      hops.push({
        from: id,
        question: `sqs:SendMessage ${target.DeadLetterConfig.Arn}`,
        decision: await policies.decide({
          principal: { role },
          action: 'sqs:SendMessage',
          resource: target.DeadLetterConfig.Arn,
        }),
      });
    }
    const trust = JSON.stringify(resolvedProperties(template, role)['AssumeRolePolicyDocument']);
    hops.push({
      from: id,
      question: 'its role trusts scheduler.amazonaws.com',
      decision: trust.includes('"scheduler.amazonaws.com"') ? 'Allowed' : 'ImplicitlyDenied',
    });
  }
  return hops;
}

const refused = (hops: Hop[]) => hops.filter((h) => h.decision !== 'Allowed');

describe.each(['readme', 'restore'])('the wiring of the %s fixture', (name) => {
  it('lets every alarm publish to its topic and use the topic key (the alerts topic refused alarms before)', async () => {
    const hops = await walkAlarms(templates[name]!);

    expect(new Set(hops.map((h) => h.from)).size).toBeGreaterThanOrEqual(5);
    expect(hops.filter((h) => h.question.startsWith('kms:')).length).toBeGreaterThan(0);
    expect(refused(hops)).toEqual([]);
  });

  it('lets every EventBridge rule invoke its target', async () => {
    const hops = await walkRules(templates[name]!);

    expect(hops.length).toBeGreaterThanOrEqual(2);
    // The restore fixture has standbys: their rules start the restore state machine through a role.
    if (name === 'restore')
      expect(hops.some((h) => h.question.startsWith('states:StartExecution'))).toBe(true);
    expect(refused(hops)).toEqual([]);
  });

  it('lets every schedule start its target and reach its dead-letter queue', async () => {
    const hops = await walkSchedules(templates[name]!);

    expect(hops.length).toBeGreaterThanOrEqual(6);
    expect(refused(hops)).toEqual([]);
  });
});

describe('the walk, when a statement it relies on is removed (readme fixture)', () => {
  const without = (drop: StatementFilter) => {
    const { policies, removed } = new TemplatePolicies(templates['readme']!).without(drop);
    expect(removed.length).toBeGreaterThan(0);
    return policies.template;
  };
  const names = (s: Record<string, unknown>, what: string) => JSON.stringify(s).includes(what);

  it('reports the alarms when the topic policy no longer lets CloudWatch publish', async () => {
    const template = without(
      (s, site) =>
        site.type === 'AWS::SNS::TopicPolicy' &&
        s['Effect'] === 'Allow' &&
        names(s, 'cloudwatch.amazonaws.com'),
    );

    const hops = refused(await walkAlarms(template));

    expect(hops.length).toBeGreaterThanOrEqual(5);
    expect(hops.every((h) => h.question.startsWith('sns:Publish'))).toBe(true);
  });

  it('reports the alarms when the topic key no longer lets CloudWatch use it', async () => {
    const template = without(
      (s, site) =>
        site.type === 'AWS::KMS::Key' && s['Effect'] === 'Allow' && names(s, 'cloudwatch.amazonaws.com'),
    );

    const hops = refused(await walkAlarms(template));

    expect(hops.length).toBeGreaterThanOrEqual(5);
    expect(hops.every((h) => h.question.startsWith('kms:'))).toBe(true);
  });

  it('reports the rule whose Lambda permission is removed', async () => {
    const template = without(
      (s, site) => site.type === 'AWS::Lambda::Permission' && names(s, 'events.amazonaws.com'),
    );

    const hops = refused(await walkRules(template));

    expect(hops.length).toBeGreaterThanOrEqual(2);
  });

  it('reports the schedules when their role may no longer invoke start-backup', async () => {
    const template = without(
      (s, site) =>
        site.type !== 'AWS::Lambda::Permission' &&
        s['Effect'] === 'Allow' &&
        names(s, 'lambda:InvokeFunction'),
    );

    const hops = refused(await walkSchedules(template));

    expect(hops.length).toBeGreaterThanOrEqual(2);
    expect(hops.every((h) => h.question.startsWith('lambda:InvokeFunction'))).toBe(true);
  });
});

describe('the walk of the standby rules (restore fixture)', () => {
  it('reports the standby rules when their role may no longer start the restore state machine', async () => {
    const { policies, removed } = new TemplatePolicies(templates['restore']!).without(
      (s, site) =>
        site.type === 'AWS::IAM::Policy' &&
        s['Effect'] === 'Allow' &&
        JSON.stringify(s).includes('states:StartExecution'),
    );
    expect(removed.length).toBeGreaterThan(0);

    const hops = refused(await walkRules(policies.template));

    expect(hops.length).toBeGreaterThanOrEqual(1);
    expect(hops.every((h) => h.question.startsWith('states:StartExecution'))).toBe(true);
  });
});
