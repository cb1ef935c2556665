/**
 * The changelog of window results: what `windowBy({ changelog: true })`
 * emits, and what every consumer (a downstream `windowBy`, `topN`, the view,
 * the uploader) reads. The record kinds are Flink's row kinds: insert
 * (`+I`), update-before (`-U`), update-after (`+U`), delete (`-D`).
 *
 * @module
 */
import type { WindowRef } from './identity.js';
import type { WindowKey, WindowResult } from './window-result.js';

/**
 * What a changelog record does to its window's row:
 *
 * - `insert` (`+I`): the window's first row, or its first since a `delete`;
 * - `update-before` (`-U`): takes back the window's previous row; always
 *   followed by an `update-after` of the same window;
 * - `update-after` (`+U`): the window's new row, replacing the one just taken back;
 * - `delete` (`-D`): takes back the window's row, with nothing in its place
 *   (a session span a merge or growth superseded, or a window that
 *   retractions upstream left empty).
 *
 * `update-before` and `delete` carry the row they take back (its value,
 * timing and pane as they were emitted), so that a consumer can subtract it.
 */
export type ChangeKind = 'insert' | 'update-before' | 'update-after' | 'delete';

/**
 * One changelog record of a window: a {@link WindowResult} row and what it
 * does to that window's row. Switch on `kind`.
 *
 * @example
 * ```ts
 * import type { WindowChange } from 'tidemark';
 * function apply(view: Map<string, number>, c: WindowChange<string, number>): void {
 *   const id = `${c.key}@${c.start}`;
 *   switch (c.kind) {
 *     case 'insert':
 *     case 'update-after':
 *       view.set(id, c.value);
 *       break;
 *     case 'update-before':
 *     case 'delete':
 *       view.delete(id);
 *   }
 * }
 * ```
 * @see {@link ChangeKind}, {@link isRetraction}
 */
export type WindowChange<K extends WindowKey, R> = WindowResult<K, R> & { readonly kind: ChangeKind };

/** The window a view removed, with the pane number of the row it removed. */
export interface DeletedWindow extends WindowRef {
  readonly pane: number;
}

const KINDS: ReadonlySet<unknown> = new Set<ChangeKind>(['insert', 'update-before', 'update-after', 'delete']);

/**
 * Whether `kind` is one of the four {@link ChangeKind}s.
 *
 * @example
 * ```ts
 * import { isChangeKind } from 'tidemark';
 * console.log(isChangeKind('delete'), isChangeKind('record')); // true false
 * ```
 */
export function isChangeKind(kind: unknown): kind is ChangeKind {
  return KINDS.has(kind);
}

/**
 * Whether a record takes a row back (`update-before` or `delete`): a
 * consumer subtracts it, or removes the row it shows. A plain window result
 * (no `kind`) never does.
 *
 * @example
 * ```ts
 * import { isRetraction } from 'tidemark';
 * console.log(isRetraction({ kind: 'update-before' }), isRetraction({ kind: 'insert' }), isRetraction({})); // true false false
 * ```
 * @see {@link isDeletion}
 */
export function isRetraction(record: { readonly kind?: unknown }): boolean {
  const k = record.kind;
  return k === 'update-before' || k === 'delete';
}

/**
 * Whether a record deletes its window's row for good (`delete`): what a
 * view or a serving layer must show as "this window is gone", rather than
 * as a row with a value.
 *
 * @example
 * ```ts
 * import { isDeletion } from 'tidemark';
 * console.log(isDeletion({ kind: 'delete' }), isDeletion({ kind: 'update-before' })); // true false
 * ```
 * @see {@link isRetraction}
 */
export function isDeletion(record: { readonly kind?: unknown }): boolean {
  return record.kind === 'delete';
}

/** A copy of the changelog row `row` with another kind (a fresh object of the same shape). @internal */
export function withKind<K extends WindowKey, R>(row: WindowResult<K, R>, kind: ChangeKind): WindowChange<K, R> {
  return { key: row.key, start: row.start, end: row.end, value: row.value, timing: row.timing, pane: row.pane, kind };
}
