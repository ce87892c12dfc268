/**
 * A real SMTP server on loopback (smtp-server, port 0) for the e-mail channel: STARTTLS with a
 * self-signed certificate made by openssl for 127.0.0.1, AUTH PLAIN/LOGIN checked against one
 * user, and every accepted message kept (envelope, subject, text).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  readonly from: string;
  readonly to: string[];
  readonly subject: string;
  readonly text: string;
  readonly headers: Record<string, string>;
  /** The session was upgraded with STARTTLS before the message. */
  readonly secure: boolean;
  readonly user?: string;
}

export interface SmtpReceiver {
  readonly port: number;
  /** PEM of the server certificate (self-signed: it is its own CA). */
  readonly caFile: string;
  readonly mails: ReceivedMail[];
  /** AUTH attempts refused (a wrong password), to assert on. */
  readonly refusedLogins: number;
  /** Every AUTH attempt, accepted or not. */
  readonly logins: number;
  stop(): Promise<void>;
}

/** Splits a raw RFC 5322 message into unfolded headers and its body. */
function parseMail(raw: string): { headers: Record<string, string>; text: string } {
  const at = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, at).replace(/\r\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let text = raw.slice(at + 4);
  if (/quoted-printable/i.test(headers['content-transfer-encoding'] ?? '')) {
    text = Buffer.from(
      text
        .replace(/=\r\n/g, '')
        .replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  }
  return { headers, text: text.replace(/\r\n/g, '\n') };
}

/**
 * How the server offers TLS: `starttls` (upgrade on request), `implicit` (TLS from the first
 * byte, as on port 465), or `none` (no STARTTLS offered, and AUTH accepted in clear text: a
 * server a client must refuse to send its password to).
 */
export type SmtpTlsMode = 'starttls' | 'implicit' | 'none';

/** Starts the server on 127.0.0.1 with login `user` / `password`. */
export async function startSmtpReceiver(
  login: { user: string; password: string },
  tls: SmtpTlsMode = 'starttls',
): Promise<SmtpReceiver> {
  const dir = await mkdtemp(path.join(tmpdir(), 'dv-smtp-'));
  const keyFile = path.join(dir, 'key.pem');
  const caFile = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ],
    { stdio: 'ignore' },
  );
  const mails: ReceivedMail[] = [];
  let refusedLogins = 0;
  let logins = 0;
  const server = new SMTPServer({
    key: await readFile(keyFile),
    cert: await readFile(caFile),
    secure: tls === 'implicit',
    ...(tls === 'none' ? { disabledCommands: ['STARTTLS'] } : {}),
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: tls === 'none',
    logger: false,
    onAuth(auth, _session, callback) {
      logins++;
      if (auth.username === login.user && auth.password === login.password)
        return callback(null, { user: auth.username });
      refusedLogins++;
      return callback(new Error('535 authentication failed'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const { headers, text } = parseMail(Buffer.concat(chunks).toString('utf8'));
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          subject: headers['subject'] ?? '',
          text,
          headers,
          secure: session.secure,
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    caFile,
    mails,
    get refusedLogins() {
      return refusedLogins;
    },
    get logins() {
      return logins;
    },
    stop: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
