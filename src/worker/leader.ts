/**
 * What the leading tab's worker runs: the pipeline on the shared Runner over
 * the outbox, the uploader, the final results waiting for the server, and
 * the corrections it pulled. One per leadership; `stop()` ends it.
 *
 * @module
 */
import type { Pipeline } from '../checkpoint/pipeline.js';
import { TidemarkError } from '../errors.js';
import type { OnlineState } from '../host/online.js';
import { Runner } from '../host/runner.js';
import type { Correction, WireResult } from '../protocol/wire.js';
import type { Clock } from '../time/clock.js';
import { windowId } from '../windows/identity.js';
import type { LeaderStatus, UploadStatus, ViewEntry } from './contract.js';
import type { OutboxRecord, RuntimeStore } from './outbox-store.js';
import { batchEvents, outboxRunnerStore, type RowDecoder } from './runner-store.js';
import type { Settings } from './settings.js';
import { finalWireResult, wireTime } from './upload-batch.js';
import { createUploader, initialUploadStatus, type Uploader } from './uploader.js';
import { mergeView } from './view.js';

/** What a leader tells its worker. */
export interface LeaderHooks {
  /** Results fired, in order. */
  results(results: unknown[]): void;
  /** The runner processed more, or the upload state changed: announce it. */
  progressed(): void;
  /** Corrections arrived: views changed. */
  corrections(): void;
  /** The server refused the token: ask the page for one. */
  tokenWanted(): void;
  report(err: unknown): void;
  /** The pipeline failed for good. */
  failed(err: unknown): void;
}

/** What a leader needs. */
export interface LeaderDeps {
  readonly store: RuntimeStore;
  readonly epoch: number;
  readonly pipeline: Pipeline<unknown, unknown>;
  readonly settings: Settings;
  readonly row: RowDecoder | undefined;
  /** An event's time for the server log, if the app gave one. */
  readonly timestamp: ((event: unknown) => number) | undefined;
  readonly clock: Clock;
  readonly network: OnlineState;
  readonly hooks: LeaderHooks;
}

/** The leading tab's pipeline, uploader and corrections. */
export class Leader {
  readonly runner: Runner;
  private uploader: Uploader | undefined;
  private uploadState: UploadStatus = initialUploadStatus('disabled');
  private corrections: readonly Correction[] = [];
  /** Final panes (on-time, late) not yet acknowledged by the server, by window. */
  private readonly finalResults = new Map<string, WireResult>();

  private constructor(private readonly deps: LeaderDeps) {
    const { store, settings, clock, row, hooks } = deps;
    this.runner = new Runner({
      store: outboxRunnerStore(store, settings.limits, clock, row),
      pipeline: deps.pipeline,
      epoch: deps.epoch,
      checkpoint: { everyEvents: settings.everyEvents, everyMs: settings.everyMs },
      view: { maxWindows: settings.viewMaxWindows },
      clock,
      hooks: {
        results: (results) => {
          this.noteFinal(results);
          this.uploader?.wake();
          hooks.results(results);
        },
        processed: () => hooks.progressed(),
        error: (err) => {
          hooks.report(err);
          if (this.runner.failure) hooks.failed(err);
        },
      },
    });
  }

  /**
   * Restores the latest checkpoint and starts processing and uploading.
   * @throws what restoring throws (a `SnapshotError` for a checkpoint of another pipeline)
   */
  static async start(deps: LeaderDeps, connection: { endpoint: string; token: string } | undefined): Promise<Leader> {
    const leader = new Leader(deps);
    await leader.runner.start();
    leader.noteFinal(leader.runner.entries()); // the server keeps the latest pane: sending again is harmless
    leader.uploader = leader.startUploader();
    if (connection) leader.uploader.connect(connection.endpoint, connection.token);
    return leader;
  }

  /** The view with the corrections applied. */
  view(): ViewEntry[] {
    return mergeView(this.runner.entries(), this.corrections) as ViewEntry[];
  }

  status(): LeaderStatus {
    const { watermark, lastCheckpoint, openWindows, viewWindows, lateRecords, failed } = this.runner.status();
    return { watermark, lastCheckpoint, openWindows, viewWindows, lateRecords, failed, upload: this.uploadState };
  }

  /** Events up to `last` are durable (appended here, or by another tab): process and upload them. */
  appended(last: number): void {
    this.runner.notify(last);
    this.uploader?.wake();
  }

  connect(endpoint: string, token: string): void {
    this.uploader?.connect(endpoint, token);
  }

  /** Stops: one last upload attempt, the uploader, then a final checkpoint. */
  async stop(): Promise<void> {
    await this.uploader?.flushOnExit().catch((err) => this.deps.hooks.report(err));
    this.uploader?.stop();
    this.uploader = undefined;
    await this.runner.stop(true);
  }

  private noteFinal(results: readonly unknown[]): void {
    for (const r of results) {
      const row = finalWireResult(r);
      if (row === undefined) continue;
      const id = windowId(row);
      this.finalResults.delete(id);
      this.finalResults.set(id, row);
    }
  }

  private startUploader(): Uploader {
    const { store, settings, row, timestamp, clock, network, hooks } = this.deps;
    return createUploader({
      store,
      clientId: store.clientId,
      settings: settings.upload,
      decode: (record) => recordEvents(record, row),
      // The app's own, or the pipeline's (known once the runner started).
      timestamp: wireTime(timestamp ?? (this.runner.timestamp as ((e: unknown) => number) | undefined)),
      results: () => {
        const pending = [...this.finalResults.values()];
        return {
          pending,
          sent: () => {
            // Only what was sent; a newer pane that fired meanwhile stays pending.
            for (const r of pending) if (this.finalResults.get(windowId(r)) === r) this.finalResults.delete(windowId(r));
          },
        };
      },
      watermark: () => this.runner.status().watermark,
      onStatus: (s) => {
        this.uploadState = s;
        if (s.state !== 'uploading') hooks.progressed();
      },
      onCorrections: (c) => {
        this.corrections = c.entries;
        hooks.corrections();
      },
      onUnauthorized: () => hooks.tokenWanted(),
      report: hooks.report,
      clock,
      network,
    });
  }
}

/** A stored record's events as objects (columns decoded row by row), for the uploader. */
function recordEvents(record: OutboxRecord, row: RowDecoder | undefined): readonly unknown[] {
  const events = batchEvents(record.events, record.encoding, row);
  if (Array.isArray(events)) return events;
  const rows = events as Exclude<typeof events, readonly unknown[]>;
  if (!row) throw new TidemarkError('a columnar batch cannot be uploaded without a `row` option; pass row to serveRuntime');
  return Array.from({ length: rows.length }, (_, i) => rows.row(i));
}
