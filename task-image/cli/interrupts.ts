/**
 * SIGINT and SIGTERM as an AbortSignal, for the commands that must stop cleanly: a backup that
 * is interrupted aborts its multipart upload, records FAILED with the cause and alerts, instead
 * of dying mid-write. On ECS, StopTask sends SIGTERM (and SIGKILL after the container's
 * stopTimeout); in a terminal, Ctrl-C sends SIGINT. A second signal ends the process at once,
 * as the default action would have.
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

/** Handles SIGINT and SIGTERM of `proc` until `dispose()`. */
export function processInterrupts(proc: NodeJS.Process = process): Interrupts {
  const controller = new AbortController();
  const handlers = SIGNALS.map((name) => {
    const handler = () => {
      if (controller.signal.aborted) {
        proc.exit(128 + constants.signals[name]);
        return;
      }
      controller.abort(new ToolError(`stopped by ${name} before it finished`));
    };
    proc.on(name, handler);
    return { name, handler };
  });
  return {
    signal: controller.signal,
    dispose() {
      for (const { name, handler } of handlers) proc.off(name, handler);
    },
  };
}

/**
 * Runs `run` with a context whose signal aborts at SIGINT/SIGTERM (when `start` is given, as
 * the real process's Io does), and gives the signals back their default action afterwards.
 */
export async function withInterrupts<C extends { readonly signal?: AbortSignal }, T>(
  start: (() => Interrupts) | undefined,
  ctx: C,
  run: (ctx: C) => Promise<T>,
): Promise<T> {
  const interrupts = start?.();
  try {
    return await run(interrupts ? { ...ctx, signal: interrupts.signal } : ctx);
  } finally {
    interrupts?.dispose();
  }
}
