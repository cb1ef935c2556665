/// <reference types="node" />
/**
 * A durable append-only file of JSON lines, the storage under the file
 * result and correction stores: the only file of those stores that touches
 * `node:fs`.
 *
 * Format: UTF-8, one JSON value per line, each line ending in `\n`; the
 * first line is a header naming the file's kind and version. Every
 * `append` is one line, so a store's write is all or nothing: a crash can
 * only leave a torn last line (no `\n`, or bytes that do not parse), which
 * the next open ignores and truncates. An unreadable line *followed by*
 * readable ones is corruption, not a crash, and opening fails.
 *
 * Writes are grouped: the lines appended while one write is in flight go
 * out together in the next one, with one `fdatasync`, and every `append`
 * resolves only after the sync that covers it.
 *
 * One writer per file: nothing locks it (the batch layer's lock keeps a
 * second writer of the corrections file out). Other processes may read it
 * meanwhile: {@link AppendFile.open} with `readOnly` never cuts or
 * creates anything and ignores an incomplete last line, and
 * {@link AppendFile.follow} reads what another process appended since.
 *
 * @internal
 * @module
 */
import { mkdir, open, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { RuntimeClosedError, StorageError } from '../errors.js';

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

interface Pending {
  readonly text: string;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * What the result and correction stores need of their durable record: an
 * {@link AppendFile}, or a JetStream subject on a cluster
 * (`jetstream-cluster.ts`). @internal
 */
export interface RecordLog {
  /** Appends one record; resolves once it is durable. */
  append(value: unknown): Promise<void>;
  /** Reads what other writers appended since (`cut`: and makes this writer's next append follow it). */
  follow(options?: { readonly cut?: boolean }): Promise<unknown>;
  /** Replaces every record with `values` (compaction). */
  rewrite(values: readonly unknown[]): Promise<void>;
  close(): Promise<void>;
}

/** An open append-only JSON-lines file. */
export class AppendFile implements RecordLog {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;

  /** Serializes {@link follow} with writes: a follow never reads a line this process is writing. */
  private following: Promise<unknown> = Promise.resolve();

  private constructor(
    private fh: FileHandle | undefined,
    private readonly path: string,
    /** Bytes known durable: where the next write goes, and where a failed one is cut back to. */
    private size: number,
    private readonly headerText: string,
    private readonly line: (value: unknown) => void,
    private readonly readOnly: boolean,
  ) {}

  /**
   * Opens (or creates) the file at `path`, checks its header, and calls
   * `line` with every complete line after it, parsed, in order. Truncates a
   * torn tail, unless `cutOnOpen: false` (a file several processes write in
   * turn: {@link follow} with `cut` does it, under their lock); with
   * `readOnly`, creates and cuts nothing. Rejects with a {@link StorageError} when the file is not of
   * this kind or a line in the middle is unreadable.
   */
  static async open(
    path: string,
    header: Record<string, unknown>,
    line: (value: unknown) => void,
    options: { readonly readOnly?: boolean; readonly cutOnOpen?: boolean } = {},
  ): Promise<AppendFile> {
    const headerText = JSON.stringify(header);
    if (options.readOnly) {
      // A reader beside the writer: nothing is created or cut, and a line
      // still being written (no newline yet) is left for a later follow().
      const reader = new AppendFile(undefined, path, 0, headerText, line, true);
      await reader.follow();
      return reader;
    }
    await mkdir(dirname(path), { recursive: true });
    let fh: FileHandle;
    let created = false;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw new StorageError(`cannot open ${path}`, { cause: e });
      fh = await open(path, 'wx+');
      created = true;
    }
    try {
      // A file written by several processes in turn (under a lock taken
      // for writing, not for opening) is cut only by follow({ cut: true }).
      let size = await scan(fh, path, headerText, line, 0, options.cutOnOpen !== false);
      if (size === 0) {
        // New, or torn before its header was complete.
        const bytes = Buffer.from(`${headerText}\n`);
        await writeAll(fh, bytes, 0);
        await fh.truncate(bytes.length);
        await fh.datasync();
        size = bytes.length;
      }
      if (created) await syncDirectory(dirname(path));
      return new AppendFile(fh, path, size, headerText, line, false);
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
  }

  /**
   * Reads the complete lines appended after the last one read (by another
   * process: the writer's own lines are not read again) and calls `line`
   * with each; resolves with how many. An incomplete last line is left for
   * a later call, unless `cut`: a writer about to append, sure that no other
   * process writes now (it holds the lock that says so), cuts what a writer
   * that died (kill -9) left half written, so that its own line starts on a
   * line of its own. Runs after this process's pending writes.
   */
  follow(options: { readonly cut?: boolean } = {}): Promise<number> {
    if (this.closed) return Promise.reject(new RuntimeClosedError(`${this.path} is closed`));
    const cut = options.cut === true && !this.readOnly;
    const run = this.following.then(async () => {
      while (this.flushing) await this.flushing;
      if (!this.fh) {
        try {
          this.fh = await open(this.path, 'r');
        } catch (e) {
          if ((e as { code?: string }).code === 'ENOENT') return 0; // not written yet
          throw new StorageError(`cannot open ${this.path}`, { cause: e });
        }
      }
      let lines = 0;
      const end = await scan(this.fh, this.path, this.headerText, (v) => (lines++, this.line(v)), this.size, cut);
      this.size = Math.max(this.size, end);
      return lines;
    });
    this.following = run.catch(() => undefined);
    return run;
  }

  /**
   * Compaction: replaces the file with the header and one line per value
   * (written to a temporary file, synced, renamed over it: a crash leaves
   * the old file or the new one). Appends made meanwhile wait and go to the
   * new file. A reader that opened the old file keeps reading it.
   */
  async rewrite(values: readonly unknown[]): Promise<void> {
    if (this.closed) throw new RuntimeClosedError(`${this.path} is closed`);
    if (this.readOnly) throw new StorageError(`${this.path} is open read-only here: its writer is another process`);
    await this.following;
    while (this.flushing) await this.flushing;
    let resume!: () => void;
    this.flushing = new Promise<void>((r) => (resume = r)); // holds appends back
    try {
      // One buffer per line: a compacted file can be longer than V8's longest string.
      const bytes = Buffer.concat([Buffer.from(`${this.headerText}\n`), ...values.map((v) => Buffer.from(`${JSON.stringify(v)}\n`))]);
      const tmp = `${this.path}.tmp`;
      const fh = await open(tmp, 'w+');
      try {
        await writeAll(fh, bytes, 0);
        await fh.datasync();
      } catch (e) {
        await fh.close();
        throw new StorageError(`compacting ${this.path} failed`, { cause: e });
      }
      await rename(tmp, this.path);
      await syncDirectory(dirname(this.path));
      await this.fh?.close();
      this.fh = fh;
      this.size = bytes.length;
    } finally {
      this.flushing = undefined;
      resume();
      if (this.queue.length > 0) this.flushing = this.flush();
    }
  }

  /** Appends one line (JSON of `value`) and resolves once it is durable. */
  append(value: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new RuntimeClosedError(`${this.path} is closed`));
    if (this.readOnly) return Promise.reject(new StorageError(`${this.path} is open read-only here: its writer is another process`));
    if (this.failure !== undefined)
      return Promise.reject(new StorageError(`${this.path} cannot be written after a failed write`, { cause: this.failure }));
    const text = `${JSON.stringify(value)}\n`; // throws RangeError beyond V8's longest string (~512 MB): keep lines small
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ text, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  /** Waits for pending writes, then closes the file; later appends reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.following;
    await this.fh?.close();
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      // One buffer per line, then one write: joining the lines into one
      // string first could exceed V8's longest string with large batches.
      const bytes = Buffer.concat(batch.map((p) => Buffer.from(p.text)));
      try {
        const fh = this.fh!; // a writer always has its file
        await writeAll(fh, bytes, this.size);
        await fh.datasync();
        this.size += bytes.length;
        for (const p of batch) p.resolve();
      } catch (e) {
        // Cut a partly written batch off, so that the file still ends with a
        // complete line; if even that fails, refuse every later write.
        await this.fh!.truncate(this.size).catch((err: unknown) => (this.failure = err));
        const error = new StorageError(`writing ${this.path} failed`, { cause: e });
        for (const p of batch) p.reject(error);
      }
    }
    this.flushing = undefined;
  }
}

/**
 * Reads the file line by line from byte `from` (0: the header first);
 * returns the end of its valid prefix (0 when it holds no complete header),
 * and with `cut` truncates whatever follows it.
 */
async function scan(
  fh: FileHandle,
  path: string,
  headerText: string,
  line: (value: unknown) => void,
  from: number,
  cut: boolean,
): Promise<number> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let carry = Buffer.alloc(0);
  let position = from; // file offset of carry[0]
  let valid = from; // end of the last good line
  let bad: { offset: number; number: number } | undefined;
  let lineNumber = from === 0 ? 0 : 1; // past the header
  const total = (await fh.stat()).size;
  let read = from;
  while (read < total) {
    const { bytesRead } = await fh.read(buffer, 0, CHUNK, read);
    if (bytesRead === 0) break;
    read += bytesRead;
    const data = carry.length === 0 ? buffer.subarray(0, bytesRead) : Buffer.concat([carry, buffer.subarray(0, bytesRead)]);
    let start = 0;
    for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      const text = data.toString('utf8', start, nl);
      const offset = position + start;
      start = nl + 1;
      lineNumber++;
      let value: unknown;
      let ok = true;
      try {
        value = JSON.parse(text);
      } catch {
        ok = false;
      }
      if (lineNumber === 1) {
        if (text !== headerText) throw notOurs(path, headerText);
        valid = position + start;
        continue;
      }
      if (!ok) {
        bad ??= { offset, number: lineNumber };
        continue;
      }
      if (bad)
        throw new StorageError(
          `${path} is corrupt: line ${bad.number} is not JSON but later lines are; restore it from a backup or cut it at byte ${bad.offset}`,
        );
      line(value);
      valid = position + start;
    }
    carry = Buffer.from(data.subarray(start));
    position += start;
  }
  // No complete line: empty, or a header torn while the file was created.
  if (lineNumber === 0 && !headerText.startsWith(carry.toString('utf8'))) throw notOurs(path, headerText);
  if (cut && valid < total) await fh.truncate(valid);
  return valid;
}

function notOurs(path: string, headerText: string): StorageError {
  return new StorageError(
    `${path} is not a file of this kind and version (its first line is not ${headerText}); move it away or point the store at another directory`,
  );
}

async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** Makes a new file's directory entry durable (Linux; a no-op where directories cannot be opened). */
async function syncDirectory(dir: string): Promise<void> {
  const fh = await open(dir, 'r').catch(() => undefined);
  if (!fh) return;
  try {
    await fh.sync();
  } catch {
    // Some platforms refuse fsync on a directory; the file itself is synced.
  } finally {
    await fh.close();
  }
}
