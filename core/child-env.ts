/**
 * The environment of every child process dumpvault starts. A child gets an allow-list of the
 * parent's variables, never the whole environment: dumpvault's own process holds passphrases
 * (DUMPVAULT_*), cloud credentials (AWS_*) and the variables jobs read their passwords from,
 * and a compressor or a dump tool needs none of them. A tool that crashes, logs its
 * environment or is inspected through /proc/<pid>/environ cannot leak what it never had. A
 * child's own secret (PGPASSWORD, MYSQL_PWD) reaches it only through its spawn's `env`.
 */

/**
 * Parent variables every child inherits: how programs and files are found (PATH, HOME for
 * ~/.pgpass and ~/.my.cnf), who runs them, locale, time zone, the temp directory, and where
 * TLS trust and Kerberos settings live (paths, not secrets).
 */
const COMMON = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  'KRB5_CONFIG',
  'KRB5CCNAME',
] as const;

/**
 * The database tools' own settings that hold no secret: libpq's environment variables
 * (PostgreSQL 17 documentation, "Environment Variables", without PGPASSWORD), the MariaDB /
 * MySQL clients' (without MYSQL_PWD) and zstd's. Listed by name rather than by prefix, so a
 * variable such as `PGP_PASSPHRASE` or `MYSQL_ROOT_PASSWORD` is never mistaken for one.
 */
const TOOL_SETTINGS = [
  'PGHOST',
  'PGHOSTADDR',
  'PGPORT',
  'PGDATABASE',
  'PGUSER',
  'PGPASSFILE',
  'PGREQUIREAUTH',
  'PGCHANNELBINDING',
  'PGSERVICE',
  'PGSERVICEFILE',
  'PGOPTIONS',
  'PGAPPNAME',
  'PGSSLMODE',
  'PGREQUIRESSL',
  'PGSSLNEGOTIATION',
  'PGSSLCOMPRESSION',
  'PGSSLCERT',
  'PGSSLKEY',
  'PGSSLCERTMODE',
  'PGSSLROOTCERT',
  'PGSSLCRL',
  'PGSSLCRLDIR',
  'PGSSLSNI',
  'PGREQUIREPEER',
  'PGSSLMINPROTOCOLVERSION',
  'PGSSLMAXPROTOCOLVERSION',
  'PGGSSENCMODE',
  'PGKRBSRVNAME',
  'PGGSSLIB',
  'PGGSSDELEGATION',
  'PGCONNECT_TIMEOUT',
  'PGCLIENTENCODING',
  'PGTARGETSESSIONATTRS',
  'PGLOADBALANCEHOSTS',
  'PGDATESTYLE',
  'PGTZ',
  'PGGEQO',
  'PGSYSCONFDIR',
  'PGLOCALEDIR',
  'MYSQL_HOST',
  'MYSQL_TCP_PORT',
  'MYSQL_UNIX_PORT',
  'MYSQL_HOME',
  'MARIADB_HOME',
  'MYSQL_GROUP_SUFFIX',
  'MYSQL_TEST_LOGIN_FILE',
  'ZSTD_CLEVEL',
  'ZSTD_NBTHREADS',
] as const;

const INHERITED = new Set<string>([...COMMON, ...TOOL_SETTINGS]);

/**
 * Names an operator adds to the allow-list (comma or space separated), e.g. LD_LIBRARY_PATH for
 * tools installed outside the standard directories, or the controls of a stand-in tool in tests.
 */
export const CHILD_ENV_EXTRA = 'DUMPVAULT_CHILD_ENV';

function inherited(name: string, extra: ReadonlySet<string>): boolean {
  return INHERITED.has(name) || name.startsWith('LC_') || extra.has(name);
}

/**
 * The environment to start a child with: the allowed part of `parent` (see the module comment)
 * and `own`, the child's own variables (its password, its timeouts), which win. Variables of
 * `own` set to undefined are left out.
 */
export function childEnvironment(
  own: Readonly<Record<string, string | undefined>> = {},
  parent: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const extra = new Set((parent[CHILD_ENV_EXTRA] ?? '').split(/[\s,]+/).filter(Boolean));
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(parent)) {
    if (value !== undefined && inherited(name, extra)) env[name] = value;
  }
  for (const [name, value] of Object.entries(own)) {
    if (value !== undefined) env[name] = value;
  }
  return env;
}
