import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  processInterrupts,
  REPEAT_WINDOW_MS,
  type SignalledProcess,
} from '../../../task-image/cli/interrupts.ts';

/** A process stand-in: signals are emitted by the test, exit() is recorded. */
function fakeProcess(): SignalledProcess & { emit(name: string): boolean; exits: number[] } {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return Object.assign(emitter, {
    exits,
    exit: ((code?: number) => {
      exits.push(code ?? 0);
    }) as SignalledProcess['exit'],
  }) as unknown as SignalledProcess & { emit(name: string): boolean; exits: number[] };
}

describe('processInterrupts', () => {
  it('aborts at the first SIGTERM with a cause naming it', () => {
    const proc = fakeProcess();
    const interrupts = processInterrupts(proc, () => 1000);

    proc.emit('SIGTERM');

    expect(interrupts.signal.aborted).toBe(true);
    expect((interrupts.signal.reason as Error).message).toBe('stopped by SIGTERM before it finished');
    expect(proc.exits).toEqual([]);
  });

  it('does not exit at once when the same signal arrives twice in one instant (GNU timeout signals the process, then its group)', () => {
    const proc = fakeProcess();
    let clock = 1000;
    processInterrupts(proc, () => clock);

    proc.emit('SIGTERM');
    clock += 5;
    proc.emit('SIGTERM');
    clock += REPEAT_WINDOW_MS - 10;
    proc.emit('SIGINT');

    expect(proc.exits).toEqual([]);
  });

  it('exits at once with 128 + the signal number at a second signal after the window', () => {
    const proc = fakeProcess();
    let clock = 1000;
    processInterrupts(proc, () => clock);

    proc.emit('SIGINT');
    clock += REPEAT_WINDOW_MS;
    proc.emit('SIGINT');

    expect(proc.exits).toEqual([130]);
  });

  it('gives the signals back once disposed', () => {
    const proc = fakeProcess();
    const interrupts = processInterrupts(proc, () => 0);

    interrupts.dispose();

    expect(proc.emit('SIGTERM')).toBe(false);
    expect(interrupts.signal.aborted).toBe(false);
  });
});
