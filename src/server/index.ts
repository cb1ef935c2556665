/**
 * `tidemark/server`: the ingest server (a standard `(Request) => Promise<Response>`
 * handler with a Node adapter), its logs (an embedded file log, NATS
 * JetStream), and the batch layer that reconciles clients' results.
 *
 * @module
 */
export type { AppendOutcome, ClientProgress, EventLog, LoggedEvent } from '../host/ingest/log.js';
export { memoryLog } from './memory-log.js';
export type { Secret } from '../protocol/tokens.js';
export { adminTokenFor, readerTokenFor, tokenFor } from '../protocol/tokens.js';
export { secretIn } from './secret-file.js';
export type { CorrectionSource, Handler, HandlerOptions, ResultSink, ViewsSource } from '../host/ingest/handler.js';
export type { ViewFilter } from '../host/serving-view.js';
export type { GlobalSpeedLayer, GlobalSpeedOptions, GlobalSpeedStatus } from './global-speed.js';
export { globalSpeedLayer } from './global-speed.js';
export type { ClusterSpeedLayer, ClusterSpeedOptions, ClusterSpeedStatus, OwnershipEvent } from './cluster-speed.js';
export { clusterSpeedLayer } from './cluster-speed.js';
export type { ClusterStores, ClusterStoresOptions } from './cluster-stores.js';
export { clusterStores } from './cluster-stores.js';
export { partitionOf } from '../protocol/partition.js';
export { createHandler } from '../host/ingest/handler.js';
export type { Listening } from './node-adapter.js';
export { listen } from './node-adapter.js';
export type { JetStreamLog } from './jetstream-log.js';
export { jetStreamLog } from './jetstream.js';
export { MissingDependencyError } from '../errors.js';
export type { JetStreamLogOptions } from './jetstream-options.js';
export type {
  FileLog,
  FileLogDiagnostics,
  FileLogOptions,
  LogFrame,
  LogPosition,
  RecoveryReport,
  RetireReport,
  RetiringEvent,
} from './file-log.js';
export { fileLog } from './file-log.js';
export type { FileLogSnapshot } from './file-log-snapshot.js';
export { readFileLog } from './file-log-snapshot.js';
export type { ClientReport, ResultStore, StoredResult } from './results-store.js';
export { fileResults, memoryResults } from './results-store.js';
export type { CorrectionEntry, CorrectionStore } from './corrections-store.js';
export { fileCorrections, memoryCorrections } from './corrections-store.js';
export type { WindowValue } from '../windows/identity.js';
export type { BatchPipeline, ReconcileFailure, ReconcileOptions, ReconcileReport } from './reconcile.js';
export { reconcile } from './reconcile.js';
export type { FrozenWindow } from './retention.js';
export { batchView } from './retention.js';
export { loadPipeline } from './load-pipeline.js';
export type { ReplayFailure, ReplayOptions, ReplayReport, WindowDifference } from './replay.js';
export { replay } from './replay.js';
