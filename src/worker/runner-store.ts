/**
 * The browser worker's {@link RunnerStore}: the IndexedDB outbox and
 * checkpoint seen through the Runner's four methods, each outbox record
 * decoded as the pipeline takes its events.
 *
 * @module
 */
import type { RowSource, RunnerBatch, RunnerStore } from '../host/store.js';
import { TidemarkError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { Columns, Encoding, Payload } from './contract.js';
import type { OutboxLimits, RuntimeStore } from './outbox-store.js';

/** Decodes row `index` of a columnar batch into an event. */
export type RowDecoder = (columns: Columns, index: number) => unknown;

/**
 * The events of a stored or just-appended batch: a JSON batch is parsed, a
 * structured-clone batch is already objects, a columnar batch is read row by
 * row with `row` (a batch that needs it without one fails the pipeline with
 * a message that says what to pass).
 */
export function batchEvents(payload: Payload, encoding: Encoding, row: RowDecoder | undefined): readonly unknown[] | RowSource {
  if (encoding === 'json') return typeof payload === 'string' ? (JSON.parse(payload) as unknown[]) : (payload as unknown[]);
  if (encoding !== 'columns') return payload as readonly unknown[];
  const columns = payload as Columns;
  return {
    length: columns.length,
    row(index) {
      if (!row) throw new TidemarkError('a columnar batch reached a runtime without a `row` option; pass row to serveRuntime');
      return row(columns, index);
    },
  };
}

/** The outbox and its checkpoint as a {@link RunnerStore}. */
export function outboxRunnerStore(
  store: RuntimeStore,
  limits: OutboxLimits,
  clock: Clock,
  row: RowDecoder | undefined,
): RunnerStore {
  return {
    loadCheckpoint: () => store.loadCheckpoint(),
    async readAfter(seq, maxBatches): Promise<RunnerBatch[]> {
      const records = await store.readAfter(seq, maxBatches);
      return records.map((r) => ({ seq: r.seq, last: r.last, events: batchEvents(r.events, r.encoding, row) }));
    },
    writeCheckpoint: (checkpoint, epoch) => store.writeCheckpoint(checkpoint, epoch, limits, clock.now()),
    lastSeq: () => store.lastSeq(),
  };
}
