/**
 * E-mail channel over SMTP (nodemailer). "starttls" refuses a server that does not upgrade the
 * connection, so a password never crosses the network in clear text unless the config says
 * `"tls": "none"`. The password is read when sending and only ever handed to nodemailer.
 */
import { readFile } from 'node:fs/promises';
import { type Channel, NotifyError, type NotifyEvent } from './notifier.ts';

export interface SmtpChannelProps {
  readonly label: string;
  /** Stable across runs and config edits of its address (see Channel.id). @default label */
  readonly id?: string;
  readonly host: string;
  readonly port: number;
  readonly tls: 'starttls' | 'implicit' | 'none';
  /** Absolute path of a PEM CA bundle that signed the server's certificate. */
  readonly caFile?: string | undefined;
  /** Login and password; the password is resolved when sending (env variable or secret). */
  readonly auth?: { readonly user: string; readonly password: () => Promise<string> } | undefined;
  readonly from: string;
  readonly to: readonly string[];
  readonly timeoutMs: number;
  readonly retries: number;
}

/** Sends each event as a plain-text e-mail: the subject as subject, the body as text. */
export class SmtpChannel implements Channel {
  readonly label: string;
  readonly id: string;
  readonly retries: number;

  constructor(private readonly props: SmtpChannelProps) {
    this.label = props.label;
    this.id = props.id ?? props.label;
    this.retries = props.retries;
  }

  async send(event: NotifyEvent): Promise<void> {
    const p = this.props;
    const auth = p.auth ? { user: p.auth.user, pass: await p.auth.password() } : undefined;
    const ca = p.caFile ? await readFile(p.caFile, 'utf8') : undefined;
    // Loaded when a mail is sent: every command that only configures this channel starts
    // without parsing nodemailer's modules (start-up, docs/performance.md).
    const { createTransport } = await import('nodemailer');
    const transport = createTransport({
      host: p.host,
      port: p.port,
      secure: p.tls === 'implicit',
      requireTLS: p.tls === 'starttls',
      ignoreTLS: p.tls === 'none',
      ...(auth ? { auth } : {}),
      ...(ca ? { tls: { ca } } : {}),
      connectionTimeout: p.timeoutMs,
      greetingTimeout: p.timeoutMs,
      socketTimeout: p.timeoutMs,
      // nodemailer's own logger is off: it would print the conversation, AUTH included.
      logger: false,
      debug: false,
    });
    try {
      await transport.sendMail({
        from: p.from,
        to: [...p.to],
        subject: event.subject,
        text: event.body,
        headers: {
          'X-Dumpvault-Event': event.type,
          ...(event.type === 'alert'
            ? { 'X-Dumpvault-Job': event.job, 'X-Dumpvault-Status': event.status }
            : {}),
        },
      });
    } catch (err) {
      const e = err as Error & { code?: string; responseCode?: number };
      // Only the code and SMTP reply code: the server's text may quote what it was sent.
      const why = [e.code, e.responseCode].filter(Boolean).join(' ') || e.name;
      throw new NotifyError(`SMTP ${p.host}:${p.port} refused or unreachable (${why})`, {
        permanent: e.code === 'EAUTH' || (e.responseCode !== undefined && e.responseCode >= 500),
      });
    } finally {
      transport.close();
    }
  }
}
