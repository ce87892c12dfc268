/**
 * `dumpvault serve`: the local counterpart of the AWS deployment. One foreground process runs
 * every job's backup schedule and restore-drill schedule with EventBridge Scheduler's semantics,
 * through the same pipeline, history, lease and notifier as the one-shot commands; SIGTERM stops
 * running work the way a backup stops today (FAILED recorded), SIGHUP reloads the config (an
 * invalid one is refused and the old one kept), `--listen` serves `/metrics` and `/healthz`.
 * `dumpvault status` reads the same state without AWS.
 */
import type { EventEmitter } from 'node:events';
import { rename, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEFAULT_CONFIG_FILE, type LoadedConfig, loadConfig } from '../../../core/config/load.ts';
import { ConfigError, LeaseHeldError, messageOf, ToolError, UsageError } from '../../../core/errors.ts';
import { LocalHistoryStore } from '../../../core/history/local.ts';
import { ChannelNotifier } from '../../../core/notify/channels.ts';
import { buildDigest } from '../../../core/notify/digest.ts';
import { runBackup } from '../../../core/pipeline/backup.ts';
import { resolveBackup } from '../../../core/pipeline/catalog.ts';
import { runRestore } from '../../../core/pipeline/restore.ts';
import { redact } from '../../../core/redact.ts';
import {
  backupIdsOf,
  type Clock,
  digestTask,
  type ScheduledTask,
  Scheduler,
  ServeStateFile,
  systemClock,
  tasksOf,
} from '../../../core/serve/scheduler.ts';
import { jobStatuses, PROMETHEUS_CONTENT_TYPE, prometheusText } from '../../../core/serve/status.ts';
import type { Flags } from '../args.ts';
import { jobChannels } from '../notify.ts';
import type { Io, Output } from '../output.ts';
import { resolveDecryptKeys, resolveJobContext } from '../resolve.ts';
import { runTimeoutOf, runTimer } from '../run-timeout.ts';

/** What tests inject: the clock, where signals come from, and a look at the running parts. */
export interface ServeDeps {
  readonly clock?: Clock;
  /** Emits SIGTERM, SIGINT and SIGHUP; default the process. */
  readonly signals?: EventEmitter;
  readonly onListening?: (address: AddressInfo) => void;
  readonly onStarted?: (scheduler: Scheduler) => void;
  /** First pause between notification attempts. @default 1000 */
  readonly notifyRetryDelayMs?: number;
}

