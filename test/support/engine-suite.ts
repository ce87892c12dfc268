/**
 * The contract of core/engine.ts as tests every database engine must pass, like
 * test/support/destination-suite.ts for destinations: dump → the format's completeness check
 * finds the dump complete and counts its objects → restore into a fresh scratch target → the
 * target holds what the source held; a dump cut short is found incomplete; a dump tool that
 * fails half-way fails the dump loudly (a ToolError naming the tool), never ends it cleanly.
 *
 * Each engine's fixture hands the suite a source holding data and a way to read a database's
 * content. The real engines run against the real servers and tools on this machine; the
 * MongoDB engine runs against the stand-in tools of scripts/emulators/mongodb, and its suite
 * says so in its title.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Connection, DumpOptions, Engine } from '../../core/engine.ts';
import { ToolError } from '../../core/errors.ts';
import type { ObjectCounts } from '../../core/formats/checker.ts';
import { collect, rejectionOf } from '../integration/engines/support.ts';

/** One engine, a source database with data, and how to read and break it. */
export interface EngineFixture {
  readonly engine: Engine;
  readonly source: Connection;
  readonly options: DumpOptions;
  /** The objects a complete dump of the source defines; undefined when the format records none (MongoDB). */
  readonly objects: ObjectCounts | undefined;
  /** What a database holds (row counts and a checksum per table, or what the stand-in stored). */
  content(conn: Connection): Promise<string> | string;
  /**
   * Sets up the environment in which the next dump tool writes part of the dump (about half
   * of a good dump's `dumpBytes` bytes) and then exits non-zero; returns how the error must describe it.
   */
  breakDumpTool(dumpBytes: number): RegExp;
  /** Undoes {@link breakDumpTool}. */
  repairDumpTool(): void;
  dispose(): Promise<void>;
}

/** Runs the engine contract against the fixture `factory` makes (one per suite: databases are slow to make). */
export function describeEngine(name: string, factory: () => Promise<EngineFixture>): void {
  describe(`${name} (engine contract)`, () => {
    let fixture: EngineFixture;
    let dump: Buffer;

    beforeAll(async () => {
      fixture = await factory();
      dump = await collect(fixture.engine.dump(fixture.source, fixture.options).output);
    });

    afterAll(async () => {
      await fixture?.dispose();
    });

    const check = (bytes: Buffer) => {
      const checker = fixture.engine.dumpChecker(fixture.options);
      // In 64 KiB chunks, as a dump tool's pipe delivers it: a checker must not need one buffer.
      for (let at = 0; at < bytes.length; at += 65_536) checker.write(bytes.subarray(at, at + 65_536));
      return checker.finish();
    };

    it('writes a dump its completeness check finds complete, counting the objects the source holds', async () => {
      const verdict = check(dump);

      expect(verdict).toEqual(
        fixture.objects === undefined ? { complete: true } : { complete: true, objects: fixture.objects },
      );
      if (fixture.objects !== undefined && fixture.engine.objects) {
        expect(await fixture.engine.objects(fixture.source)).toEqual(fixture.objects);
      }
    });

    it('finds a dump cut short incomplete, saying what is missing (a tool that stopped and exited 0)', () => {
      for (const kept of [0.6, 0.99]) {
        const verdict = check(dump.subarray(0, Math.floor(dump.length * kept)));

        expect(verdict, `${kept * 100} % of the dump`).toMatchObject({
          complete: false,
          missing: expect.any(String),
        });
      }
    });

    it('restores into a fresh, empty scratch target that then holds what the source holds', async () => {
      const { engine, source } = fixture;
      const scratch = await engine.createScratch(source, `contract-${Date.now().toString(36)}`);
      try {
        expect(await engine.isEmpty(scratch)).toBe(true);

        await engine.restore(scratch, Readable.from([dump]), {
          drop: false,
          dumpFormat: engine.dumpFormat(fixture.options),
        });

        expect(await fixture.content(scratch)).toEqual(await fixture.content(source));
        expect(await engine.stats(scratch)).toEqual(await engine.stats(source));
        if (fixture.objects !== undefined && engine.objects) {
          expect(await engine.objects(scratch)).toEqual(fixture.objects);
        }
      } finally {
        await engine.dropScratch(scratch);
      }
    });

    it('fails the dump with a ToolError naming the tool when the tool exits non-zero half-way', async () => {
      const cause = fixture.breakDumpTool(dump.length);
      try {
        const session = fixture.engine.dump(fixture.source, fixture.options);
        session.stats.catch(() => {});
        const error = await rejectionOf(collect(session.output));

        expect(error).toBeInstanceOf(ToolError);
        expect(error.message).toMatch(cause);
      } finally {
        fixture.repairDumpTool();
      }
    });
  });
}
