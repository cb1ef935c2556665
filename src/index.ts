/**
 * Tidemark core: event-time windows and watermarks as RxJS operators.
 * Pure and synchronous; runs anywhere JavaScript runs.
 *
 * @module tidemark
 */
export type { Aggregate } from './aggregates/aggregate.js';
export { aggregate } from './aggregates/aggregate.js';
export type { AvgAccumulator, ExtremeOptions, ValueCounts } from './aggregates/builtins.js';
export { avg, count, max, min, sum } from './aggregates/builtins.js';
export type { MaxByAccumulator } from './aggregates/max-by.js';
export { maxBy } from './aggregates/max-by.js';
export type { Pipeline, PipelineInput, PipelineObserver, PipelineRun, RunOptions } from './checkpoint/pipeline.js';
export { createPipeline } from './checkpoint/pipeline.js';
export type { OperatorSnapshot, OperatorStats, PipelineSnapshot } from './checkpoint/snapshot.js';
export {
  BatchRunningError,
  InvalidOptionError,
  InvalidRecordError,
  LeadershipLost,
  OutboxFullError,
  PipelineError,
  RuntimeClosedError,
  SnapshotError,
  StorageError,
  TidemarkError,
  TimeoutError,
  WorkerError,
} from './errors.js';
export type { EventTimeOptions } from './operators/event-time.js';
export type { CountWindowByOptions } from './operators/count-window-by.js';
export { countWindowBy } from './operators/count-window-by.js';
export { eventTime } from './operators/event-time.js';
export { eventTimeBatches } from './operators/event-time-batches.js';
export type { ColumnBatch, EventTimeColumnsOptions } from './operators/event-time-columns.js';
export { eventTimeColumns } from './operators/event-time-columns.js';
export { filterRecords } from './operators/filter-records.js';
export type { IntervalJoinOptions } from './operators/interval-join.js';
export { intervalJoin } from './operators/interval-join.js';
export type { JoinOptions } from './operators/join.js';
export { join } from './operators/join.js';
export { mapRecords } from './operators/map-records.js';
export type { KeyContext, ProcessByKeyOptions } from './operators/process-by-key.js';
export { processByKey } from './operators/process-by-key.js';
export { records } from './operators/records.js';
export type { TopNOptions } from './operators/top-n.js';
export { topN } from './operators/top-n.js';
export type { Joined } from './operators/two-inputs.js';
export { watermarks } from './operators/watermarks.js';
export type { WindowJoinOptions } from './operators/window-join.js';
export { windowJoin } from './operators/window-join.js';
export type { EarlyFirings, WindowByOptions } from './operators/window-by.js';
export { windowBy } from './operators/window-by.js';
export type { Clock } from './time/clock.js';
export { sleep, systemClock } from './time/clock.js';
export type { Timed, TimedRecord, Watermark } from './time/timed.js';
export { isRecord, isWatermark, timedRecord, watermark } from './time/timed.js';
export type {
  SessionWindows,
  SlidingWindows,
  TumblingWindows,
  WindowAssigner,
  WindowSpan,
} from './windows/assigners.js';
export { session, sliding, tumbling } from './windows/assigners.js';
export type { ChangeKind, DeletedWindow, WindowChange } from './windows/changelog.js';
export { isChangeKind, isDeletion, isRetraction } from './windows/changelog.js';
export type { CountWindowResult, CountWindows } from './windows/count-windows.js';
export { countWindow } from './windows/count-windows.js';
export type { WindowRef } from './windows/identity.js';
export { compareWindows, paneWins, windowId } from './windows/identity.js';
export type { Timing, WindowKey, WindowResult } from './windows/window-result.js';
