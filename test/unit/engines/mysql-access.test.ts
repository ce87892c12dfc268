/**
 * Reading SHOW GRANTS into "can this user read every table, view, trigger, event and routine of
 * the database": the rules mariadb-dump / mysqldump silently obey (they leave out what the user
 * may not read and exit 0). MariaDB lines are as 10.11 prints them; MySQL 8 lines as its
 * documentation shows them (no MySQL server here).
 */
import { describe, expect, it } from 'vitest';
import {
  type AccessFacts,
  accountOf,
  coversDatabase,
  parseGrants,
  serverKind,
  unreadableSentences,
} from '../../../task-image/engines/mysql-access.ts';

const MARIADB = serverKind('10.11.19-MariaDB-0+deb12u1');
const README_GRANTS = [
  'GRANT USAGE ON *.* TO `backup`@`%`',
  'GRANT SELECT, SHOW VIEW, EVENT, TRIGGER ON `app`.* TO `backup`@`%`',
  'GRANT SELECT ON `mysql`.`proc` TO `backup`@`%`',
];

function facts(grants: string[], more: Partial<AccessFacts> = {}): AccessFacts {
  return {
    database: 'app',
    user: 'backup@%',
    server: MARIADB,
    grants: parseGrants(grants),
    unreadable: { tables: [], views: [], routines: [] },
    ...more,
  };
}

describe('parseGrants', () => {
  it('reads database, table and global grants; skips roles, routines, proxies and column lists', () => {
    const grants = parseGrants([
      'GRANT `reader` TO `backup`@`%`',
      'GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION',
      'GRANT PROXY ON ``@`%` TO `root`@`localhost` WITH GRANT OPTION',
      'GRANT SELECT, LOCK TABLES ON `a``b`.* TO `backup`@`%`',
      'GRANT SELECT (`id`, `name`), INSERT ON `app`.`t` TO `backup`@`%`',
      'GRANT EXECUTE ON PROCEDURE `app`.`p` TO `backup`@`%`',
      'SET DEFAULT ROLE `reader` FOR `backup`@`%`',
    ]);

    expect(grants).toEqual([
      { revoke: false, privileges: new Set(['ALL']), database: '*', table: '*' },
      { revoke: false, privileges: new Set(['SELECT', 'LOCK TABLES']), database: 'a`b', table: '*' },
      { revoke: false, privileges: new Set(['INSERT']), database: 'app', table: 't' },
    ]);
  });

  it('matches wildcard database grants and honours MySQL partial revokes', () => {
    const wildcard = parseGrants(['GRANT SELECT ON `app\\_%`.* TO `b`@`%`']);
    expect(coversDatabase(wildcard, 'SELECT', 'app_eu')).toBe(true);
    expect(coversDatabase(wildcard, 'SELECT', 'appXeu')).toBe(false);

    const revoked = parseGrants([
      'GRANT SELECT, SHOW_ROUTINE ON *.* TO `b`@`%`',
      'GRANT BACKUP_ADMIN,SHOW_ROUTINE ON *.* TO `b`@`%`',
      'REVOKE SELECT ON `app`.* FROM `b`@`%`',
    ]);
    expect(coversDatabase(revoked, 'SELECT', 'app')).toBe(false);
    expect(coversDatabase(revoked, 'SELECT', 'other')).toBe(true);
  });
});

describe('unreadableSentences', () => {
  it('finds nothing wrong with the README grants, or with ALL PRIVILEGES on *.*', () => {
    expect(unreadableSentences(facts(README_GRANTS))).toEqual([]);
    expect(unreadableSentences(facts(['GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`']))).toEqual([]);
  });

  it('names the routines (and the grant) when the user cannot read mysql.proc', () => {
    const sentences = unreadableSentences(
      facts(README_GRANTS.slice(0, 2), {
        unreadable: { tables: [], views: [], routines: ['PROCEDURE `p`'] },
      }),
    );

    expect(sentences).toEqual([
      "The backup user cannot see the stored procedures and functions of `app` that it did not define, and the dump would leave them out without a word (it cannot read PROCEDURE `p`); GRANT SELECT ON mysql.proc TO 'backup'@'%'.",
    ]);
  });

  it('gives one sentence per kind: tables, views, triggers, events', () => {
    const sentences = unreadableSentences(
      facts(['GRANT SELECT ON `app`.`t1` TO `backup`@`%`', 'GRANT SELECT ON `mysql`.* TO `backup`@`%`'], {
        unreadable: { tables: ['t2'], views: ['v'], routines: [] },
      }),
    );

    expect(sentences).toHaveLength(4);
    expect(sentences[0]).toMatch(
      /cannot read every table and view of `app`: .*it cannot read `t2`; GRANT SELECT ON `app`\.\* TO 'backup'@'%'\.$/,
    );
    expect(sentences[1]).toBe(
      "The backup user cannot read the definition of these views of `app`: `v`; GRANT SHOW VIEW ON `app`.* TO 'backup'@'%'.",
    );
    expect(sentences[2]).toMatch(
      /cannot see the triggers of `app` .*; GRANT TRIGGER ON `app`\.\* TO 'backup'@'%'\.$/,
    );
    expect(sentences[3]).toBe(
      "The backup user cannot read the events of `app`; GRANT EVENT ON `app`.* TO 'backup'@'%'.",
    );
  });

  it('asks MariaDB 11.3+ for SHOW CREATE ROUTINE and MySQL 8.0.20+ for SHOW_ROUTINE', () => {
    const base = README_GRANTS.slice(0, 2);
    const newer = unreadableSentences(facts(base, { server: serverKind('11.4.2-MariaDB') }));
    expect(newer[0]).toContain("GRANT SHOW CREATE ROUTINE ON `app`.* TO 'backup'@'%'.");
    expect(
      unreadableSentences(
        facts([...base, 'GRANT SHOW CREATE ROUTINE ON `app`.* TO `backup`@`%`'], {
          server: serverKind('11.4.2-MariaDB'),
        }),
      ),
    ).toEqual([]);

    const mysql = serverKind('8.0.36');
    expect(unreadableSentences(facts(base, { server: mysql }))[0]).toContain(
      "GRANT SHOW_ROUTINE ON *.* TO 'backup'@'%'.",
    );
    expect(
      unreadableSentences(facts([...base, 'GRANT SHOW_ROUTINE ON *.* TO `backup`@`%`'], { server: mysql })),
    ).toEqual([]);
  });

  it('quotes the account as GRANT takes it', () => {
    expect(accountOf("o'neil@10.0.%")).toBe("'o\\'neil'@'10.0.%'");
  });
});
