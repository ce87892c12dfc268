/**
 * The local-mode notifier: alerts are appended to `{stateDir}/alerts.log` and printed to stderr,
 * so a cron-driven CLI still leaves a trail an operator can find.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Alert, Notifier } from './notifier.ts';

export class LocalNotifier implements Notifier {
  constructor(
    private readonly stateDir: string,
    private readonly print: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  ) {}

  async publish(alert: Alert): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    const entry = { at: new Date().toISOString(), ...alert };
    await appendFile(path.join(this.stateDir, 'alerts.log'), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    this.print(`ALERT ${alert.subject}`);
  }
}
