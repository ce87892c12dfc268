/**
 * Builds the local notifier of a job from the config's `notify` (global) and the job's own
 * `notify`: the alert log plus every channel, with secrets (SMTP password, a webhook URL holding
 * a token) read from their env variable or Secrets Manager when a message is sent.
 */
import path from 'node:path';
import type { LoadedConfig } from '../../core/config/load.ts';
import type { ChannelConfig, Job } from '../../core/config/schema.ts';
import { ChannelNotifier } from '../../core/notify/channels.ts';
import { CommandChannel } from '../../core/notify/command.ts';
import { LocalNotifier } from '../../core/notify/local.ts';
import type { Channel, Notifier } from '../../core/notify/notifier.ts';
import type { RetryOptions } from '../../core/notify/retry.ts';
import { SmtpChannel } from '../../core/notify/smtp.ts';
import { WebhookChannel } from '../../core/notify/webhook.ts';
import { resolveSecret, type SecretFetcher } from '../../core/secrets/resolve.ts';

export interface ChannelOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly fetchSecret?: SecretFetcher | undefined;
  /** Where failed attempts are logged (the CLI's stderr, serve's log). */
  readonly log: (line: string) => void;
  /** First pause between attempts (tests shorten it). @default 1000 */
  readonly retryBaseDelayMs?: number | undefined;
}

/** One configured channel, `at` its JSON path (for messages). */
export function createChannel(
  loaded: LoadedConfig,
  cfg: ChannelConfig,
  at: string,
  options: ChannelOptions,
): Channel {
  const label = `${cfg.type} ${cfg.name ?? at}`;
  // Per-channel de-duplication follows this id: it survives a fixed URL or host.
  const id = label;
  const retries = cfg.retries;
  const timeoutMs = cfg.timeoutSeconds * 1000;
  switch (cfg.type) {
    case 'webhook': {
      const literal = cfg.url;
      return new WebhookChannel({
        id,
        label: literal ? `${label} (${new URL(literal).host})` : `${label} (URL from ${cfg.urlEnv})`,
        url: async () =>
          literal ?? (await resolveSecret({ env: cfg.urlEnv, path: `${at}.urlEnv` }, options.env))!,
        format: cfg.format,
        timeoutMs,
        retries,
      });
    }
    case 'smtp': {
      const user = cfg.user;
      return new SmtpChannel({
        id,
        label: `${label} (${cfg.host})`,
        host: cfg.host,
        port: cfg.port ?? (cfg.tls === 'implicit' ? 465 : 587),
        tls: cfg.tls,
        caFile: cfg.caFile ? path.resolve(loaded.baseDir, cfg.caFile) : undefined,
        auth: user
          ? {
              user,
              password: async () =>
                (await resolveSecret(
                  { env: cfg.passwordEnv, arn: cfg.passwordSecret, path: at, field: 'password' },
                  options.env,
                  options.fetchSecret,
                ))!,
            }
          : undefined,
        from: cfg.from,
        to: cfg.to,
        timeoutMs,
        retries,
      });
    }
    case 'command':
      return new CommandChannel({
        id,
        label: `${label} (${path.basename(cfg.command[0]!)})`,
        command: cfg.command as [string, ...string[]],
        env: cfg.env,
        cwd: loaded.baseDir,
        timeoutMs,
        retries,
        parentEnv: options.env,
      });
  }
}

/** The channels a job's alerts go to: the global ones, then the job's own. */
export function jobChannels(loaded: LoadedConfig, job: Job | undefined, options: ChannelOptions): Channel[] {
  const channels = (loaded.config.notify?.channels ?? []).map((c, i) =>
    createChannel(loaded, c, `notify.channels[${i}]`, options),
  );
  if (job?.notify) {
    const j = loaded.config.jobs.indexOf(job);
    channels.push(
      ...job.notify.channels.map((c, i) =>
        createChannel(loaded, c, `jobs[${j}].notify.channels[${i}]`, options),
      ),
    );
  }
  return channels;
}

/** The notifier of a job: the alert log, and the channels when any are configured. */
export function jobNotifier(
  loaded: LoadedConfig,
  job: Job | undefined,
  print: (line: string) => void,
  options: ChannelOptions,
): Notifier {
  const log = new LocalNotifier(loaded.stateDir, print);
  const channels = jobChannels(loaded, job, options);
  if (!channels.length) return log;
  const retry: RetryOptions = {
    log: options.log,
    ...(options.retryBaseDelayMs !== undefined ? { baseDelayMs: options.retryBaseDelayMs } : {}),
  };
  return new ChannelNotifier(log, channels, retry);
}
