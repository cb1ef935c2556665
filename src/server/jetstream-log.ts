/**
 * An {@link EventLog} on a NATS JetStream stream: the log to use when several
 * server processes ingest at once. The only file that talks to NATS.
 *
 * Exactly once, across processes, rests on two things (the message layout is
 * in `jetstream-format.ts`):
 *
 * 1. Each client has its own subject, and every publish carries the
 *    subject's last sequence this process knows as `expect.lastSubjectSequence`.
 *    JetStream stores the message only if nobody wrote to the subject since,
 *    so a process can never append on stale knowledge. On a conflict it
 *    reads the subject's last message (whose `Tidemark-Coverage` header says
 *    which sequence numbers the subject holds), drops the events now held,
 *    and publishes the rest.
 * 2. `Nats-Msg-Id` within the stream's duplicate window: a publish repeated
 *    after a lost acknowledgement is answered as a duplicate, then handled
 *    like a conflict.
 *
 * On a replicated stream nats-server 2.9 does not enforce (1) when two
 * publishes race: both can be stored. So after each append there, `settle`
 * checks that no other message came between the expected one and its own,
 * and repairs the coverage header when one did; `read()` and the cluster's
 * partitions skip an event stored twice.
 *
 * Appends of one client are serialized inside a process; different clients
 * append concurrently.
 *
 * Why one file of ~600 lines: it is the only file that talks to NATS (the
 * rule for platform seams), and stream checks, appends and reads share one
 * connection, the per-subject sequence cache and the error mapping.
 *
 * @module
 */
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import {
  ClosedConnectionError,
  connect,
  headers,
  type NatsConnection,
  NoRespondersError,
  TimeoutError as NatsTimeoutError,
} from '@nats-io/transport-node';
import { errorParts, InvalidOptionError, ProtocolError, RuntimeClosedError, StorageError } from '../errors.js';
import type { WireEvent } from '../protocol/wire.js';
import { Coverage, freshOnce, progress } from '../host/ingest/coverage.js';
import {
  clientOf,
  COVERAGE_HEADER,
  coverageWith,
  decodeBody,
  decodeCoverage,
  encodeChunks,
  encodeCoverage,
  eventSubject,
  FIRST_HEADER,
  FORMAT,
  FORMAT_HEADER,
  HEADER_RESERVE,
  messageId,
  subjectCovers,
} from './jetstream-format.js';
import { type JetStreamLogOptions, type Settings, validate } from './jetstream-options.js';
import { type AppendOutcome, checkAppend, type ClientProgress, type EventLog, type LoggedEvent } from '../host/ingest/log.js';

/**
 * An {@link EventLog} on NATS JetStream, plus {@link JetStreamLog.refresh}.
 * `clients()` and `stats()` answer from what this process knows: its own
 * appends at once, other processes' after the next refresh.
 */
export interface JetStreamLog extends EventLog {
  /**
   * Reads the stream's size and every client's latest coverage, picking up
   * what other processes appended. Runs every `refreshMs` on its own.
   */
  refresh(): Promise<void>;
}

/** Conflicts one append resolves before giving up; each one means another process appended to the client. */
const MAX_ATTEMPTS = 50;
/** Requests in flight while reading every client's last message. */
const PARALLEL_READS = 64;
/** Events per chunk yielded by `read()`. */
const READ_CHUNK = 4096;

/** What this process knows of one client's subject. */
interface ClientState {
  /** The sequence numbers held by the subject up to and including message `last`. */
  coverage: Coverage;
  /** Stream sequence of the subject's last message known here; 0 before the first. */
  last: number;
  /** Stream sequence of the subject's first message; 0 before it is known. */
  first: number;
  /** Messages on the subject at the last refresh (plus own appends since); -1 when unknown. */
  msgs: number;
}

/**
 * Opens the log (see {@link jetStreamLog} in `jetstream.ts`, the public entry,
 * which imports this module, and with it the NATS client, on first use). @internal
 */
