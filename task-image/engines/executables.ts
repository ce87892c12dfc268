/**
 * Locating command-line tools. Engines need to know which of several interchangeable tools
 * exists (mariadb-dump or mysqldump) before they spawn one, and to say plainly when none does.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { ToolError } from '../../core/errors.ts';

/** True when `file` exists and is executable by this process. */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The full path of the first of `names` found on PATH (in `names` order), or undefined. */
export async function findOnPath(
  names: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string | undefined> {
  const dirs = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (await isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/**
 * Like {@link findOnPath} but throws a ToolError naming the package to install when none of
 * `names` exists.
 */
export async function requireTool(
  names: readonly string[],
  install: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const found = await findOnPath(names, env);
  if (found) return found;
  throw new ToolError(`${names.join(' or ')} is not installed or not on PATH; install ${install}`);
}
