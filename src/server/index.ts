/**
 * `tidemark/server`: the ingest server (a standard `(Request) => Promise<Response>`
 * handler with a Node adapter), its logs (an embedded file log, NATS
 * JetStream), and the batch layer that reconciles clients' results.
 *
 * @module
 */
export type { AppendOutcome, ClientProgress, EventLog, LoggedEvent } from './log.js';
export { memoryLog } from './memory-log.js';
export type { Secret } from './auth.js';
export { tokenFor } from './auth.js';
export type { CorrectionSource, Handler, HandlerOptions, ResultSink } from './handler.js';
export { createHandler } from './handler.js';
export type { Listening } from './node-adapter.js';
export { listen } from './node-adapter.js';
export { type JetStreamLog, jetStreamLog } from './jetstream-log.js';
export type { JetStreamLogOptions } from './jetstream-options.js';
export type { FileLog, FileLogDiagnostics, FileLogOptions, RecoveryReport } from './file-log.js';
export { fileLog } from './file-log.js';
