/**
 * Can the backup user read everything mariadb-dump / mysqldump must write? The tools skip what
 * the user cannot see without a word: tables it holds no privilege on, triggers of tables
 * without TRIGGER, and — with the usual `GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON app.*` —
 * every stored procedure and function (MariaDB before 11.3 shows routine bodies only to their
 * definer and to users who can read mysql.proc; MySQL 8 only with SHOW_ROUTINE or global SELECT).
 *
 * What the user cannot see, it cannot count either, so the rules are read from its grants
 * (SHOW GRANTS, which on MariaDB includes the grants of its enabled roles), and what it sees
 * but cannot read is named from information_schema, which the server filters per object.
 */

/** One GRANT or REVOKE line of SHOW GRANTS, reduced to what decides coverage. */
export interface GrantLine {
  readonly revoke: boolean;
  /** Upper-case privilege names granted on the whole target; `ALL` for ALL [PRIVILEGES]. */
  readonly privileges: ReadonlySet<string>;
  /** `*` for every database; otherwise a database name or (GRANT only) a LIKE pattern. */
  readonly database: string;
  /** `*` for every table of `database`; otherwise one table. */
  readonly table: string;
}

/** Reads one quoted (`` `a``b` ``, `'a'`, `"a"`) or bare identifier at `at`. */
function readName(text: string, at: number): { name: string; end: number } | undefined {
  const quote = text[at];
  if (quote === '`' || quote === "'" || quote === '"') {
    let name = '';
    for (let i = at + 1; i < text.length; i++) {
      if (text[i] === quote) {
        if (text[i + 1] === quote) {
          name += quote;
          i++;
          continue;
        }
        return { name, end: i + 1 };
      }
      name += text[i];
    }
    return undefined;
  }
  const m = /^(\*|[^\s.`'"]+)/.exec(text.slice(at));
  return m ? { name: m[1]!, end: at + m[1]!.length } : undefined;
}

/** Index of ` ON ` outside quotes and parentheses (column lists), or -1. */
function onKeyword(text: string): number {
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '`' || c === "'" || c === '"') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (depth === 0 && text.startsWith(' ON ', i)) return i;
  }
  return -1;
}

/**
 * The object- and database-level lines of SHOW GRANTS (`GRANT SELECT, TRIGGER ON `app`.* TO …`,
 * MySQL's partial revokes `REVOKE SELECT ON `app`.* FROM …`). Privileges limited to columns
 * (`SELECT (`id`)`) are left out: they never make a whole table readable. Routine-level grants,
 * role grants and anything unrecognised are left out too, so a line this parser misreads can
 * only make access look smaller than it is (the backup then fails and says what to grant).
 */
export function parseGrants(lines: readonly string[]): GrantLine[] {
  const grants: GrantLine[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    const kind = /^(GRANT|REVOKE) /.exec(line);
    if (!kind) continue;
    const rest = line.slice(kind[0].length);
    const on = onKeyword(rest);
    if (on < 0) continue;
    const privileges = new Set<string>();
    let depth = 0;
    let current = '';
    for (const c of `${rest.slice(0, on)},`) {
      if (c === '(') depth++;
      if (c === ')') depth--;
      if (c === ',' && depth === 0) {
        const name = current.trim().toUpperCase();
        // Column privileges read only the named columns.
        if (name && !name.includes('(')) privileges.add(name === 'ALL PRIVILEGES' ? 'ALL' : name);
        current = '';
      } else current += c;
    }
    const target = rest.slice(on + ' ON '.length);
    if (/^(PROCEDURE|FUNCTION|PACKAGE)\s/i.test(target)) continue;
    const database = readName(target, 0);
    if (!database || target[database.end] !== '.') continue;
    const table = readName(target, database.end + 1);
    if (!table) continue;
    grants.push({ revoke: kind[1] === 'REVOKE', privileges, database: database.name, table: table.name });
  }
  return grants;
}

/** MariaDB / MySQL database-grant patterns: `_` and `%` are wildcards, `\` escapes. */
function matchesDatabase(pattern: string, database: string): boolean {
  if (pattern === '*') return true;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's').test(database);
}

const has = (g: GrantLine, privilege: string) => g.privileges.has(privilege) || g.privileges.has('ALL');

/** True when `privilege` holds on every table of `database` (global or database grant, not revoked). */
export function coversDatabase(grants: readonly GrantLine[], privilege: string, database: string): boolean {
  const granted = grants.some(
    (g) => !g.revoke && g.table === '*' && has(g, privilege) && matchesDatabase(g.database, database),
  );
  const revoked = grants.some(
    (g) =>
      g.revoke && g.table === '*' && has(g, privilege) && (g.database === '*' || g.database === database),
  );
  return granted && !revoked;
}

/** True when `privilege` holds on all of `*.*`. */
export function coversGlobal(grants: readonly GrantLine[], privilege: string): boolean {
  return grants.some((g) => !g.revoke && g.database === '*' && has(g, privilege));
}

/** True when `privilege` holds on the table `database`.`table` (by any grant level). */
export function coversTable(
  grants: readonly GrantLine[],
  privilege: string,
  database: string,
  table: string,
): boolean {
  if (coversDatabase(grants, privilege, database)) return true;
  return grants.some((g) => !g.revoke && g.database === database && g.table === table && has(g, privilege));
}

