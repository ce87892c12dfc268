/**
 * How start-backup launches a task under the deployment's network and capacity options
 * (issue 13 §3): the RunTask request `buildRunTaskInput` builds, and the environment variables
 * the construct sets for it.
 */
import { describe, expect, it } from 'vitest';
import { envChoice } from '../../../functions/logic/environment.ts';
import { buildRunTaskInput } from '../../../functions/logic/start-backup.ts';
import { launch, testConfig } from './support.ts';

const run = { runId: 'a1b2c3d4', startedAt: '2026-11-22T02:00:00.000Z', trigger: 'schedule' as const };

describe('RunTask network configuration', () => {
  it('gives the task a public IP when the deployment runs tasks in public subnets', () => {
    // Bug caught: tasks in public subnets (no NAT gateway) without a public IP reach neither
    // their database nor S3, KMS or SNS, and every backup times out.
    const config = testConfig();
    const input = buildRunTaskInput(config, config.jobs[0]!, run, { ...launch, assignPublicIp: 'ENABLED' });

    expect(input.networkConfiguration).toEqual({
      awsvpcConfiguration: {
        subnets: ['subnet-aaa', 'subnet-bbb'],
        securityGroups: ['sg-123'],
        assignPublicIp: 'ENABLED',
      },
    });
  });

  it('gives no public IP by default (private subnets behind a NAT gateway)', () => {
    // Bug caught: every task exposed with a public address nobody asked for.
    const config = testConfig();
    const input = buildRunTaskInput(config, config.jobs[0]!, run, launch);

    expect(input.networkConfiguration?.awsvpcConfiguration?.assignPublicIp).toBe('DISABLED');
  });
});

describe('envChoice', () => {
  it('reads an allowed value, falls back when unset, and names the variable of a wrong value', () => {
    // Bug caught: a typo in the variable silently treated as the default.
    const allowed = ['ENABLED', 'DISABLED'] as const;
    expect(envChoice('X', allowed, 'DISABLED', { X: 'ENABLED' })).toBe('ENABLED');
    expect(envChoice('X', allowed, 'DISABLED', {})).toBe('DISABLED');
    expect(() => envChoice('X', allowed, 'DISABLED', { X: 'enabled' })).toThrow(
      'environment variable X is "enabled"; expected ENABLED or DISABLED',
    );
  });
});
