/// <reference types="node" />
/**
 * `secretIn`: the signing secret kept in a data directory, created once (by
 * the server: `tidemark serve`). `tidemark token` only reads it
 * ({@link existingSecret}): a token signed with a secret the server does not
 * have is refused.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Reads the token signing secret from `<dir>/secret`, creating it on first
 * use: 32 random bytes, base64url, in a file only its owner can read (mode
 * 0600). Every server process using the same data directory then signs and
 * checks the same tokens. `created` says whether this call wrote it, so a
 * caller can tell the operator.
 *
 * @param dir - the data directory (created if missing)
 * @example
 * ```ts
 * import { createHandler, memoryLog, secretIn } from 'tidemark/server';
 * const { secret, created, file } = secretIn('./tidemark-data');
 * if (created) console.error(`created a signing secret in ${file}`);
 * const handler = await createHandler({ log: memoryLog(), secret });
 * ```
 */
export function secretIn(dir: string): { readonly secret: string; readonly created: boolean; readonly file: string } {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'secret');
  let created = false;
  if (!existsSync(file)) {
    try {
      // 'wx': two processes starting at once must not each write their own secret.
      writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
      chmodSync(file, 0o600); // the mode is filtered by the umask
      created = true;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    }
  }
  return { secret: readFileSync(file, 'utf8').trim(), created, file };
}

/**
 * The secret in `<dir>/secret` when the file exists, else `undefined`; never
 * creates anything (the directory included). @internal
 */
export function existingSecret(dir: string): { readonly secret: string; readonly file: string } | undefined {
  const file = join(dir, 'secret');
  if (!existsSync(file)) return undefined;
  return { secret: readFileSync(file, 'utf8').trim(), file };
}
