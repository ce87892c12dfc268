/**
 * The line `dumpvault restore|drill|standby --remote` prints for each state the execution left:
 * the state's name and what it found, read from the state's output. That output is the state
 * object the Lambda steps parse (StepStateSchema) and it is parsed here the same way, so an
 * output the CLI does not understand (a stack of another version, a step that stored something
 * else) reads as one sentence naming the field, not as missing or `undefined` details.
 */
import { z } from 'zod';
import {
  RestoreResultKey,
  RestoreState,
  StepStateSchema,
} from '../../../core/contracts/restore-state-machine.ts';

/**
 * A state's output: the step state, plus the `$.guard` result whose rule is printed
 * (functions/logic/restore-guard.ts GuardResult; no later step reads it, so the step schema
 * leaves it out).
 */
const StateOutputSchema = StepStateSchema.extend({
  [RestoreResultKey.guard]: z
    .object(
      { rule: z.string({ error: 'expected the rule that let the restore through' }) },
      { error: 'expected the Guard result {"rule", …}' },
    )
    .optional(),
});
type StateOutput = z.infer<typeof StateOutputSchema>;

/** The details of each state worth a line, from its parsed output. */
const DETAILS: Record<string, (state: StateOutput) => readonly unknown[]> = {
  [RestoreState.resolve]: ({ run }) => (run ? [run.backup, run.target, run.kind, run.runId] : []),
  [RestoreState.guard]: ({ guard }) => [guard?.rule],
  [RestoreState.runRestore]: ({ task }) => [task?.['TaskArn']],
  [RestoreState.verify]: ({ verify }) =>
    verify ? [`${verify.tablesCompared} tables, ${verify.rowsCompared} rows match the manifest`] : [],
  [RestoreState.record]: ({ recorded }) =>
    recorded?.status !== undefined && recorded.durationMs !== undefined ? [`${recorded.durationMs} ms`] : [],
  [RestoreState.recordFailure]: ({ recorded }) => [recorded?.cause],
};

/**
 * `: <details>` for the state `name` left with `output`, `''` when there is nothing to say, or
 * `: unexpected output: <field>: expected …, got …` when the output is not a state it knows.
 */
export function describeState(name: string | undefined, output: string | undefined): string {
  if (!output) return '';
  let json: unknown;
  try {
    json = JSON.parse(output);
  } catch {
    return ': unexpected output: not JSON';
  }
  const parsed = StateOutputSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.length ? `${issue.path.map(String).join('.')}: ` : '';
    return `: unexpected output: ${field}${issue?.message ?? 'not a state object'}`;
  }
  const detail = (DETAILS[name ?? '']?.(parsed.data) ?? [])
    .filter((v) => v !== undefined && v !== null)
    .map(String);
  return detail.length ? `: ${detail.join(', ')}` : '';
}
