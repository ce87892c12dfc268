/**
 * Who may do what, answered the way AWS evaluates it (issue 12 §1): the synthesized policies
 * of the README example and of the restore fixture, resolved to one account and region and
 * evaluated by `@cloud-copilot/iam-simulate` (identity policy + resource policy + key policy).
 * Every allowed request has a denied counterpart.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BREAK_GLASS_ARN, PRIVATE_KEY_ARN, REPLICA_KEY_ARN } from './support/fixtures.ts';
import { expectGrantedByItsStatements, type PolicyRequest, TemplatePolicies } from './support/policies.ts';
import { ACCOUNT, arnOf, physicalName, REGION, resolvedProperties } from './support/resolve.ts';
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
    const removed = await expectGrantedByItsStatements(readmePolicies, {
      principal: CLOUDWATCH,
      action: 'sns:Publish',
      resource: topic(),
      context: fromAlarm(ACCOUNT),
    });
    expect(removed.map((r) => r.site.type)).toEqual(['AWS::SNS::TopicPolicy']);
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
      const removed = await expectGrantedByItsStatements(readmePolicies, {
        principal: CLOUDWATCH,
        action,
        resource: key(),
        context: fromAlarm(ACCOUNT),
      });
      expect(removed.map((r) => r.site.type)).toEqual(['AWS::KMS::Key']);
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

    await expectGrantedByItsStatements(readmePolicies, {
      principal: { role },
      action: 'lambda:InvokeFunction',
      resource: startBackup,
    });
    expect(
      await readmePolicies.decide({
        principal: { role },
        action: 'lambda:InvokeFunction',
        resource: taskStopped,
      }),
    ).toBe('ImplicitlyDenied');
  });
});

/** A task definition revision ARN of a family, as RunTask presents it. */
const revisionOf = (family: string) => `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${family}:7`;
const secret = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}`;
const familyOf = (stack: SynthesizedStack, job: string) =>
  String(
    resolvedProperties(stack.template, logicalIdIn(stack, `DumpVault/BackupTasks/Task-${job}/Resource`))[
      'Family'
    ],
  );

describe('one task role per job (README example: app-prod and shop-mysql)', () => {
  const role = () => ({ role: logicalIdIn(readme, 'DumpVault/BackupTasks/Role-app-prod/Resource') });
  const object = (prefix: string) =>
    `arn:aws:s3:::${physicalName(logicalIdIn(readme, 'DumpVault/Bucket/Resource'))}/${prefix}2026-11-22T030000Z-a1b2c3d4.dump.zst.gpg`;

  it("lets job A's task write under A's prefix only, never under B's", async () => {
    const put = (resource: string): PolicyRequest => ({
      principal: role(),
      action: 's3:PutObject',
      resource,
    });
    await expectGrantedByItsStatements(readmePolicies, put(object('dumpvault/app-prod/')));
    expect(await readmePolicies.decide(put(object('dumpvault/shop-mysql/')))).toBe('ImplicitlyDenied');
  });

  it("never lets a backup task delete a backup, not even its own job's", async () => {
    expect(
      await readmePolicies.decide({
        principal: role(),
        action: 's3:DeleteObject',
        resource: object('dumpvault/app-prod/'),
      }),
    ).toBe('ImplicitlyDenied');
  });

  it("lets job A read A's secrets only, never B's", async () => {
    const read = (resource: string): PolicyRequest => ({
      principal: role(),
      action: 'secretsmanager:GetSecretValue',
      resource,
    });
    await expectGrantedByItsStatements(readmePolicies, read(secret('rds!cluster-1a2b3c4d-Zx98Cv')));
    await expectGrantedByItsStatements(readmePolicies, read(secret('dumpvault/passphrase-Qw34Er')));
    expect(await readmePolicies.decide(read(secret('dumpvault/shop-mysql-Lk56Mn')))).toBe('ImplicitlyDenied');
  });

  it("lets job A write A's history partition only", async () => {
    const table = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/History/Resource'));
    const put = (partition: string): PolicyRequest => ({
      principal: role(),
      action: 'dynamodb:PutItem',
      resource: table,
      context: { 'dynamodb:LeadingKeys': [partition] },
    });
    await expectGrantedByItsStatements(readmePolicies, put('JOB#app-prod'));
    expect(await readmePolicies.decide(put('JOB#shop-mysql'))).toBe('ImplicitlyDenied');
  });

  it("lets start-backup run only the jobs' backup task definitions on this cluster, and pass only their roles", async () => {
    const startBackup = { role: logicalIdIn(readme, 'DumpVault/StartBackupRole/Resource') };
    const cluster = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/Cluster/Resource'));
    const request = (resource: string, onCluster = cluster): PolicyRequest => ({
      principal: startBackup,
      action: 'ecs:RunTask',
      resource,
      context: { 'ecs:cluster': onCluster },
    });
    const run = (resource: string, onCluster = cluster) =>
      readmePolicies.decide(request(resource, onCluster));
    await expectGrantedByItsStatements(readmePolicies, request(revisionOf(familyOf(readme, 'app-prod'))));
    await expectGrantedByItsStatements(readmePolicies, request(revisionOf(familyOf(readme, 'shop-mysql'))));
    const restoreTask = arnOf(
      readme.template,
      logicalIdIn(readme, 'DumpVault/Restore/TaskDefinition/Resource'),
    );
    expect(await run(restoreTask)).toBe('ImplicitlyDenied');
    expect(await run(revisionOf(familyOf(readme, 'app-prod')), `${cluster}-other`)).toBe('ImplicitlyDenied');
    const pass = (roleId: string): PolicyRequest => ({
      principal: startBackup,
      action: 'iam:PassRole',
      resource: arnOf(readme.template, roleId),
      context: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    for (const granted of ['Role-app-prod', 'Role-shop-mysql', 'ExecutionRole']) {
      await expectGrantedByItsStatements(
        readmePolicies,
        pass(logicalIdIn(readme, `DumpVault/BackupTasks/${granted}/Resource`)),
      );
    }
    expect(
      await readmePolicies.decide(pass(logicalIdIn(readme, 'DumpVault/Restore/TaskRole/Resource'))),
    ).toBe('ImplicitlyDenied');
  });

  it('lets start-backup tag the tasks it launches (propagateTags), and tag nothing else', async () => {
    // Bug: RunTask with propagateTags fails (AccessDenied on ecs:TagResource) without the grant;
    // a grant without the CreateAction condition would let start-backup retag any task.
    const startBackup = { role: logicalIdIn(readme, 'DumpVault/StartBackupRole/Resource') };
    const clusterName = physicalName(logicalIdIn(readme, 'DumpVault/Cluster/Resource'));
    const task = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${clusterName}/0123456789abcdef0123456789abcdef`;
    const tag = (resource: string, createAction?: string): PolicyRequest => ({
      principal: startBackup,
      action: 'ecs:TagResource',
      resource,
      ...(createAction ? { context: { 'ecs:CreateAction': createAction } } : {}),
    });
    await expectGrantedByItsStatements(readmePolicies, tag(task, 'RunTask'));
    expect(await readmePolicies.decide(tag(task))).toBe('ImplicitlyDenied');
    expect(await readmePolicies.decide(tag(task, 'CreateService'))).toBe('ImplicitlyDenied');
    expect(
      await readmePolicies.decide(
        tag(
          `arn:aws:ecs:${REGION}:${ACCOUNT}:task/other-cluster/0123456789abcdef0123456789abcdef`,
          'RunTask',
        ),
      ),
    ).toBe('ImplicitlyDenied');
  });

  it("lets only job A's prune function delete under A's prefix, and task-stopped start it", async () => {
    const prune = { role: logicalIdIn(readme, 'DumpVault/Pruning/Prune-app-prodRole/Resource') };
    const remove = (resource: string): PolicyRequest => ({
      principal: prune,
      action: 's3:DeleteObject',
      resource,
    });
    await expectGrantedByItsStatements(readmePolicies, remove(object('dumpvault/app-prod/')));
    expect(await readmePolicies.decide(remove(object('dumpvault/shop-mysql/')))).toBe('ImplicitlyDenied');
    // Bug caught: HeadObject reports an object's Object Lock only to a caller allowed to read it;
    // without these a prune sees no lock and hides locked backups behind delete markers.
    for (const action of ['s3:GetObjectRetention', 's3:GetObjectLegalHold']) {
      await expectGrantedByItsStatements(readmePolicies, {
        ...remove(object('dumpvault/app-prod/')),
        action,
      });
    }
    const pruneFn = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/Pruning/Prune-app-prod/Resource'));
    const invoke = (roleId: string): PolicyRequest => ({
      principal: { role: roleId },
      action: 'lambda:InvokeFunction',
      resource: pruneFn,
    });
    await expectGrantedByItsStatements(
      readmePolicies,
      invoke(logicalIdIn(readme, 'DumpVault/TaskStoppedRole/Resource')),
    );
    expect(
      await readmePolicies.decide(invoke(logicalIdIn(readme, 'DumpVault/StartBackupRole/Resource'))),
    ).toBe('ImplicitlyDenied');
  });
});

