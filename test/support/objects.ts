/**
 * Databases that hold every kind of object a dump carries (tables, partitions, views,
 * materialized views, functions, procedures, aggregates, triggers, sequences, identity
 * columns, large objects, events, virtual tables), with the object counts a complete dump of
 * them must show. For the completeness checkers and the manifest's object counts.
 */
import { mariadb, psql, sqlite, uniqueName } from './databases.ts';

/** The object counts of {@link createPostgresObjectsDb}. */
export const PG_OBJECTS = { tables: 5, views: 2, routines: 3, triggers: 2, sequences: 3 } as const;

/**
 * A PostgreSQL database with `rows` rows in its main table. Counted: tables t, e (empty), idt,
 * parted and its partition part1; views v1 and mv (materialized); routines f1, p1 and trg (not
 * the aggregate, not pgcrypto's members); triggers tr1 and tr2 (not the clone of tr2 on the
 * partition); sequences s1, t_id_seq (serial) and idt_id_seq (identity).
 */
export function createPostgresObjectsDb(rows = 1000, name = uniqueName('dvt_pgobj')): string {
  psql('postgres', `CREATE DATABASE ${name}`);
  psql(
    name,
    `CREATE TABLE t (id serial PRIMARY KEY, v text);
     INSERT INTO t (v) SELECT md5(i::text) FROM generate_series(1, ${rows}) i;
     CREATE TABLE e (id int);
     CREATE TABLE idt (id int GENERATED ALWAYS AS IDENTITY, x int);
     CREATE SEQUENCE s1;
     CREATE VIEW v1 AS SELECT * FROM t;
     CREATE MATERIALIZED VIEW mv AS SELECT count(*) FROM t;
     CREATE FUNCTION f1() RETURNS int LANGUAGE sql AS 'SELECT 1';
     CREATE PROCEDURE p1() LANGUAGE sql AS 'SELECT 1';
     CREATE AGGREGATE myagg (int) (sfunc = int4pl, stype = int);
     CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
     CREATE TRIGGER tr1 BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION trg();
     CREATE TABLE parted (id int, k int) PARTITION BY RANGE (k);
     CREATE TABLE part1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
     CREATE TRIGGER tr2 AFTER INSERT ON parted FOR EACH ROW EXECUTE FUNCTION trg();
     INSERT INTO parted VALUES (1, 1);
     SELECT lo_from_bytea(0, 'a large object');
     CREATE EXTENSION IF NOT EXISTS pgcrypto;`,
  );
  return name;
}

/** The object counts of {@link createMariaObjectsDb}. */
export const MARIA_OBJECTS = { tables: 2, views: 1, routines: 2, triggers: 1, sequences: 1 } as const;

/**
 * A MariaDB database: tables t (`rows` rows, one with a newline and a CREATE inside a string)
 * and e (MyISAM, empty), view v1, sequence s1, procedure p1, function f1, trigger tr1, event ev1.
 */
export function createMariaObjectsDb(rows = 1000, name = uniqueName('dvt_myobj')): string {
  mariadb(undefined, `CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
  mariadb(
    name,
    `CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v TEXT);
     INSERT INTO t (v) SELECT MD5(seq) FROM seq_1_to_${rows};
     INSERT INTO t (v) VALUES ('line one\\n-- Table structure for table \`fake\`\\nCREATE TABLE fake (x int);');
     CREATE TABLE e (id INT) ENGINE=MyISAM;
     CREATE VIEW v1 AS SELECT * FROM t;
     CREATE SEQUENCE s1;
     DELIMITER //
     CREATE PROCEDURE p1() BEGIN SELECT 1; END//
     CREATE FUNCTION f1() RETURNS INT DETERMINISTIC RETURN 1//
     CREATE TRIGGER tr1 BEFORE INSERT ON t FOR EACH ROW SET NEW.v = NEW.v//
     CREATE EVENT ev1 ON SCHEDULE EVERY 1 DAY DO SELECT 1//
     DELIMITER ;`,
  );
  return name;
}

/** The object counts of {@link createSqliteObjectsDb}. */
export const SQLITE_OBJECTS = { tables: 7, views: 1, triggers: 1 } as const;

/**
 * A SQLite file: tables lower_t (`rows` rows, written in lower case, one value with newlines
 * and a CREATE TABLE inside) and "Weird ""name""", an FTS5 virtual table (not counted; its
 * five shadow tables are), view lv, trigger tg, an index.
 */
export function createSqliteObjectsDb(file: string, rows = 1000): void {
  sqlite(
    file,
    `create   table lower_t (id integer primary key autoincrement, v text);
     CREATE TABLE "Weird ""name""" (x);
     WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
     INSERT INTO lower_t (v) SELECT hex(randomblob(16)) FROM n;
     INSERT INTO lower_t (v) VALUES ('multi' || char(10) || 'CREATE TABLE fake(x);' || char(10) || 'line');
     create view lv as select * from lower_t;
     CREATE TRIGGER tg AFTER INSERT ON lower_t BEGIN SELECT 1; END;
     CREATE INDEX ix ON lower_t(v);
     CREATE VIRTUAL TABLE ft USING fts5(body);
     INSERT INTO ft VALUES ('hello');`,
  );
}
