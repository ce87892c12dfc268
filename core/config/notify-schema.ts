/**
 * Where local alerts and digests go (`notify`, globally and per job): webhook, SMTP and
 * command channels.
 */
import { z } from 'zod';
import { DigestTimeSchema, envName, name, nonEmpty, secretArn, show, wholeNumber } from './schema-fields.ts';

const seconds = (what: string, fallback: number) => wholeNumber(1).max(3600).default(fallback).describe(what);
const retries = wholeNumber(0)
  .max(10)
  .default(3)
  .describe('Attempts after the first when delivery fails (1 s, 2 s, 4 s … apart).');
const channelName = name('channel').optional().describe('Name used in logs; default the type and its index.');

export const WebhookChannelSchema = z
  .strictObject({
    type: z.literal('webhook'),
    name: channelName,
    url: z
      .url({ protocol: /^https?$/, error: (iss) => `expected an http(s) URL, got ${show(iss.input)}` })
      .optional()
      .describe('Where to POST; use "urlEnv" when the URL holds a token (Slack, Teams).'),
    urlEnv: envName.optional().describe('Env variable holding the URL (never logged; only its host is).'),
    format: z
      .enum(['json', 'slack'], { error: (iss) => `expected "json" or "slack", got ${show(iss.input)}` })
      .default('json')
      .describe('"json": the event as JSON; "slack": {"text": …} for Slack-compatible incoming webhooks.'),
    timeoutSeconds: seconds('A request that has not answered within this time fails (and is retried).', 10),
    retries,
  })
  .refine((v) => Boolean(v.url) !== Boolean(v.urlEnv), { error: 'expected exactly one of "url" or "urlEnv"' })
  .describe('HTTP POST of every alert and digest.');

export const SmtpChannelSchema = z
  .strictObject({
    type: z.literal('smtp'),
    name: channelName,
    host: nonEmpty('an SMTP host name'),
    port: wholeNumber(1).max(65_535).optional().describe('Default 465 with "tls": "implicit", else 587.'),
    tls: z
      .enum(['starttls', 'implicit', 'none'], {
        error: (iss) => `expected "starttls", "implicit" or "none", got ${show(iss.input)}`,
      })
      .default('starttls')
      .describe(
        '"starttls": upgrade the connection and refuse a server that cannot; "implicit": TLS from the first byte (port 465); "none": plain text (loopback relays only).',
      ),
    caFile: z
      .string()
      .optional()
      .describe('PEM file of the CA that signed the server certificate (relative to the config file).'),
    user: z.string().optional().describe('Login name; with it, "passwordEnv" or "passwordSecret".'),
    passwordEnv: envName.optional().describe('Env variable holding the SMTP password.'),
    passwordSecret: secretArn.optional().describe('Secrets Manager ARN holding the SMTP password.'),
    from: nonEmpty('a sender address'),
    to: z
      .array(z.email({ error: (iss) => `expected an e-mail address, got ${show(iss.input)}` }))
      .min(1, { error: 'expected at least one recipient' }),
    timeoutSeconds: seconds('A connection or command that takes longer fails (and is retried).', 30),
    retries,
  })
  .refine((v) => !(v.passwordEnv && v.passwordSecret), {
    error: 'expected at most one of "passwordEnv" or "passwordSecret"',
  })
  .refine((v) => Boolean(v.user) === Boolean(v.passwordEnv || v.passwordSecret), {
    error:
      'expected "user" together with "passwordEnv" or "passwordSecret" (the password never goes in the config)',
  })
  .describe('E-mail over SMTP (nodemailer).');

export const CommandChannelSchema = z
  .strictObject({
    type: z.literal('command'),
    name: channelName,
    command: z
      .array(nonEmpty('a program or argument'), { error: 'expected ["program", "arg", …]' })
      .min(1, { error: 'expected ["program", "arg", …]' })
      .describe('Program and arguments (no shell); the event arrives as JSON on stdin. Exit 0 = delivered.'),
    env: z
      .array(envName)
      .default([])
      .describe("Variables of dumpvault's environment the command gets besides PATH, HOME, locale and TZ."),
    timeoutSeconds: seconds('The command is killed after this time (and retried).', 30),
    retries,
  })
  .describe('A program that receives every alert and digest on stdin.');

export const ChannelSchema = z.discriminatedUnion(
  'type',
  [WebhookChannelSchema, SmtpChannelSchema, CommandChannelSchema],
  {
    error: (iss) => `expected a channel with "type": "webhook", "smtp" or "command", got ${show(iss.input)}`,
  },
);

const channels = z
  .array(ChannelSchema, { error: 'expected a list of channels' })
  .min(1, { error: 'expected at least one channel' });

/** A job's own channels: its alerts go to them and to the global ones. */
export const JobNotifySchema = z
  .strictObject({ channels })
  .describe("Local mode (CLI and serve): channels for this job's alerts, in addition to the global ones.");

export const NotifySchema = z
  .strictObject({
    channels,
    digest: DigestTimeSchema.optional().describe(
      'Once a day `dumpvault serve` sends one message summarising every job.',
    ),
  })
  .describe(
    'Local mode (CLI and serve): where alerts (one per outage and per new cause, then one "recovered") and digests go, besides .dumpvault/alerts.log. In AWS alerts go to the SNS topic.',
  );

export type ChannelConfig = z.output<typeof ChannelSchema>;
export type NotifyConfig = z.output<typeof NotifySchema>;
