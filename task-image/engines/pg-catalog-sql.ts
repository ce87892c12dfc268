/**
 * The SQL the PostgreSQL engine runs against the catalog: row and object counts, the
 * emptiness check before a restore, and the wipe of a --drop restore.
 */
import { LOCK_WAIT_TIMEOUT_SECONDS } from '../../core/contracts/timeouts.ts';

/** Exact row counts of every user table; partitions are counted through their root table. */
export function countRowsSql(serverVersionNum: number): string {
  const notPartition = serverVersionNum >= 100000 ? 'AND NOT c.relispartition' : '';
  const kinds = serverVersionNum >= 100000 ? "('r', 'p')" : "('r')";
  return `SELECT coalesce(json_object_agg(t.name, t.n), '{}') FROM (
  SELECT format('%s.%s', n.nspname, c.relname) AS name,
    (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint AS n
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ${kinds} ${notPartition}
    AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1) t;`.replace(/\s*\n\s*/g, ' ');
}

/**
 * How many tables, views, routines, triggers and sequences a database holds, counted the way
 * the dump checkers count pg_dump's TOC entries (core/formats/pg-custom.ts, pg-plain.ts): user
 * schemas only, extension members excluded; tables include partitioned tables and partitions,
 * views include materialized views, routines are functions and procedures (not aggregates),
 * triggers are those pg_dump writes (not internal ones, not a partition's clone of its parent's).
 */
export function countObjectsSql(serverVersionNum: number): string {
  const tableKinds = serverVersionNum >= 100000 ? "('r', 'p')" : "('r')";
  const routine = serverVersionNum >= 110000 ? "p.prokind IN ('f', 'p', 'w')" : 'NOT p.proisagg';
  const ownTrigger = serverVersionNum >= 130000 ? 'AND t.tgparentid = 0' : '';
  return `WITH user_ns AS (
  SELECT oid FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'),
ext AS (SELECT classid, objid FROM pg_depend WHERE deptype = 'e'),
rel AS (SELECT c.oid, c.relkind FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_class'::regclass AND ext.objid = c.oid))
SELECT json_build_object(
  'tables', (SELECT count(*) FROM rel WHERE relkind IN ${tableKinds}),
  'views', (SELECT count(*) FROM rel WHERE relkind IN ('v', 'm')),
  'routines', (SELECT count(*) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
    WHERE ${routine}
      AND NOT EXISTS (SELECT 1 FROM ext WHERE ext.classid = 'pg_proc'::regclass AND ext.objid = p.oid)),
  'triggers', (SELECT count(*) FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid
    WHERE NOT t.tgisinternal ${ownTrigger}),
  'sequences', (SELECT count(*) FROM rel WHERE relkind = 'S'));`.replace(/\s*\n\s*/g, ' ');
}

/** Counts user objects that a restore could collide with (extension members excluded). */
export const COUNT_USER_OBJECTS_SQL = `WITH user_ns AS (
  SELECT oid, nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT (SELECT count(*) FROM pg_class c JOIN user_ns n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c') AND c.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM pg_proc p JOIN user_ns n ON n.oid = p.pronamespace
          WHERE p.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM pg_type t JOIN user_ns n ON n.oid = t.typnamespace
          WHERE t.typtype IN ('e', 'd', 'r') AND t.oid NOT IN (SELECT objid FROM ext))
     + (SELECT count(*) FROM user_ns n WHERE n.nspname <> 'public' AND n.oid NOT IN (SELECT objid FROM ext));`.replace(
  /\s*\n\s*/g,
  ' ',
);

/**
 * Empties a database of everything pg_dump could have written, so that what the dump then
 * creates is all there is: event triggers, publications, extensions (except those every
 * database is created with: OID below FirstNormalObjectId, which pg_dump leaves out too), every
 * schema but public, every object in public, large objects, and the casts, foreign servers
 * and foreign-data wrappers no extension owns. public itself stays (pg_dump does not create
 * it), with its owner and privileges. Objects that another object owns (a range type's
 * constructors, a table's row type) go with their owner. It runs in the restore's transaction,
 * so a drop that is refused ("must be owner of …") rolls everything back; its lock waits are
 * bounded like the dump's.
 */
export const WIPE_DATABASE_SQL = `SET client_min_messages = warning;
SET LOCAL lock_timeout = '${LOCK_WAIT_TIMEOUT_SECONDS}s';
DO $dumpvault_wipe$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT evtname FROM pg_event_trigger LOOP
    EXECUTE format('DROP EVENT TRIGGER %I', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_publication LOOP
    EXECUTE format('DROP PUBLICATION %I', r.pubname);
  END LOOP;
  FOR r IN SELECT extname FROM pg_extension WHERE oid >= 16384 LOOP
    EXECUTE format('DROP EXTENSION IF EXISTS %I CASCADE', r.extname);
  END LOOP;
  FOR r IN SELECT nspname FROM pg_namespace
      WHERE nspname !~ '^pg_' AND nspname NOT IN ('information_schema', 'public') LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT o.type, o.identity FROM pg_depend d, pg_identify_object(d.classid, d.objid, 0) o
      WHERE d.refclassid = 'pg_namespace'::regclass AND d.deptype = 'n'
        AND d.refobjid = (SELECT oid FROM pg_namespace WHERE nspname = 'public')
        AND NOT EXISTS (SELECT 1 FROM pg_depend x
          WHERE x.classid = d.classid AND x.objid = d.objid AND x.deptype IN ('i', 'e')
            AND (x.refclassid, x.refobjid) <> (d.classid, d.objid)) LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE',
      CASE r.type WHEN 'statistics object' THEN 'STATISTICS' ELSE upper(r.type) END, r.identity);
  END LOOP;
  PERFORM lo_unlink(oid) FROM pg_largeobject_metadata;
  FOR r IN SELECT c.castsource::regtype AS source, c.casttarget::regtype AS target FROM pg_cast c
      WHERE c.oid >= 16384 AND NOT EXISTS (SELECT 1 FROM pg_depend x
        WHERE x.classid = 'pg_cast'::regclass AND x.objid = c.oid AND x.deptype = 'e') LOOP
    EXECUTE format('DROP CAST IF EXISTS (%s AS %s) CASCADE', r.source, r.target);
  END LOOP;
  FOR r IN SELECT s.srvname FROM pg_foreign_server s LOOP
    EXECUTE format('DROP SERVER IF EXISTS %I CASCADE', r.srvname);
  END LOOP;
  FOR r IN SELECT w.fdwname FROM pg_foreign_data_wrapper w WHERE NOT EXISTS (SELECT 1 FROM pg_depend x
      WHERE x.classid = 'pg_foreign_data_wrapper'::regclass AND x.objid = w.oid AND x.deptype = 'e') LOOP
    EXECUTE format('DROP FOREIGN DATA WRAPPER IF EXISTS %I CASCADE', r.fdwname);
  END LOOP;
END
$dumpvault_wipe$;
`;
