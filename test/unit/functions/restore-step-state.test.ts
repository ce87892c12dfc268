/**
 * The state one step of the restore state machine hands the next is parsed with zod
 * (StepStateSchema, core/contracts/restore-state-machine.ts) at the top of Guard, Verify and
 * restore-record, like every other Lambda event (functions/logic/events.ts).
 * Bug caught: the state was cast (`asStepState`), so a result an earlier step stored without a
 * field reached the logic as undefined: Record saved a run without `startedAt` with durationMs
 * NaN, Verify asked storage for the manifest at key `undefined`. Now the handler refuses it before
 * it touches anything, with a RestoreInputError (never retried) naming the field.
 */
import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  RestoreError,
  type RestoreRun,
  StepStateSchema,
} from '../../../core/contracts/restore-state-machine.ts';
import { notifyRestore, type RecordDeps } from '../../../functions/logic/restore-record.ts';
import { handler as guardHandler } from '../../../functions/restore-guard.ts';
import { handler as recordHandler } from '../../../functions/restore-record.ts';
import { handler as verifyHandler } from '../../../functions/restore-verify.ts';
import { RESOLVED_RUN as RUN } from '../../support/restore-run.ts';

const context = {
  functionName: 'test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:eu-central-1:123456789012:function:test',
  memoryLimitInMB: '256',
  awsRequestId: 'req-1',
  getRemainingTimeInMillis: () => 60_000,
} as unknown as Context;

const execution = {
  id: 'arn:aws:states:eu-central-1:123456789012:execution:Restore:e1',
  startTime: '2026-11-22T10:00:00.123Z',
};

/** The run without one field, as a step state would carry it after a bad Resolve. */
function runWithout(field: keyof RestoreRun): Record<string, unknown> {
  const { [field]: _left, ...rest } = RUN;
  return rest;
}

type Handler = (event: never, context: Context) => Promise<unknown>;

describe('a step state with a malformed result is refused at the top of the step', () => {
  const cases: Array<[string, Handler, unknown, RegExp]> = [
    [
      'Record, a run without startedAt',
      recordHandler,
      { step: 'record', state: { job: 'app', run: runWithout('startedAt') }, execution },
      /^restore-record event: state\.run\.startedAt: expected the start of the run \(an ISO time\), got nothing$/,
    ],
    [
      'Verify, a run whose manifest key is not a string',
      verifyHandler,
      { state: { job: 'app', run: { ...RUN, manifestKey: 42 } }, execution },
      /^restore-verify event: state\.run\.manifestKey: expected the backup's manifest key, got 42$/,
    ],
    [
      'Guard, a run with an unknown target kind',
      guardHandler,
      { state: { job: 'app', run: { ...RUN, targetKind: 'database' } }, execution },
      /^restore-guard event: state\.run\.targetKind: expected "scratch", "ephemeral", "standby" or "connection", got "database"$/,
    ],
    [
      'Record, a verify result without its row count',
      recordHandler,
      {
        step: 'record',
        state: { job: 'app', run: RUN, verify: { matches: true, tablesCompared: 3 } },
        execution,
      },
      /^restore-record event: state\.verify\.rowsCompared: expected a row count, got nothing$/,
    ],
    [
      'NotifyFailure, an outcome with an unknown status',
      recordHandler,
      {
        step: 'notify',
        state: { job: 'app', recorded: { job: 'app', kind: 'restore', status: 'DONE', changed: true } },
        execution,
      },
      /^restore-record event: state\.recorded\.status: expected "SUCCEEDED" or "FAILED" \(none when history could not be written\), got "DONE"$/,
    ],
    [
      'RecordFailure, a Catch result that is not {Error, Cause}',
      recordHandler,
      { step: 'record-failure', state: { job: 'app', failure: { Resolve: 'boom' } }, execution },
      /^restore-record event: state\.failure\.Resolve: expected \{"Error", "Cause"\} of a Catch, got "boom"$/,
    ],
    [
      'Verify, a state that is not an object',
      verifyHandler,
      { state: 'app', execution },
      /^restore-verify event: state: expected the state object of the execution, got "app"$/,
    ],
  ];

  it.each(cases)(
    'fails when %s: a RestoreInputError names the field',
    async (_name, handler, event, message) => {
      // Act
      const result = handler(event as never, context);
      // Assess: refused before the handler reads its deployment (none is configured here).
      await expect(result).rejects.toMatchObject({
        name: RestoreError.input,
        message: expect.stringMatching(message),
      });
    },
  );
});

describe('StepStateSchema: the states the state machine really passes', () => {
  it('keeps the execution input and the results no step reads, and parses every result that is there', () => {
    // Prepare
    const state = {
      job: 'app',
      target: { url: 'postgres://restore@db.internal:5432/app' },
      confirm: 'app',
      run: RUN,
      guard: { allowed: true, rule: 'confirmed by the job name' },
      task: { TaskArn: 'arn:aws:ecs:eu-central-1:123456789012:task/c/1', Containers: [] },
      verify: { matches: true, tablesCompared: 3, rowsCompared: 2550 },
      recorded: { job: 'app', runId: RUN.runId, kind: 'restore', status: 'SUCCEEDED', changed: true },
      notified: { alerted: null },
    };
    // Act
    const parsed = StepStateSchema.parse(state);
    // Assess
    expect(parsed).toEqual(state);
  });

  it('accepts the state of a RecordFailure after Resolve failed: no run, the Catch result', () => {
    const state = {
      job: 'nope',
      failure: { Resolve: { Error: 'ConfigError', Cause: 'no job named "nope"' } },
    };
    expect(StepStateSchema.parse(state)).toEqual(state);
  });

  it('lets NotifyFailure pass over what RecordFailureFailed stores: no status, nothing recorded to announce', async () => {
    // Prepare: the Pass state's {error, cause, changed: false} (infra/restore-state-machine.ts).
    const state = StepStateSchema.parse({
      job: 'app',
      recorded: {
        error: RestoreError.recordFailed,
        cause: 'the failure could not be recorded in history: throttled',
        changed: false,
      },
    });
    // Act: the deps are never reached.
    const notified = await notifyRestore({} as RecordDeps, { state, execution });
    // Assess
    expect(notified).toEqual({ alerted: null });
  });
});
