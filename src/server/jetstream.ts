/// <reference types="node" />
/**
 * `jetStreamLog`, the public entry of the JetStream log. It imports
 * `jetstream-log.ts`, and with it the NATS client (optional peer
 * dependencies), only when called: `tidemark/server` loads without them.
 *
 * @module
 */
import type { JetStreamLog } from './jetstream-log.js';
import type { JetStreamLogOptions } from './jetstream-options.js';
import { loadOptional } from './optional-package.js';

/** What the JetStream log needs, as `npm install` takes them (the versions of package.json's peerDependencies). */
const NATS_PACKAGES = ['@nats-io/transport-node@^3.4.0', '@nats-io/jetstream@^3.4.0'];

/**
 * Opens an {@link EventLog} on a NATS JetStream stream, so that several
 * server processes can ingest into one log: each event is held exactly once
 * per `(clientId, seq)`, whichever process receives it, however often and
 * in whatever order. Creates the stream (file storage, subjects
 * `<subjectPrefix>.events.*`) or binds to an existing one whose subjects
 * capture them, and reads each client's last message to learn what it
 * holds.
 *
 * A batch larger than one message (the server's `max_payload`, 1 MB by
 * default) is published as several; if the process fails between them, the
 * first ones are kept and a retry of the batch appends only the rest.
 *
 * The NATS client packages are optional peer dependencies of tidemark, loaded
 * on the first call: install them to use this log
 * (`npm install @nats-io/transport-node@^3.4.0 @nats-io/jetstream@^3.4.0`).
 *
 * Appends reject with a {@link StorageError} while the connection is down or
 * when JetStream does not answer within `timeoutMs`; retrying them is safe.
 *
 * @param options - Where NATS is, the stream and subject prefix, time limits.
 * @returns The log, once the stream is bound and every client's progress read.
 * @throws {@link MissingDependencyError} when the NATS client packages are not installed;
 *   {@link StorageError} when NATS cannot be reached or JetStream is off;
 *   {@link InvalidOptionError} for bad options, or an existing stream that
 *   does not fit.
 *
 * @example
 * ```ts
 * import { jetStreamLog } from 'tidemark/server';
 * const log = await jetStreamLog({ servers: 'nats://127.0.0.1:4222', stream: 'TIDEMARK' });
 * const out = await log.append('c1', [{ seq: 1, ts: 10, data: { page: '/' } }], Date.now());
 * console.log(out.appended, out.ackedThrough); // 1 1 (0 1 when another process stored it first)
 * for await (const chunk of log.read({ clientId: 'c1' })) console.log(chunk.length);
 * await log.close();
 * ```
 * @see {@link memoryLog} for tests, {@link EventLog} for the contract.
 */
export async function jetStreamLog(options: JetStreamLogOptions): Promise<JetStreamLog> {
  const { openJetStreamLog } = await loadOptional('the JetStream log', NATS_PACKAGES, () => import('./jetstream-log.js'));
  return openJetStreamLog(options);
}
