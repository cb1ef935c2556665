/**
 * `tidemark/server`: the ingest server (a standard `(Request) => Promise<Response>`
 * handler with a Node adapter), its logs (an embedded file log, NATS
 * JetStream), and the batch layer that reconciles clients' results.
 *
 * @module
 */
export type { AppendOutcome, ClientProgress, EventLog, LoggedEvent } from './log.js';
export { memoryLog } from './memory-log.js';
export type { FileLog, FileLogDiagnostics, FileLogOptions, RecoveryReport } from './file-log.js';
export { fileLog } from './file-log.js';
