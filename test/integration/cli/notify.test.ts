/**
 * Notification channels through the CLI with real backups (sqlite3, file destination): a real
 * HTTP receiver on loopback gets the alert, nothing for the same cause again, a re-sent alert
 * for a new cause and the "recovered" message; a 500 is retried; a channel that is down is
 * logged and does not fail the backup, and its alert goes out with the next run.
 */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { runCli } from '../../support/cli.ts';
import { createSqliteDb } from '../../support/databases.ts';
import { TIMEOUT } from '../../support/timeouts.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.ts';
import { createWorkspace, type Workspace } from '../../support/workspace.ts';

let ws: Workspace;
let hooks: WebhookReceiver;
const SLACK_TOKEN_PATH = '/services/T000/B000/XyZ-sl4ck-t0ken-secret';

beforeAll(async () => {
  ws = await createWorkspace();
  createSqliteDb(path.join(ws.dir, 'good.db'));
  hooks = await startWebhookReceiver();
});
afterAll(async () => {
  await hooks?.stop();
  await ws?.remove();
});

const job = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  engine: 'sqlite',
  source: { url: `sqlite:./${name}.db` },
  destinations: ['local'],
  ...extra,
});

const backup = (name: string, env: Record<string, string> = {}) =>
  runCli(['backup', name, '--config', ws.configFile], env);

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('webhook channel', () => {
  it(
    'posts one alert per outage, again for a new cause, then "recovered"; a Slack body through urlEnv',
    async () => {
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: {
          channels: [
            { type: 'webhook', name: 'ops', url: hooks.url('/json') },
            { type: 'webhook', name: 'chat', urlEnv: 'DV_SLACK_URL', format: 'slack' },
          ],
        },
        jobs: [job('flaky')],
      });
      const env = { DV_SLACK_URL: hooks.url(SLACK_TOKEN_PATH) };

      // Outage, cause 1: the database file does not exist.
      expect((await backup('flaky', env)).code).toBe(1);
      expect((await backup('flaky', env)).code).toBe(1);
      // Cause 2: the database is back, but the destination folder is a file.
      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'flaky.db'));
      await rm(path.join(ws.dir, 'backups'), { recursive: true, force: true });
      await writeFile(path.join(ws.dir, 'backups'), 'not a folder');
      expect((await backup('flaky', env)).code).toBe(1);
      expect((await backup('flaky', env)).code).toBe(1);
      // Recovered.
      await rm(path.join(ws.dir, 'backups'));
      await mkdir(path.join(ws.dir, 'backups'));
      const ok = await backup('flaky', env);
      expect(ok.code).toBe(0);

      const json = hooks.delivered('/json');
      expect(json.map((e) => `${e['type']}:${e['status']}`)).toEqual([
        'alert:FAILED',
        'alert:FAILED',
        'alert:RECOVERED',
      ]);
      expect(json[0]).toMatchObject({
        job: 'flaky',
        kind: 'backup',
        subject: 'dumpvault: backup of flaky FAILED',
      });
      expect(json[0]!['cause']).not.toEqual(json[1]!['cause']);
      expect(String(json[1]!['body'])).toContain('Cause:');
      expect(json[2]!['cause']).toBeUndefined();

      const slack = hooks.delivered(SLACK_TOKEN_PATH);
      expect(slack).toHaveLength(3);
      expect(Object.keys(slack[0]!)).toEqual(['text']);
      expect(String(slack[0]!['text'])).toContain('dumpvault: backup of flaky FAILED');
      expect(String(slack[2]!['text'])).toContain('recovered');
      // The token in the URL appears nowhere dumpvault writes.
      expect(await ws.everything()).not.toContain('sl4ck-t0ken');
    },
    TIMEOUT.roundTrips,
  );

  it(
    'retries a webhook that answers 500, and the next attempt delivers',
    async () => {
      await ws.writeConfig({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: { channels: [{ type: 'webhook', name: 'ops', url: hooks.url('/retry') }] },
        jobs: [job('retried')],
      });
      hooks.answer(500);
      const run = await backup('retried');
      expect(run.code).toBe(1);
      const tries = hooks.requests.filter((r) => r.path === '/retry');
      expect(tries.map((r) => r.status)).toEqual([500, 200]);
      expect(tries[1]!.body).toMatchObject({ type: 'alert', status: 'FAILED', job: 'retried' });
      expect(run.stderr).toMatch(
        /notify webhook ops \(127\.0\.0\.1:\d+\): attempt 1 of 4 failed \(HTTP 500\); retrying/,
      );
      expect(run.stderr).toMatch(/notify webhook ops .*delivered on attempt 2/);
    },
    TIMEOUT.roundTrips,
  );

  it(
    'a channel that is down is logged and does not fail the backup; the alert goes out with the next run',
    async () => {
      const down = `http://127.0.0.1:${await closedPort()}/down`;
      const config = (url: string) => ({
        destinations: { local: { type: 'file', path: './backups' } },
        notify: { channels: [{ type: 'webhook', name: 'pager', url, retries: 1, timeoutSeconds: 5 }] },
        jobs: [job('downstream')],
      });
      await ws.writeConfig(config(hooks.url('/pager')));
      expect((await backup('downstream')).code).toBe(1);
      expect(hooks.delivered('/pager').map((e) => e['status'])).toEqual(['FAILED']);

      await copyFile(path.join(ws.dir, 'good.db'), path.join(ws.dir, 'downstream.db'));
      await ws.writeConfig(config(down));
      const run = await backup('downstream');
      expect(run.code).toBe(0);
      const [last] = await new LocalHistoryStore(path.join(ws.dir, '.dumpvault')).list('downstream');
      expect(last?.status).toBe('SUCCEEDED');
      expect(run.stderr).toMatch(/notify webhook pager .*gave up after 2 attempt\(s\)/);

      // The channel is back: the next run delivers the recovery it missed, once.
      await ws.writeConfig(config(hooks.url('/pager')));
      expect((await backup('downstream')).code).toBe(0);
      expect((await backup('downstream')).code).toBe(0);
      expect(hooks.delivered('/pager').map((e) => e['status'])).toEqual(['FAILED', 'RECOVERED']);
    },
    TIMEOUT.roundTrips,
  );
});
