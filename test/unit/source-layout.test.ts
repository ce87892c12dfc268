/**
 * The shape of the source tree that issue 18 asked for, checked on every run so it stays: no
 * import cycles, the layers of DESIGN.md §2 (core imports none of the task, the functions, infra
 * or scripts; the functions never import the task; infra reaches the functions and the task only
 * as asset paths; core/crypto does not lean on core/pipeline), no source file over 400 lines,
 * and file names in one case (kebab-case).
 * Bugs caught: `infra/dumpvault.ts` ↔ `infra/restore.ts`-style loops (also through a lazy
 * `import()`: core/storage/index.ts ↔ load.ts), a helper of the task
 * imported into core, a 900-line file growing back.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(import.meta.dirname, '..', '..');
const SOURCE_FOLDERS = ['core', 'functions', 'infra', 'task-image', 'scripts'] as const;
const MAX_LINES = 400;

/** Every TypeScript source file of the folders above (relative to the repository). */
function sources(): string[] {
  return SOURCE_FOLDERS.flatMap((dir) =>
    readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(ts|mts|cts)$/.test(f) && !f.split(path.sep).includes('node_modules'))
      .map((f) => path.join(dir, f)),
  ).sort();
}

interface Imports {
  /** Static imports and re-exports, type-only ones too. */
  readonly static: string[];
  /**
   * `import()` calls: a lazy edge, followed only when called (how a cloud SDK stays out of a
   * file backup's start-up, core/storage/load.ts). A loop through one is still a loop a reader
   * has to untangle, so cycles and layers count them too.
   */
  readonly dynamic: string[];
}

/** The repository files `file` imports, from its relative specifiers. */
function importsOf(file: string, known: ReadonlySet<string>): Imports {
  const text = readFileSync(path.join(root, file), 'utf8');
  const resolved = (specifier: string) => {
    const target = path.normalize(path.join(path.dirname(file), specifier));
    return known.has(target) ? target : target.replace(/\.js$/, '.ts');
  };
  const matches = (pattern: RegExp) =>
    [...text.matchAll(pattern)].map((m) => resolved(m[1]!)).filter((target) => known.has(target));
  return {
    static: matches(/^\s*(?:import|export)\b[^;'"]*?\bfrom\s+['"](\.[^'"]+)['"]/gm),
    dynamic: matches(/\bimport\s*\(\s*['"](\.[^'"]+)['"]\s*\)/g),
  };
}

/** The import graph of the source files. */
function importGraph(): Map<string, Imports> {
  const files = sources();
  const known = new Set(files);
  return new Map(files.map((file) => [file, importsOf(file, known)]));
}

/** The strongly connected components with more than one file (Tarjan): every import cycle. */
function cycles(graph: ReadonlyMap<string, Imports>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    const imports = graph.get(v);
    for (const w of [...(imports?.static ?? []), ...(imports?.dynamic ?? [])]) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

/** `from → to` for every import of a file under `from` into a file under `to`. */
function crossings(graph: ReadonlyMap<string, Imports>, from: string, to: string): string[] {
  const under = (file: string, dir: string) => file.startsWith(`${dir}${path.sep}`);
  return [...graph].flatMap(([file, imports]) =>
    under(file, from)
      ? [...imports.static, ...imports.dynamic].filter((t) => under(t, to)).map((t) => `${file} → ${t}`)
      : [],
  );
}

describe('the source tree', () => {
  const graph = importGraph();

  it('finds the imports it checks (the parser still reads this code base)', () => {
    expect(graph.size).toBeGreaterThan(200);
    expect(graph.get(path.join('core', 'pipeline', 'backup.ts'))?.static).toContain(
      path.join('core', 'pipeline', 'finish-run.ts'),
    );
    expect(graph.get(path.join('core', 'storage', 'load.ts'))?.dynamic).toContain(
      path.join('core', 'storage', 's3-create.ts'),
    );
  });

  it('has no import cycles', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('keeps the layers: core imports none of the task, functions, infra or scripts; functions never the task', () => {
    const wrong = [
      ...['task-image', 'functions', 'infra', 'scripts'].flatMap((to) => crossings(graph, 'core', to)),
      ...crossings(graph, 'functions', 'task-image'),
      ...['functions', 'task-image'].flatMap((to) => crossings(graph, 'infra', to)),
      ...crossings(graph, path.join('core', 'crypto'), path.join('core', 'pipeline')),
    ];

    expect(wrong).toEqual([]);
  });

  it(`has no source file over ${MAX_LINES} lines`, () => {
    const long = [...graph.keys()]
      .map((file) => ({ file, lines: readFileSync(path.join(root, file), 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.file}: ${f.lines} lines`);

    expect(long).toEqual([]);
  });

  it('names every source file in kebab-case', () => {
    const misnamed = [...graph.keys()].filter(
      (file) => !/^[a-z0-9]+(-[a-z0-9]+)*(\.[a-z0-9]+)*$/.test(path.basename(file)),
    );

    expect(misnamed).toEqual([]);
  });
});