export async function openJetStreamLog(options: JetStreamLogOptions): Promise<JetStreamLog> {
  const s = validate(options);
  let nc: NatsConnection;
  try {
    nc = await connect({
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: s.timeoutMs,
      ...s.connection,
      servers: s.servers,
    });
  } catch (err) {
    throw new StorageError(
      `could not connect to NATS at ${s.servers.join(', ')} (${errorParts(err).message}); ` +
        'is nats-server running, with JetStream enabled (-js)?',
      { cause: err },
    );
  }
  try {
    return await open(nc, s);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

async function open(nc: NatsConnection, s: Settings): Promise<JetStreamLog> {
  const { stream, prefix, timeoutMs } = s;
  const all = `${prefix}.events.*`;
  let jsm: JetStreamManager;
  try {
    jsm = await askAgainOnTimeout(() => jetstreamManager(nc, { timeout: timeoutMs }));
  } catch (err) {
    throw new StorageError(
      `JetStream is not available on ${s.servers.join(', ')} (${errorParts(err).message}); start nats-server with -js`,
      { cause: err },
    );
  }
  const js: JetStreamClient = jetstream(nc, { timeout: timeoutMs });
  const info = await bindStream(jsm, s);
  const limits = [nc.info?.max_payload ?? 1024 * 1024, s.maxMessageBytes ?? Number.POSITIVE_INFINITY];
  if (info.config.max_msg_size > 0) limits.push(info.config.max_msg_size);
  const maxBody = Math.min(...limits) - HEADER_RESERVE;
  if (maxBody < 1024)
    throw new InvalidOptionError(
      'jetStreamLog.stream',
      `messages may hold at most ${Math.min(...limits)} bytes (max_payload / max_msg_size), too few for event batches`,
    );
  const direct = info.config.allow_direct === true;
  /** Replicated: nats-server 2.9 may store two racing publishes with one expected subject sequence (see `settle`). */
  const replicated = (info.config.num_replicas ?? 1) > 1;

  const clients = new Map<string, ClientState>();
  const tails = new Map<string, Promise<unknown>>();
  let bytes = info.state.bytes;
  let closed = false;
  let connected = true;
  let refreshing: Promise<void> | undefined;

  // Requests in flight fail as soon as the connection drops, instead of
  // waiting out their timeout: an ingest handler can answer 503 at once.
  const inFlight = new Set<(err: Error) => void>();
  const guarded = <T>(what: string, start: () => Promise<T>): Promise<T> => {
    // Not started while disconnected: the client would buffer the request
    // and send it after reconnecting, long after the caller gave up.
    if (!connected) return Promise.reject(notConnected(what));
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      inFlight.add(fail);
      start()
        .then(resolve, (err: unknown) => reject(failure(what, err, timeoutMs)))
        .finally(() => inFlight.delete(fail));
    });
  };
  const notConnected = (what: string) =>
    new StorageError(
      `${what}: not connected to NATS (reconnecting to ${s.servers.join(', ')}); nothing was stored, retry later`,
    );
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect') {
        connected = false;
        const err = new StorageError(
          'lost the connection to NATS while waiting for JetStream; the events may or may not be stored, and retrying the append is safe',
        );
        for (const fail of inFlight) fail(err);
        inFlight.clear();
      } else if (st.type === 'reconnect') connected = true;
    }
  })().catch(() => undefined);
  void nc.closed().then(() => {
    connected = false;
  });

  /** Runs `fn` after every earlier call for the same client: one writer per client per process. */
  const serialize = <T>(clientId: string, fn: () => Promise<T>): Promise<T> => {
    const run = (tails.get(clientId) ?? Promise.resolve()).then(fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    tails.set(clientId, tail);
    void tail.then(() => {
      if (tails.get(clientId) === tail) tails.delete(clientId);
    });
    return run;
  };

  const state = (clientId: string): ClientState => {
    let st = clients.get(clientId);
    if (!st) clients.set(clientId, (st = { coverage: new Coverage(), last: 0, first: 0, msgs: 0 }));
    return st;
  };

  const lastMessage = (subject: string, useDirect: boolean): Promise<StoredMsg | null> =>
    guarded(`reading the last message of ${subject}`, () =>
      useDirect ? jsm.direct.getMessage(stream, { last_by_subj: subject }) : jsm.streams.getMessage(stream, { last_by_subj: subject }),
    );

  /**
   * Messages matching `filter` from stream sequence `from` to `to` (both
   * included), in order, through an ordered consumer deleted afterwards.
   */
  async function* messages(filter: string, from: number, to: number) {
    const create = () =>
      guarded(`reading ${filter}`, () =>
        js.consumers.get(stream, {
          filter_subjects: filter,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: Math.max(1, from),
          inactive_threshold: 30_000,
        }),
      );
    // A JetStream cluster that just lost a node leaves some consumer creations unanswered for a while: try again.
    const consumer = await create().catch((err: unknown) => {
      if (!(err instanceof StorageError && err.cause instanceof NatsTimeoutError)) throw err;
      return create();
    });
    try {
      // The consumer's info as created: no request.
      if ((await consumer.info(true)).num_pending === 0) return;
      const iter = await consumer.consume({ max_messages: 64 });
      try {
        for await (const m of iter) {
          if (m.seq > to) break;
          yield m;
          // `pending` counts matching messages after this one: 0 at the end
          // even when the stream's last message is on another subject.
          if (m.seq >= to || m.info.pending === 0) break;
        }
      } finally {
        await iter.close().catch(() => undefined);
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /**
   * Brings `st` up to `msg`, the subject's last message: from its coverage
   * header, or by reading the messages after `st.last` when the header is
   * `*` or missing.
   */
  async function advance(st: ClientState, clientId: string, msg: StoredMsg): Promise<void> {
    if (msg.seq <= st.last) return;
    const header = msg.header?.get(COVERAGE_HEADER) ?? '';
    const decoded = decodeCoverage(header);
    const firstHeader = msg.header?.get(FIRST_HEADER);
    if (decoded instanceof Coverage) {
      st.coverage = decoded;
    } else {
      const coverage = coverageWith(st.coverage, []);
      for await (const m of messages(msg.subject, st.last + 1, msg.seq)) {
        if (st.first === 0) st.first = m.seq;
        const events = decodeBody(clientId, m.data, m.seq);
        coverage.add(coverage.fresh(events).map((e) => e.seq));
      }
      st.coverage = coverage;
    }
    const first = firstHeader ? Number(firstHeader) : Number.NaN;
    if (first > 0) st.first = first;
    else if (first === 0 || st.first === 0) st.first = msg.seq;
    st.last = msg.seq;
  }

  /** After a conflict: this client's state from its subject's last message, read from the stream's leader. */
  async function sync(st: ClientState, clientId: string, subject: string): Promise<void> {
    const msg = await lastMessage(subject, false);
    st.msgs = -1; // unknown until the next refresh
    if (msg) return advance(st, clientId, msg);
    if (st.last > 0)
      throw new StorageError(
        `${subject} holds no message although message ${st.last} was on it: the stream was purged or its messages expired; ` +
          'reopen the log to start from what the stream holds',
      );
  }

  /**
   * On a replicated stream, after an append that expected `prev` as the
   * subject's last message: nats-server 2.9 may also have stored another
   * process's racing publish that expected the same, before ours. Then
   * that message's events are merged into what this process knows, and the
   * union is written in a message of no events, so that the subject's last
   * coverage header again says everything the subject holds. A racer stored
   * after ours does the same on its side; readers skip the events stored
   * twice (`read`, and the cluster's partitions).
   */
  async function settle(st: ClientState, clientId: string, subject: string, prev: number, receivedAt: number): Promise<void> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const mine = st.last;
      // From the stream's leader (the request's type lacks `next_by_subj`, which STREAM.MSG.GET takes).
      const first = await guarded(`reading ${subject}`, () =>
        jsm.streams.getMessage(stream, { seq: prev + 1, next_by_subj: subject } as unknown as { seq: number }),
      );
      if (first && first.subject !== subject) throw new StorageError(`nats-server answered message ${first.seq} of ${first.subject} for ${subject}`);
      if (!first || first.seq >= mine) return;
      let coverage = st.coverage;
      for await (const m of messages(subject, prev + 1, mine - 1)) {
        const header = decodeCoverage(m.headers?.get(COVERAGE_HEADER) ?? '');
        if (header instanceof Coverage) coverage = Coverage.union(coverage, header);
        coverage = coverageWith(coverage, coverage.fresh(decodeBody(clientId, m.data, m.seq)));
      }
      st.coverage = coverage;
      const h = headers();
      h.set(FORMAT_HEADER, FORMAT);
      h.set(COVERAGE_HEADER, encodeCoverage(coverage));
      h.set(FIRST_HEADER, String(st.first));
      try {
        const ack = await guarded(`appending to ${subject}`, () =>
          js.publish(subject, new TextEncoder().encode(`{"receivedAt":${receivedAt},"events":[]}`), {
            expect: { lastSubjectSequence: mine },
            headers: h,
            timeout: timeoutMs,
          }),
        );
        prev = mine;
        st.last = ack.seq;
        st.msgs = st.msgs < 0 ? -1 : st.msgs + 1;
      } catch (err) {
        if (!wrongLastSequence(err)) throw err;
        // Appended to since: the next append reads it (a conflict) and writes the union.
        return;
      }
    }
  }

  async function appendNow(clientId: string, events: readonly WireEvent[], receivedAt: number): Promise<AppendOutcome> {
    const subject = eventSubject(prefix, clientId);
    const st = state(clientId);
    let appended = 0;
    for (let attempt = 0; ; attempt++) {
      const fresh = st.coverage.fresh(events);
      if (fresh.length === 0) break;
      if (attempt === MAX_ATTEMPTS)
        throw new StorageError(
          `${subject}: ${MAX_ATTEMPTS} conflicting appends in a row from other processes; nothing more was stored, retry later`,
        );
      let conflict = false;
      for (const chunk of encodeChunks(fresh, receivedAt, maxBody)) {
        const after = coverageWith(st.coverage, chunk.events);
        const h = headers();
        const coverageHeader = encodeCoverage(after);
        h.set(FORMAT_HEADER, FORMAT);
        h.set(COVERAGE_HEADER, coverageHeader);
        h.set(FIRST_HEADER, String(st.first));
        let ack: PubAck;
        try {
          ack = await guarded(`appending to ${subject}`, () =>
            js.publish(subject, chunk.body, {
              msgID: messageId(clientId, chunk.events),
              expect: { lastSubjectSequence: st.last },
              headers: h,
              timeout: timeoutMs,
            }),
          );
        } catch (err) {
          if (!wrongLastSequence(err)) throw err;
          conflict = true;
          break;
        }
        // A duplicate: this very message (same id) is stored already, by a
        // retry of ours whose answer was lost or by another process.
        if (ack.duplicate) {
          conflict = true;
          break;
        }
        const prev = st.last;
        st.coverage = after;
        if (st.first === 0) st.first = ack.seq;
        st.last = ack.seq;
        st.msgs = st.msgs < 0 ? -1 : st.msgs + 1;
        appended += chunk.events.length;
        if (replicated) await settle(st, clientId, subject, prev, receivedAt);
        // An estimate until the next refresh reads the stream's size: body,
        // subject, headers, and the store's per-message record.
        bytes += chunk.body.length + 2 * subject.length + coverageHeader.length + 160;
      }
      if (!conflict) break;
      await sync(st, clientId, subject);
    }
    return { appended, duplicates: events.length - appended, ackedThrough: st.coverage.through, gaps: st.coverage.gaps() };
  }

  async function refreshNow(): Promise<void> {
    const si = await guarded('reading the stream info', () => jsm.streams.info(stream, { subjects_filter: all }));
    bytes = si.state.bytes;
    const changed: [string, string, number][] = [];
    for (const [subject, count] of Object.entries(si.state.subjects ?? {})) {
      const id = clientOf(prefix, subject);
      if (id !== undefined && clients.get(id)?.msgs !== count) changed.push([id, subject, count]);
    }
    const added: string[] = [];
    await parallel(changed, PARALLEL_READS, ([id, subject, count]) =>
      serialize(id, async () => {
        if (!clients.has(id)) added.push(id);
        const st = state(id);
        const msg = await lastMessage(subject, direct);
        if (msg) await advance(st, id, msg);
        st.msgs = count;
      }),
    );
    // Newly seen clients in the order they first appeared in the stream.
    added.sort((a, b) => clients.get(a)!.first - clients.get(b)!.first);
    for (const id of added) {
      const st = clients.get(id)!;
      clients.delete(id);
      clients.set(id, st);
    }
  }

  const refresh = (): Promise<void> => {
    if (closed) return Promise.reject(new RuntimeClosedError('refresh() after close(): open a new log'));
    refreshing ??= refreshNow().finally(() => (refreshing = undefined));
    return refreshing;
  };

  // Right after a cluster (re)starts, a stream answers its info before its reads.
  await askAgainOnTimeout(refresh);
  // Every refreshMs on the clock, the next one counted from the end of the last.
  let cancelRefresh: (() => void) | undefined;
  const scheduleRefresh = () => {
    cancelRefresh = s.clock.timeout(() => {
      void refresh()
        .catch(() => undefined)
        .finally(() => {
          if (!closed) scheduleRefresh();
        });
    }, s.refreshMs);
  };
  if (s.refreshMs > 0) scheduleRefresh();

  const ensureOpen = (what: string) => {
    if (closed) throw new RuntimeClosedError(`${what} after close(): open a new log`);
  };

  return {
    append(clientId: string, events: readonly WireEvent[], receivedAt: number): Promise<AppendOutcome> {
      try {
        ensureOpen('append()');
        checkAppend(clientId, events, receivedAt);
      } catch (err) {
        return Promise.reject(err);
      }
      if (events.length === 0) {
        const c = clients.get(clientId)?.coverage ?? new Coverage();
        return Promise.resolve({ appended: 0, duplicates: 0, ackedThrough: c.through, gaps: c.gaps() });
      }
      return serialize(clientId, () => appendNow(clientId, events, receivedAt));
    },

    async *read(options?: { readonly clientId?: string }): AsyncIterable<readonly LoggedEvent[]> {
      ensureOpen('read()');
      const clientId = options?.clientId;
      let filter = all;
      let to: number;
      if (clientId !== undefined) {
        filter = eventSubject(prefix, clientId);
        const last = await lastMessage(filter, direct);
        if (!last) return;
        to = last.seq;
      } else {
        const si = await guarded('reading the stream info', () => jsm.streams.info(stream));
        if (si.state.messages === 0) return;
        to = si.state.last_seq;
      }
      let chunk: LoggedEvent[] = [];
      // Each (client, seq) once, at its first message: two processes racing on one client's subject can both
      // store a message (nats-server 2.9 does not enforce a subject's expected sequence on a replicated stream; see `settle`).
      const read = new Map<string, Coverage>();
      for await (const m of messages(filter, 1, to)) {
        const id = clientOf(prefix, m.subject);
        if (id === undefined) continue;
        for (const e of freshOnce(read, id, decodeBody(id, m.data, m.seq))) chunk.push(e);
        if (chunk.length >= READ_CHUNK) {
          yield chunk;
          chunk = [];
        }
      }
      if (chunk.length > 0) yield chunk;
    },

    clients(): readonly ClientProgress[] {
      const out: ClientProgress[] = [];
      for (const [id, st] of clients) if (st.last > 0) out.push(progress(id, st.coverage));
      return out;
    },

    stats() {
      let events = 0;
      let n = 0;
      for (const st of clients.values()) {
        if (st.last === 0) continue;
        events += st.coverage.count;
        n++;
      }
      return { events, bytes, clients: n };
    },

    refresh,

    async close() {
      if (closed) return;
      closed = true;
      cancelRefresh?.();
      await Promise.allSettled([...tails.values(), refreshing]);
      if (nc.isClosed()) return;
      // Draining flushes what is buffered; it cannot while the connection is
      // down, and must not hang close() then: it gets timeoutMs at most.
      if (connected) {
        let stop: (() => void) | undefined;
        await Promise.race([nc.drain().catch(() => undefined), new Promise<void>((resolve) => (stop = s.clock.timeout(resolve, timeoutMs)))]);
        stop?.();
      }
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    },
  };
}

/** Creates the stream, or checks that an existing one can hold the log. */
/** How many times a start asks a timed-out request (each waits the request timeout). */
const START_ATTEMPTS = 6;

/**
 * `request`, asked again while it times out, at most {@link START_ATTEMPTS}
 * times: a cluster that just started or lost a node answers nothing about a
 * stream until the stream has elected its leader, a few seconds. @internal
 */
export async function askAgainOnTimeout<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      const timedOut = err instanceof NatsTimeoutError || (err instanceof StorageError && err.cause instanceof NatsTimeoutError);
      if (!timedOut || attempt === START_ATTEMPTS) throw err;
    }
  }
}

