/**
 * The event of every Lambda, as a zod schema (like the config): a handler parses its event
 * before it touches anything, and a malformed one fails with one sentence that names the field
 * (`start-backup event: trigger: expected "schedule" or "manual"`), never with a TypeError deep
 * in the logic or a half-done run. Events carry names, ids and ARNs, never secret values.
 */
import { z } from 'zod';
import { RecordStep, StepStateSchema } from '../../core/contracts/restore-state-machine.ts';

/** `path.to.field` of a zod issue, or `(the event)` for the event itself. */
function fieldOf(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join('.') : '(the event)';
}

/**
 * The event parsed by `schema`, or the error `toError` makes of one sentence naming the first bad
 * field and what it should be.
 */
export function parseEvent<T>(
  schema: z.ZodType<T>,
  event: unknown,
  what: string,
  toError: (message: string) => Error,
): T {
  const result = schema.safeParse(event);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw toError(`${what}: ${fieldOf(issue.path)}: ${issue.message}`);
}

const text = (expected: string) =>
  z.string({ error: `expected ${expected}` }).min(1, { error: `expected ${expected}, got ""` });
/** An optional field that AWS may also send as null (read as absent). */
const maybe = <T extends z.ZodType>(schema: T) =>
  schema.nullish().transform((v): z.output<T> | undefined => v ?? undefined);
const isoTime = z
  .string({ error: 'expected an ISO time' })
  .refine((s) => !Number.isNaN(Date.parse(s)), { error: 'expected an ISO time' });

/** start-backup: `{job, trigger?, scheduledTime?}` from the job's schedule or `backup --remote`. */
export const StartBackupEventSchema = z.object(
  {
    job: text('a job name'),
    trigger: z.enum(['schedule', 'manual'], { error: 'expected "schedule" or "manual"' }).default('schedule'),
    scheduledTime: isoTime.optional(),
  },
  { error: 'expected an event like {"job": "<name>"}' },
);

/** A prune function: `{job, runId}` from task-stopped (core/contracts/prune.ts PruneRequest). */
export const PruneEventSchema = z.object(
  { job: text('a job name'), runId: text('a run id') },
  { error: 'expected a prune event like {"job": "<name>", "runId": "<run id>"}' },
);

/** task-stopped: the "ECS Task State Change" EventBridge event (the fields it reads). */
export const TaskStoppedEventSchema = z.object(
  {
    detail: z.object(
      {
        taskArn: maybe(z.string()),
        clusterArn: maybe(z.string()),
        lastStatus: maybe(z.string()),
        stoppedReason: maybe(z.string()),
        stopCode: maybe(z.string()),
        stoppedAt: maybe(z.string()),
        startedBy: maybe(z.string()),
        containers: maybe(
          z.array(
            z.object({
              name: maybe(z.string()),
              exitCode: maybe(z.number()),
              reason: maybe(z.string()),
            }),
          ),
        ),
        overrides: maybe(
          z.object({
            containerOverrides: maybe(
              z.array(
                z.object({
                  name: maybe(z.string()),
                  environment: maybe(
                    z.array(z.object({ name: maybe(z.string()), value: maybe(z.string()) })),
                  ),
                }),
              ),
            ),
          }),
        ),
      },
      { error: 'expected the ECS task description' },
    ),
  },
  { error: 'expected an "ECS Task State Change" event' },
);

/** restore-ended: the "Step Functions Execution Status Change" EventBridge event. */
export const RestoreEndedEventSchema = z.object(
  {
    detail: z.object(
      {
        executionArn: maybe(z.string()),
        stateMachineArn: maybe(z.string()),
        status: maybe(z.string()),
        startDate: maybe(z.number({ error: 'expected epoch milliseconds' })),
        stopDate: maybe(z.number({ error: 'expected epoch milliseconds' })),
        input: maybe(z.string()),
        error: maybe(z.string()),
        cause: maybe(z.string()),
      },
      { error: 'expected the execution description' },
    ),
  },
  { error: 'expected a "Step Functions Execution Status Change" event' },
);

const execution = z.object(
  { id: text('the execution ARN ($$.Execution.Id)'), startTime: isoTime },
  { error: 'expected {"id", "startTime"} of the execution' },
);

const deployment = z.object(
  {
    restoreTaskDefinition: text('the restore task definition ARN'),
    restoreTimeoutSeconds: z.number().int().positive().optional(),
    drillTaskDefinitions: z.record(z.string(), z.string()),
  },
  { error: 'expected the deployment {"restoreTaskDefinition", "drillTaskDefinitions"}' },
);

/**
 * Resolve: the execution input as the state (parsed by RestoreRequestSchema, whose messages
 * name its fields), the execution, and the deployment's task definitions.
 */
export const ResolveEventSchema = z.object(
  { state: z.unknown(), execution, deployment },
  { error: 'expected a state machine step event like {"state": …, "execution": {…}}' },
);

/**
 * Every Lambda step after Resolve: the state (StepStateSchema: the results earlier steps stored
 * have their full shape; a bad one fails as `state.run.startedAt: expected …`), and the execution.
 */
export const RestoreStepEventSchema = z.object(
  { state: StepStateSchema, execution },
  { error: 'expected a state machine step event like {"state": …, "execution": {…}}' },
);

const recordSteps = Object.values(RecordStep);
/** restore-record: the step event plus which of its states invoked it. */
export const RecordEventSchema = RestoreStepEventSchema.extend({
  step: z.enum(recordSteps, { error: `expected one of ${recordSteps.map((s) => `"${s}"`).join(', ')}` }),
});

/** success-digest: `{scheduledTime?}` from its schedule; a manual invocation may send nothing. */
export const SuccessDigestEventSchema = z
  .object(
    { scheduledTime: isoTime.optional() },
    { error: 'expected an event like {"scheduledTime": "<ISO time>"}' },
  )
  .nullish()
  .transform((e) => e ?? undefined);