/** `host:port` of `--listen`. */
function listenAddress(text: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(text);
  const port = Number(m?.[2]);
  if (!m?.[1] || port > 65_535) {
    throw new UsageError(`--listen: expected host:port like 127.0.0.1:9464, got ${JSON.stringify(text)}`);
  }
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

/** `dumpvault serve [--listen host:port] [--skip-missed]` */
export async function serveCommand(
  flags: Flags,
  _out: Output,
  io: Io,
  deps: ServeDeps = {},
): Promise<number> {
  const clock = deps.clock ?? systemClock;
  const signals = deps.signals ?? process;
  const file = flags.config ?? DEFAULT_CONFIG_FILE;
  const listen = flags.listen ? listenAddress(flags.listen) : undefined;
  let loaded = loadConfig(file, flags['state-dir']);
  const log = (line: string) => io.stderr.write(`${new Date(clock.now()).toISOString()} ${redact(line)}\n`);
  let interrupted = 0;

  const runTask = async (task: ScheduledTask, scheduledAt: Date, signal: AbortSignal): Promise<void> => {
    const current = loaded;
    try {
      if (task.kind === 'digest') await sendDigest(current, scheduledAt, io, log, deps);
      else if (task.kind === 'backup') await scheduledBackup(current, task.job, signal, io, log);
      else await scheduledDrill(current, task.job, signal, io, log);
    } catch (err) {
      if (signal.aborted) interrupted++;
      if (err instanceof LeaseHeldError) log(`backup ${task.job}: SKIPPED: ${err.message}`);
      else log(`${task.kind} ${task.job} (scheduled ${scheduledAt.toISOString()}) FAILED: ${messageOf(err)}`);
    }
  };

  const stateFile = new ServeStateFile(loaded.stateDir);
  const scheduler = new Scheduler({
    clock,
    state: stateFile,
    run: runTask,
    catchUp: !flags['skip-missed'],
    log,
  });
  const tasks = [...tasksOf(loaded.config.jobs), ...digestTask(loaded.config.notify?.digest)];
  if (tasks.length === 0) log('no job has a schedule or a restoreDrill schedule: nothing will run');

  let server: Server | undefined;
  if (listen) {
    server = createServer((req, res) => {
      const route = (req.url ?? '/').split('?')[0];
      if (route === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            status: 'ok',
            schedules: scheduler.nextRuns().size,
            running: scheduler.activeRuns,
          }),
        );
        return;
      }
      if (route !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
        return;
      }
      metricsOf(loaded, scheduler, clock.now()).then(
        (text) => res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(text),
        (err: unknown) => {
          log(`/metrics: ${messageOf(err)}`);
          res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', (err: NodeJS.ErrnoException) =>
        reject(new UsageError(`--listen ${flags.listen}: cannot listen (${err.code ?? err.message})`)),
      );
      server!.listen(listen.port, listen.host, resolve);
    });
    const address = server.address() as AddressInfo;
    log(`serving /metrics and /healthz on ${address.address}:${address.port}`);
    deps.onListening?.(address);
  }

  const onStop = (name: string) => () => {
    if (scheduler.signal.aborted && signals === process) process.exit(1);
    log(`${name}: stopping; running work is stopped and recorded FAILED`);
    scheduler.stop(new ToolError(`stopped by ${name} before it finished`));
  };
  const onTerm = onStop('SIGTERM');
  const onInt = onStop('SIGINT');
  const onHup = () => {
    try {
      const next = loadConfig(file, flags['state-dir']);
      const nextTasks = [...tasksOf(next.config.jobs), ...digestTask(next.config.notify?.digest)];
      loaded = next;
      scheduler.reload(nextTasks, backupIdsOf(next.config.jobs));
      log(`SIGHUP: reloaded ${next.file}: ${nextTasks.length} schedule(s)`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      log(`SIGHUP: reload refused, keeping the previous config: ${err.message.replace(/\n/g, '; ')}`);
    }
  };
  signals.on('SIGTERM', onTerm);
  signals.on('SIGINT', onInt);
  signals.on('SIGHUP', onHup);
  try {
    log(`serve: ${tasks.length} schedule(s) from ${loaded.file}`);
    const running = scheduler.run(tasks, backupIdsOf(loaded.config.jobs));
    deps.onStarted?.(scheduler);
    await running;
  } finally {
    signals.off('SIGTERM', onTerm);
    signals.off('SIGINT', onInt);
    signals.off('SIGHUP', onHup);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
  log(interrupted ? `stopped; ${interrupted} run(s) were interrupted and recorded FAILED` : 'stopped');
  return interrupted ? 1 : 0;
}

/**
 * The daily digest of every job to the global channels, covering the 24 hours before its
 * scheduled time. A channel that fails has been logged and retried; the digest is not re-sent.
 */
async function sendDigest(
  loaded: LoadedConfig,
  scheduledAt: Date,
  io: Io,
  log: (line: string) => void,
  deps: ServeDeps,
): Promise<void> {
  const channels = jobChannels(loaded, undefined, { env: io.env, log });
  const digest = await buildDigest(
    new LocalHistoryStore(loaded.stateDir),
    loaded.config.jobs.map((j) => j.name),
    scheduledAt,
  );
  const notifier = new ChannelNotifier(undefined, channels, {
    log,
    ...(deps.notifyRetryDelayMs !== undefined ? { baseDelayMs: deps.notifyRetryDelayMs } : {}),
  });
  try {
    await notifier.publishDigest(digest);
    log(`digest: "${digest.subject}" sent to ${channels.length} channel(s)`);
  } catch (err) {
    log(`digest: ${messageOf(err)}`);
  }
}

/** One scheduled backup through the same pipeline as `dumpvault backup` (trigger "schedule"). */
async function scheduledBackup(
  loaded: LoadedConfig,
  job: string,
  signal: AbortSignal,
  io: Io,
  log: (line: string) => void,
): Promise<void> {
  const ctx = await resolveJobContext(loaded, job, {
    env: io.env,
    trigger: 'schedule',
    alertStream: io.stderr,
    notifyLog: log,
    // As `dumpvault backup` and the task: every backup also saves the config (metaBackup).
    metaBackup: true,
    // The run's warnings (a file destination short of room, a meta-backup that failed) are logged.
    progress: (event) => {
      if (event.type === 'step' && event.message.startsWith('warning: '))
        log(`backup ${job}: ${event.message}`);
    },
  });
  log(`backup ${job}: started`);
  // Bounded like \`dumpvault backup\` and the task: task.timeoutMinutes, else the default.
  const timer = runTimer(runTimeoutOf(undefined, ctx.job));
  let result: Awaited<ReturnType<typeof runBackup>>;
  try {
    result = await runBackup({ ...ctx, signal: AbortSignal.any([signal, timer.signal]) });
  } finally {
    timer.dispose();
  }
  log(`backup ${job}: ${result.status} ${result.id} (${result.manifest.object.bytes} bytes)`);
  for (const p of result.prune) {
    for (const e of p.errors) log(`backup ${job}: warning: retention could not delete ${e}`);
    for (const x of p.problems)
      log(`backup ${job}: warning: retention left alone ${x.key} in ${p.destination}: ${x.problem}`);
  }
  if (result.status !== 'SUCCEEDED' || !ctx.job.standby) return;
  // The standby follows every successful backup; its failure is recorded, alerted and logged.
  const { followWithStandby, justWritten } = await import('./standby.ts');
  const standby = await followWithStandby(
    loaded,
    { ...ctx, signal },
    io,
    justWritten(ctx, result.manifest, result.destinations),
  );
  log(`standby ${job}: SUCCEEDED, ${standby.swapped.standby} holds ${standby.id}`);
}

/** One scheduled restore drill, as `dumpvault drill`: latest backup into a scratch database, compared, dropped. */
async function scheduledDrill(
  loaded: LoadedConfig,
  job: string,
  signal: AbortSignal,
  io: Io,
  log: (line: string) => void,
): Promise<void> {
  const ctx = await resolveJobContext(loaded, job, {
    env: io.env,
    trigger: 'schedule',
    forReading: true,
    alertStream: io.stderr,
    notifyLog: log,
  });
  const keys = await resolveDecryptKeys(loaded, ctx.job, undefined, { env: io.env });
  const from = ctx.destinations[0]!;
  // Resolved inside the run: a job without a backup to drill is recorded FAILED and alerted.
  const resolve = async () => {
    const manifest = await resolveBackup(from, ctx.prefix, ctx.job.name, 'latest');
    log(`drill ${job}: restoring ${manifest.object.key}`);
    return { manifest, from };
  };
  // Bounded like \`dumpvault drill\`: task.timeoutMinutes, else the default.
  const timer = runTimer(runTimeoutOf(undefined, ctx.job), 'the drill');
  let result: Awaited<ReturnType<typeof runRestore>>;
  try {
    result = await runRestore(
      { ...ctx, signal: AbortSignal.any([signal, timer.signal]) },
      { resolve, target: { kind: 'scratch' }, keys, kind: 'drill' },
    );
  } finally {
    timer.dispose();
  }
  log(`drill ${job}: SUCCEEDED ${result.id}`);
}

async function metricsOf(loaded: LoadedConfig, scheduler: Scheduler, now: number): Promise<string> {
  const state = await new ServeStateFile(loaded.stateDir).load();
  const statuses = await jobStatuses(loaded.config.jobs, new LocalHistoryStore(loaded.stateDir), {
    now,
    next: (id) => scheduler.nextRuns().get(id),
    firstSeen: (id) => state.firstSeen[id],
  });
  return prometheusText(statuses);
}

/** `dumpvault status [--json] [--textfile <file.prom>]`: local, from history and the serve state; exit 1 when a job is overdue. */
export async function statusCommand(flags: Flags, out: Output, _io: Io, now = Date.now()): Promise<number> {
  const loaded = loadConfig(flags.config ?? DEFAULT_CONFIG_FILE, flags['state-dir']);
  const state = await new ServeStateFile(loaded.stateDir).load();
  const tasks = new Map(tasksOf(loaded.config.jobs).map((t) => [t.id, t]));
  const statuses = await jobStatuses(loaded.config.jobs, new LocalHistoryStore(loaded.stateDir), {
    now,
    next: (id) => {
      const task = tasks.get(id);
      const last = state.lastFired[id];
      return task?.schedule.next(new Date(now), last ? new Date(last) : undefined);
    },
    firstSeen: (id) => state.firstSeen[id],
  });
  if (flags.textfile) {
    // node_exporter's textfile collector reads *.prom files; a rename makes the update atomic.
    const tmp = `${flags.textfile}.${process.pid}.tmp`;
    await writeFile(tmp, await prometheusText(statuses));
    await rename(tmp, flags.textfile);
  }
  if (out.isJson) out.result(statuses);
  else {
    out.line(
      `${'job'.padEnd(20)} ${'last'.padEnd(10)} ${'success age'.padStart(12)} ${'next run'.padEnd(20)} last failure`,
    );
    for (const s of statuses) {
      const age = s.hoursSinceLastSuccess !== undefined ? `${s.hoursSinceLastSuccess.toFixed(1)} h` : 'never';
      out.line(
        `${s.job.padEnd(20)} ${(s.lastRun?.status ?? '-').padEnd(10)} ${age.padStart(12)} ${(s.nextBackup?.slice(0, 16).replace('T', ' ') ?? '-').padEnd(20)} ${s.lastFailure ? `${s.lastFailure.at}: ${s.lastFailure.error ?? ''}` : '-'}${s.overdue ? `  OVERDUE (no success for more than ${s.thresholdHours} h)` : ''}`,
      );
    }
  }
  return statuses.some((s) => s.overdue) ? 1 : 0;
}