async function bindStream(jsm: JetStreamManager, s: Settings): Promise<StreamInfo> {
  const { stream } = s;
  const want = `${s.prefix}.events.*`;
  let info: StreamInfo;
  try {
    info = await askAgainOnTimeout(() => jsm.streams.info(stream));
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound))
      throw err instanceof NatsTimeoutError
        ? new StorageError(
            `reading stream "${stream}": JetStream did not answer ${START_ATTEMPTS} times in a row within ${s.timeoutMs} ms ` +
              '(nats-server down or overloaded, or the stream has no leader: with replicas, a majority of its nodes must be up)',
            { cause: err },
          )
        : failure(`reading stream "${stream}"`, err, s.timeoutMs);
    const config: Partial<StreamConfig> & { name: string } = {
      name: stream,
      subjects: [want],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      duplicate_window: s.duplicateWindowMs * 1_000_000,
      num_replicas: s.replicas,
      allow_direct: true,
    };
    try {
      info = await jsm.streams.add(config);
    } catch (addErr) {
      // Another process may have created it meanwhile; otherwise say why.
      info = await jsm.streams.info(stream).catch(() => {
        throw new StorageError(
          `could not create stream "${stream}" for ${want} (${errorParts(addErr).message}); ` +
            'if another stream already captures these subjects, use it (option stream) or another subjectPrefix',
          { cause: addErr },
        );
      });
    }
  }
  const c = info.config;
  const fix = 'name another stream (option stream) or subject prefix (option subjectPrefix)';
  if (!(c.subjects ?? []).some((p) => subjectCovers(p, want)))
    throw new InvalidOptionError(
      'jetStreamLog.stream',
      `stream "${stream}" exists with subjects ${JSON.stringify(c.subjects ?? [])}, which do not capture ${want}: ` +
        `${fix}, or add "${want}" to the stream's subjects`,
    );
  if (c.storage !== StorageType.File)
    throw new InvalidOptionError(
      'jetStreamLog.stream',
      `stream "${stream}" keeps its messages in memory, so events would not survive a restart of nats-server: ${fix}`,
    );
  if (c.retention !== RetentionPolicy.Limits)
    throw new InvalidOptionError(
      'jetStreamLog.stream',
      `stream "${stream}" has ${c.retention} retention, which deletes messages once consumed; the log needs limits retention: ${fix}`,
    );
  if ((c.num_replicas ?? 1) < s.replicas)
    throw new InvalidOptionError(
      'jetStreamLog.replicas',
      `stream "${stream}" has ${c.num_replicas ?? 1} replica(s) and ${s.replicas} were asked for, so losing a NATS node could lose events: ` +
        `raise it (nats stream edit ${stream} --replicas ${s.replicas}) or ask for ${c.num_replicas ?? 1} (--replicas)`,
    );
  const minWindowNs = 2 * s.timeoutMs * 1_000_000;
  if ((c.duplicate_window ?? 0) < minWindowNs)
    throw new InvalidOptionError(
      'jetStreamLog.stream',
      `stream "${stream}" has a duplicate window of ${Math.round((c.duplicate_window ?? 0) / 1_000_000)} ms, shorter than twice the ` +
        `publish timeout (${2 * s.timeoutMs} ms): a publish retried after a lost acknowledgement could be stored twice. ` +
        `Raise it (nats stream edit ${stream} --dupe-window 2m) or ${fix}`,
    );
  if (c.sealed) throw new InvalidOptionError('jetStreamLog.stream', `stream "${stream}" is sealed: no message can be added; ${fix}`);
  return info;
}

function wrongLastSequence(err: unknown): boolean {
  const cause = err instanceof StorageError ? err.cause : err;
  return (
    cause instanceof JetStreamApiError &&
    (cause.code === JetStreamApiCodes.StreamWrongLastSequence || cause.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A NATS or JetStream failure as a {@link StorageError} that says what happened and what to do. */
function failure(what: string, err: unknown, timeoutMs: number): Error {
  if (err instanceof StorageError || err instanceof ProtocolError) return err;
  const message = errorParts(err).message;
  if (err instanceof NatsTimeoutError)
    return new StorageError(
      `${what}: JetStream did not answer within ${timeoutMs} ms (nats-server down or overloaded); ` +
        'the events may or may not be stored, and retrying the append is safe',
      { cause: err },
    );
  if (err instanceof ClosedConnectionError) return new StorageError(`${what}: the NATS connection is closed`, { cause: err });
  if (err instanceof NoRespondersError || (err as Error | null)?.name === 'JetStreamNotEnabled')
    return new StorageError(`${what}: JetStream did not answer (no responders: starting up, or not enabled with -js); retry later`, {
      cause: err,
    });
  return new StorageError(`${what}: ${message}`, { cause: err });
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first failure. */
async function parallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