describe('the watchdog', () => {
  it("may record when it first saw a job in the jobs' partitions only", async () => {
    const watchdog = { role: logicalIdIn(readme, 'DumpVault/WatchdogRole/Resource') };
    const table = arnOf(readme.template, logicalIdIn(readme, 'DumpVault/History/Resource'));
    const put = (partition: string): PolicyRequest => ({
      principal: watchdog,
      action: 'dynamodb:PutItem',
      resource: table,
      context: { 'dynamodb:LeadingKeys': [partition] },
    });
    await expectGrantedByItsStatements(readmePolicies, put('JOB#app-prod'));
    await expectGrantedByItsStatements(readmePolicies, put('JOB#shop-mysql'));
    expect(await readmePolicies.decide(put('JOBS'))).toBe('ImplicitlyDenied');
    expect(await readmePolicies.decide(put('JOB#unknown'))).toBe('ImplicitlyDenied');
  });
});

describe('restores (restore fixture)', () => {
  let restore: SynthesizedStack;
  let policies: TemplatePolicies;
  beforeAll(async () => {
    restore = (await synthesized('restore')).stacks['Restore']!;
    policies = new TemplatePolicies(restore.template);
  }, SYNTH_TIMEOUT_MS);

  it('lets the restore task read the private key, and no backup task', async () => {
    const read = (path: string): PolicyRequest => ({
      principal: { role: logicalIdIn(restore, path) },
      action: 'secretsmanager:GetSecretValue',
      resource: PRIVATE_KEY_ARN,
    });
    await expectGrantedByItsStatements(policies, read('DumpVault/Restore/TaskRole/Resource'));
    expect(await policies.decide(read('DumpVault/BackupTasks/Role-app/Resource'))).toBe('ImplicitlyDenied');
  });

  it('lets the state machine run only the restore and drill task definitions', async () => {
    const machine = { role: logicalIdIn(restore, 'DumpVault/Restore/StateMachine/Role/Resource') };
    const cluster = arnOf(restore.template, logicalIdIn(restore, 'DumpVault/Cluster/Resource'));
    const run = (resource: string): PolicyRequest => ({
      principal: machine,
      action: 'ecs:RunTask',
      resource,
      context: { 'ecs:cluster': cluster },
    });
    const restoreTask = arnOf(
      restore.template,
      logicalIdIn(restore, 'DumpVault/Restore/TaskDefinition/Resource'),
    );
    const drillTask = arnOf(
      restore.template,
      logicalIdIn(restore, 'DumpVault/Restore/Drillpostgres16/Resource'),
    );
    await expectGrantedByItsStatements(policies, run(restoreTask));
    await expectGrantedByItsStatements(policies, run(drillTask));
    expect(await policies.decide(run(revisionOf(familyOf(restore, 'app'))))).toBe('ImplicitlyDenied');
  });

  it('lets the state machine tag the tasks it launches (PropagateTags), and tag nothing else', async () => {
    // Bug: RunRestore refused (AccessDenied on ecs:TagResource) without the grant; a grant
    // without the CreateAction condition would let the state machine retag any task.
    const machine = { role: logicalIdIn(restore, 'DumpVault/Restore/StateMachine/Role/Resource') };
    const clusterName = physicalName(logicalIdIn(restore, 'DumpVault/Cluster/Resource'));
    const task = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/${clusterName}/0123456789abcdef0123456789abcdef`;
    const tag = (resource: string, createAction?: string): PolicyRequest => ({
      principal: machine,
      action: 'ecs:TagResource',
      resource,
      ...(createAction ? { context: { 'ecs:CreateAction': createAction } } : {}),
    });
    await expectGrantedByItsStatements(policies, tag(task, 'RunTask'));
    expect(await policies.decide(tag(task))).toBe('ImplicitlyDenied');
    expect(await policies.decide(tag(task, 'CreateService'))).toBe('ImplicitlyDenied');
    expect(
      await policies.decide(
        tag(
          `arn:aws:ecs:${REGION}:${ACCOUNT}:task/other-cluster/0123456789abcdef0123456789abcdef`,
          'RunTask',
        ),
      ),
    ).toBe('ImplicitlyDenied');
  });
});

describe('the success digest (restore fixture: aws.alerts.successDigest)', () => {
  let restore: SynthesizedStack;
  let policies: TemplatePolicies;
  beforeAll(async () => {
    restore = (await synthesized('restore')).stacks['Restore']!;
    policies = new TemplatePolicies(restore.template);
  }, SYNTH_TIMEOUT_MS);
  const digest = () => ({ role: logicalIdIn(restore, 'DumpVault/SuccessDigestRole/Resource') });
  const arn = (constructPath: string) => arnOf(restore.template, logicalIdIn(restore, constructPath));

  it("may query every job's history partition, and nothing else of the table", async () => {
    const table = arn('DumpVault/History/Resource');
    const request = (action: string, partition: string): PolicyRequest => ({
      principal: digest(),
      action,
      resource: table,
      context: { 'dynamodb:LeadingKeys': [partition] },
    });
    for (const job of ['app', 'shop', 'notes', 'legacy']) {
      await expectGrantedByItsStatements(policies, request('dynamodb:Query', `JOB#${job}`));
    }
    expect(await policies.decide(request('dynamodb:Query', 'JOB#unknown'))).toBe('ImplicitlyDenied');
    for (const write of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem']) {
      expect(await policies.decide(request(write, 'JOB#app'))).toBe('ImplicitlyDenied');
    }
  });

  it('may publish to the alerts topic with its key, and to no other topic', async () => {
    const topic = arn('DumpVault/Alerts/Resource');
    await expectGrantedByItsStatements(policies, {
      principal: digest(),
      action: 'sns:Publish',
      resource: topic,
    });
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      await expectGrantedByItsStatements(policies, {
        principal: digest(),
        action,
        resource: arn('DumpVault/Key/Resource'),
      });
    }
    expect(
      await policies.decide({
        principal: digest(),
        action: 'sns:Publish',
        resource: `arn:aws:sns:${REGION}:${ACCOUNT}:another-topic`,
      }),
    ).toBe('ImplicitlyDenied');
    expect(await policies.decide({ principal: digest(), action: 'ecs:StopTask', resource: '*' })).toBe(
      'ImplicitlyDenied',
    );
  });

  it('is invoked by its own schedule, whose role may invoke nothing else', async () => {
    const invoke = (role: string, fn: string): PolicyRequest => ({
      principal: { role: logicalIdIn(restore, role) },
      action: 'lambda:InvokeFunction',
      resource: arn(fn),
    });
    const digestSchedule = 'DumpVault/SuccessDigestSchedulerRole/Resource';
    await expectGrantedByItsStatements(policies, invoke(digestSchedule, 'DumpVault/SuccessDigest/Resource'));
    expect(await policies.decide(invoke(digestSchedule, 'DumpVault/StartBackup/Resource'))).toBe(
      'ImplicitlyDenied',
    );
    expect(
      await policies.decide(invoke('DumpVault/SchedulerRole/Resource', 'DumpVault/SuccessDigest/Resource')),
    ).toBe('ImplicitlyDenied');
  });
});

