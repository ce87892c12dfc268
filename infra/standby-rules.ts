/**
 * Standby on AWS (issue 16 §2): a manifest landing in the stack's bucket under a job's folder
 * starts the restore state machine with target `standby`, which restores that backup into a
 * fresh database beside the job's standby, verifies it and swaps it in (core/standby/run.ts).
 *
 * ```
 * S3 (EventBridge notifications on) ─ "Object Created" ─> rule Standby-<job>
 *   key matches {root}{prefix}{job}/*.manifest.json, one wildcard per managed destination root
 *   ─> StartExecution {job, target: "standby", key, trigger: "schedule"} (role: that only)
 * ```
 *
 * Precision: the meta-backup (`{prefix}_dumpvault/config-….json.gpg`), data objects and another
 * job's folder never match; a manifest rewritten for an older backup (a rekey) or delivered twice
 * does match, and Resolve ends such an execution SKIPPED (functions/logic/restore-standby.ts).
 * Only manifests in the stack's bucket start a standby run: a job whose destinations are all
 * elsewhere gets a synth warning instead of a rule.
 */
import { Annotations, Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Config, Job } from '../core/config/schema.ts';
import { MANIFEST_SUFFIX } from '../core/manifest.ts';
import { jobConfig, managedKeyPrefixes } from './iam.ts';
import type { RestoreScope } from './restore-props.ts';

/** The EventBridge trigger value of a standby execution the rule starts (history `trigger`). */
export const STANDBY_RULE_TRIGGER = 'schedule';

/**
 * The wildcard patterns (EventBridge `wildcard`: `*` matches any characters) of the manifests of
 * `job` in the managed bucket: `{root}{prefix}{job}/*.manifest.json` per managed destination.
 */
export function standbyManifestPatterns(config: Config, job: Job): string[] {
  const literal = (s: string) => s.replace(/[\\*]/g, (c) => `\\${c}`);
  return managedKeyPrefixes(jobConfig(config, job)).map((folder) => `${literal(folder)}*${MANIFEST_SUFFIX}`);
}

/** Whether some job with a standby writes to the stack's bucket (its notifications must go to EventBridge). */
export function needsBucketEvents(config: Config): boolean {
  return config.jobs.some((job) => job.standby && standbyManifestPatterns(config, job).length > 0);
}

/** One rule per job with a standby and a managed destination; the role that may start executions. */
export function createStandbyRules(scope: RestoreScope): Record<string, events.Rule> {
  const { config, bucket, deadLetterQueue } = scope.props;
  const rules: Record<string, events.Rule> = {};
  let role: iam.Role | undefined;
  for (const job of config.jobs) {
    if (!job.standby) continue;
    const patterns = standbyManifestPatterns(config, job);
    if (!patterns.length) {
      Annotations.of(scope).addWarningV2(
        'dumpvault:standbyNotFollowed',
        `job "${job.name}" has a standby but no destination in the stack's bucket: no backup of it starts a standby run on AWS; run "dumpvault standby ${job.name}" where its destinations are read, or add a managed destination`,
      );
      continue;
    }
    role ??= new iam.Role(scope, 'StandbyRuleRole', {
      assumedBy: new iam.ServicePrincipal('events.amazonaws.com'),
      description: 'dumpvault standby rules: start executions of the restore state machine, nothing else',
    });
    rules[job.name] = new events.Rule(scope, `Standby-${job.name}`, {
      description: `dumpvault: a new backup of ${job.name} lands -> restore it into its standby`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [bucket.bucketName] },
          object: { key: patterns.flatMap((p) => events.Match.wildcard(p)) },
        },
      },
      targets: [
        new eventTargets.SfnStateMachine(scope.stateMachine, {
          input: events.RuleTargetInput.fromObject({
            job: job.name,
            target: 'standby',
            key: events.EventField.fromPath('$.detail.object.key'),
            trigger: STANDBY_RULE_TRIGGER,
          }),
          role,
          deadLetterQueue,
          retryAttempts: 8,
          maxEventAge: Duration.hours(6),
        }),
      ],
    });
  }
  return rules;
}
