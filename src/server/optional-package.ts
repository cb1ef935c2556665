/// <reference types="node" />
/**
 * Optional peer dependencies (the NATS client, esbuild), imported on first
 * use: an app that never uses the feature never installs the package, and one
 * that does gets an error naming the command to run.
 *
 * @module
 */
import { MissingDependencyError } from '../errors.js';

/**
 * Runs `load` (a dynamic `import()` of code that needs `packages`). When it
 * fails because one of them is not installed, throws a
 * {@link MissingDependencyError} that says `npm install <packages>`;
 * anything else is rethrown as it is. @internal
 *
 * @param what - the feature, as the message names it ("the JetStream log (--nats)")
 * @param packages - `name@range` of each package the feature needs
 */
export async function loadOptional<T>(what: string, packages: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const { code, message } = err as { code?: unknown; message?: unknown };
    const names = packages.map((p) => p.slice(0, p.lastIndexOf('@')));
    if (code === 'ERR_MODULE_NOT_FOUND' && typeof message === 'string' && names.some((n) => message.includes(`'${n}'`)))
      throw new MissingDependencyError(
        `${what} needs ${names.join(' and ')} (${names.length > 1 ? 'optional peer dependencies' : 'an optional peer dependency'} ` +
          `of tidemark, not installed): run \`npm install ${packages.join(' ')}\``,
        { cause: err },
      );
    throw err;
  }
}