/** The server, as far as the routine privilege rules differ. */
export interface ServerKind {
  readonly mariadb: boolean;
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** `10.11.19-MariaDB-0+deb12u1` → MariaDB 10.11.19; `8.0.36` → MySQL 8.0.36. */
export function serverKind(version: string): ServerKind {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  return {
    mariadb: /mariadb/i.test(version),
    major: Number(m?.[1] ?? 0),
    minor: Number(m?.[2] ?? 0),
    patch: Number(m?.[3] ?? 0),
  };
}

const atLeast = (s: ServerKind, major: number, minor: number, patch = 0) =>
  s.major !== major ? s.major > major : s.minor !== minor ? s.minor > minor : s.patch >= patch;

/**
 * The grant that lets the user see and read every stored procedure and function of a database,
 * as SQL with `{db}` and `{user}` placeholders, and whether the user holds it.
 */
function routineAccess(
  grants: readonly GrantLine[],
  server: ServerKind,
  database: string,
): { holds: boolean; grant: string } {
  if (server.mariadb) {
    // MariaDB shows routine bodies to their definer and to readers of mysql.proc; 11.3 added
    // the SHOW CREATE ROUTINE privilege for the same purpose.
    const holds =
      coversTable(grants, 'SELECT', 'mysql', 'proc') ||
      coversDatabase(grants, 'SHOW CREATE ROUTINE', database);
    return {
      holds,
      grant: atLeast(server, 11, 3)
        ? 'GRANT SHOW CREATE ROUTINE ON {db}.* TO {user}'
        : 'GRANT SELECT ON mysql.proc TO {user}',
    };
  }
  if (server.major < 8) {
    return {
      holds: coversTable(grants, 'SELECT', 'mysql', 'proc'),
      grant: 'GRANT SELECT ON mysql.proc TO {user}',
    };
  }
  // MySQL 8: the definer, SHOW_ROUTINE (8.0.20+), global SELECT, or a routine privilege that
  // covers the routine.
  const holds =
    coversGlobal(grants, 'SELECT') ||
    coversGlobal(grants, 'SHOW_ROUTINE') ||
    ['CREATE ROUTINE', 'ALTER ROUTINE', 'EXECUTE'].some((p) => coversDatabase(grants, p, database));
  return {
    holds,
    grant: atLeast(server, 8, 0, 20)
      ? 'GRANT SHOW_ROUTINE ON *.* TO {user}'
      : 'GRANT SELECT ON *.* TO {user}',
  };
}

/** What the user could see but not read, from information_schema (filtered by the server). */
export interface VisibleButUnreadable {
  /** Tables and views it can see but not SELECT from (only asked when SELECT is not database-wide). */
  readonly tables: readonly string[];
  /** Views whose definition it cannot read (no SHOW VIEW). */
  readonly views: readonly string[];
  /** Routines it can see (EXECUTE, say) whose body it cannot read, as `PROCEDURE name`. */
  readonly routines: readonly string[];
}

export interface AccessFacts {
  readonly database: string;
  /** CURRENT_USER(), `name@host`. */
  readonly user: string;
  readonly server: ServerKind;
  readonly grants: readonly GrantLine[];
  readonly unreadable: VisibleButUnreadable;
}

const quoteIdentifier = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const quoteString = (value: string) => `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** `app@%` → `'app'@'%'`, as GRANT takes it. */
export function accountOf(user: string): string {
  const at = user.lastIndexOf('@');
  return at < 0 ? quoteString(user) : `${quoteString(user.slice(0, at))}@${quoteString(user.slice(at + 1))}`;
}

const list = (names: readonly string[]) => names.map(quoteIdentifier).join(', ');

/**
 * One sentence per kind of object the user cannot read completely, each naming what it cannot
 * read (or that it cannot see it at all) and the GRANT that fixes it; empty when a dump made by
 * this user is complete.
 */
export function unreadableSentences(facts: AccessFacts): string[] {
  const { grants, database } = facts;
  const db = quoteIdentifier(database);
  const user = accountOf(facts.user);
  const grant = (sql: string) => sql.replace('{db}', db).replace('{user}', user);
  const sentences: string[] = [];
  if (!coversDatabase(grants, 'SELECT', database)) {
    const named = facts.unreadable.tables.length
      ? `, and it cannot read ${list(facts.unreadable.tables)}`
      : '';
    sentences.push(
      `The backup user cannot read every table and view of ${db}: without SELECT on the whole database, tables it holds no privilege on are invisible to it and the dump would leave them out${named}; ${grant('GRANT SELECT ON {db}.* TO {user}')}.`,
    );
  }
  if (facts.unreadable.views.length) {
    sentences.push(
      `The backup user cannot read the definition of these views of ${db}: ${list(facts.unreadable.views)}; ${grant('GRANT SHOW VIEW ON {db}.* TO {user}')}.`,
    );
  }
  if (!coversDatabase(grants, 'TRIGGER', database)) {
    sentences.push(
      `The backup user cannot see the triggers of ${db} (the dump would leave out every trigger of a table it holds no TRIGGER privilege on); ${grant('GRANT TRIGGER ON {db}.* TO {user}')}.`,
    );
  }
  if (!coversDatabase(grants, 'EVENT', database)) {
    sentences.push(
      `The backup user cannot read the events of ${db}; ${grant('GRANT EVENT ON {db}.* TO {user}')}.`,
    );
  }
  const routines = routineAccess(grants, facts.server, database);
  if (!routines.holds || facts.unreadable.routines.length) {
    const named = facts.unreadable.routines.length
      ? ` (it cannot read ${facts.unreadable.routines.join(', ')})`
      : '';
    sentences.push(
      `The backup user cannot see the stored procedures and functions of ${db} that it did not define, and the dump would leave them out without a word${named}; ${grant(routines.grant)}.`,
    );
  }
  return sentences;
}