describe('the key and the replica (variants fixture)', () => {
  let stack: SynthesizedStack;
  let policies: TemplatePolicies;
  const admin = (arn: string) => ({
    arn,
    policies: [
      {
        name: 'admin',
        policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] },
      },
    ],
  });
  beforeAll(async () => {
    stack = (await synthesized('variants')).stacks['NewVpc']!;
    policies = new TemplatePolicies(stack.template);
  }, SYNTH_TIMEOUT_MS);

  it('refuses kms:ScheduleKeyDeletion and kms:DisableKey to an administrator, and allows them to the break-glass principal', async () => {
    const key = arnOf(stack.template, logicalIdIn(stack, 'Vault/Key/Resource'));
    for (const action of ['kms:ScheduleKeyDeletion', 'kms:DisableKey']) {
      const byAdmin: PolicyRequest = {
        principal: admin(`arn:aws:iam::${ACCOUNT}:role/admin`),
        action,
        resource: key,
      };
      expect(await policies.decide(byAdmin)).toBe('ExplicitlyDenied');
      // The refusal is the break-glass statement's: without it the administrator may.
      const { policies: withoutDeny, removed } = policies.without(
        (s, site) =>
          site.type === 'AWS::KMS::Key' &&
          s['Effect'] === 'Deny' &&
          JSON.stringify(s['Action']).includes(action),
      );
      expect(removed).toHaveLength(1);
      expect(await withoutDeny.decide(byAdmin)).toBe('Allowed');
      // The break-glass principal may through the key policy's delegation to the account's IAM.
      const removedGrants = await expectGrantedByItsStatements(policies, {
        principal: admin(BREAK_GLASS_ARN),
        action,
        resource: key,
      });
      expect(removedGrants.map((r) => r.site.type)).toEqual(['AWS::KMS::Key']);
    }
  });

  it('lets the replication role replicate into the replica bucket with the replica key (given their grants), and nowhere else', async () => {
    const role = {
      role: Object.entries(stack.logicalIds).find(([p]) =>
        /Vault\/Bucket\/ReplicationRole\/Resource$/.test(p),
      )![1],
    };
    const roleArn = policies.roleArn(role.role);
    // What the replica account grants (README, "Replication"): its bucket and key policies.
    const grant = (action: string, resource: string) => ({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { AWS: roleArn }, Action: action, Resource: resource }],
    });
    const request = (action: string, resource: string, granted: string): PolicyRequest => ({
      principal: role,
      action,
      resource,
      resourceAccount: '210987654321',
      resourcePolicy: grant(action, granted),
    });
    const ask = (action: string, resource: string, granted: string) =>
      policies.decide(request(action, resource, granted));
    // Each fails without the role's own statement: the replica account's grant alone is not enough.
    await expectGrantedByItsStatements(
      policies,
      request(
        's3:ReplicateObject',
        'arn:aws:s3:::acme-replica/db/orders/x.dump',
        'arn:aws:s3:::acme-replica/*',
      ),
    );
    expect(
      await ask('s3:ReplicateObject', 'arn:aws:s3:::other-bucket/x.dump', 'arn:aws:s3:::other-bucket/*'),
    ).not.toBe('Allowed');
    await expectGrantedByItsStatements(policies, request('kms:Encrypt', REPLICA_KEY_ARN, '*'));
    await expectGrantedByItsStatements(policies, request('kms:GenerateDataKey', REPLICA_KEY_ARN, '*'));
    // ...nor the role's statement without the replica key's grant.
    expect(
      await policies.decide({
        ...request('kms:Encrypt', REPLICA_KEY_ARN, '*'),
        resourcePolicy: { Version: '2012-10-17', Statement: [] },
      }),
    ).not.toBe('Allowed');
    expect(
      await ask(
        'kms:Encrypt',
        'arn:aws:kms:us-east-1:210987654321:key/ffffffff-1111-2222-3333-444444444444',
        '*',
      ),
    ).not.toBe('Allowed');
  });
});
