/**
 * SIGINT and SIGTERM as an AbortSignal, for the commands that must stop cleanly: a backup that
 * is interrupted aborts its multipart upload, records FAILED with the cause and alerts, instead
 * of dying mid-write. On ECS, StopTask sends SIGTERM (and SIGKILL after the container's
 * stopTimeout); in a terminal, Ctrl-C sends SIGINT. A second signal ends the process at once,
 * as the default action would have — unless it comes within {@link REPEAT_WINDOW_MS} of the
 * first: GNU `timeout` sends its signal to the process and then to the whole process group, so
 * the same signal arrives twice in one instant, and that is one request to stop, not two.
 */
import { constants } from 'node:os';
import { ToolError } from '../../core/errors.ts';

export interface Interrupts {
  /** Aborted at the first SIGINT or SIGTERM; its reason is a ToolError naming the signal. */
  readonly signal: AbortSignal;
  /** Removes the handlers: the signals get their default action again. */
  dispose(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** A signal this soon after the first is the first one delivered again, not a second request. */
export const REPEAT_WINDOW_MS = 2000;

/** The parts of a process the handlers use (tests hand in a stand-in). */
export type SignalledProcess = Pick<NodeJS.Process, 'on' | 'off' | 'exit'>;

/** Handles SIGINT and SIGTERM of `proc` until `dispose()`. */
export function processInterrupts(
  proc: SignalledProcess = process,
  now: () => number = Date.now,
): Interrupts {
  const controller = new AbortController();
  let firstAt = 0;
  const handlers = SIGNALS.map((name) => {
    const handler = () => {
      if (controller.signal.aborted) {
        if (now() - firstAt < REPEAT_WINDOW_MS) return;
        proc.exit(128 + constants.signals[name]);
        return;
      }
      firstAt = now();
      controller.abort(new ToolError(`stopped by ${name} before it finished`));
    };
    proc.on(name, handler);
    return { name, handler };
  });
  return {
    signal: controller.signal,
    dispose() {
      const remove = () => {
        for (const { name, handler } of handlers) proc.off(name, handler);
      };
      // The run may end (and dispose) within the repeat window of the signal that stopped it:
      // the repeat (GNU timeout's second delivery) must still find the handler, not the
      // default action that would kill the process before it exits with the run's code. The
      // timer keeps the process alive until the window has passed (at most 2 s after a signal).
      const left = controller.signal.aborted ? REPEAT_WINDOW_MS - (now() - firstAt) : 0;
      if (left > 0) setTimeout(remove, left);
      else remove();
    },
  };
}

/**
 * Runs `run` with a context whose signal aborts at SIGINT/SIGTERM (when `start` is given, as
 * the real process's Io does) or when the context's own signal aborts (the run's timeout), and
 * gives the signals back their default action afterwards.
 */
export async function withInterrupts<C extends { readonly signal?: AbortSignal }, T>(
  start: (() => Interrupts) | undefined,
  ctx: C,
  run: (ctx: C) => Promise<T>,
): Promise<T> {
  const interrupts = start?.();
  try {
    if (!interrupts) return await run(ctx);
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, interrupts.signal]) : interrupts.signal;
    return await run({ ...ctx, signal });
  } finally {
    interrupts?.dispose();
  }
}
