/**
 * The NATS side of `tidemark serve --nats --pipeline` (the only file of the
 * cluster layer that talks to NATS, loaded with the NATS client on first
 * use): a KV bucket for leases and checkpoints, a stream for the served
 * view's inputs, optimistic writes on both, and ordered consumers that
 * follow a stream.
 *
 * - Bucket `<stream>_STATE` (`@nats-io/kv`): `lease.<p>` and `cp.<p>` per
 *   partition, `member.<id>` per process. Writes give the revision they
 *   expect and answer `'conflict'` when another process wrote first.
 * - Stream `<stream>_VIEW`, subjects `<prefix>.view.>`: each partition's
 *   fired panes on `<prefix>.view.speed.<p>` and the batch layer's views on
 *   `<prefix>.view.batch`.
 *
 * **Optimistic writes expect the stream's last sequence, not the key's.**
 * nats-server 2.9 (Debian's) does not enforce a subject's expected last
 * sequence on a replicated stream when two publishes race: both can be
 * stored (171 of 200 races in a probe on a 3-node cluster). It does enforce
 * the stream's (0 of 200). So a conditional write reads the stream's last
 * sequence, then the key's last revision, both from the stream's leader,
 * and publishes only if nothing at all was written to the stream since: a
 * write to another key makes it read and try again, a write to the same
 * key is a conflict. `cluster-cas.test.ts` races two processes on a
 * 3-node cluster to pin it.
 *
 * @internal
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
  RetentionPolicy,
  StorageType,
  type StoredMsg,
  type StreamInfo,
} from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, headers, type NatsConnection, type NodeConnectionOptions, TimeoutError as NatsTimeoutError } from '@nats-io/transport-node';
import { errorParts, InvalidOptionError, StorageError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { RecordLog } from './append-file.js';
import { askAgainOnTimeout } from './jetstream-log.js';

/** A followed consumer that delivered nothing for this long while messages wait is made again (ms). */
const STALL_MS = 2_000;

/** A conditional write that lost this many races to writes of other keys in a row gives up. */
const CAS_ATTEMPTS = 200;

/** Where the cluster state lives and how it is replicated. */
export interface ClusterSettings {
  readonly servers: readonly string[];
  /** The log's stream: the bucket is `<stream>_STATE`, the view stream `<stream>_VIEW`. */
  readonly stream: string;
  readonly prefix: string;
  /** Replicas of the bucket and the view stream (1, 3 or 5; at most the cluster's size). */
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly connection?: Omit<NodeConnectionOptions, 'servers'>;
  /** Paces retries of a lost consumer. */
  readonly clock: Clock;
}

/** A KV entry as read: its JSON value and revision. */
export interface Entry<T> {
  readonly value: T;
  readonly revision: number;
}

/** A message of a followed stream. */
export interface FollowedMessage {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  /** Messages of the filter still in the stream after this one (0: caught up). */
  readonly pending: number;
}

/** A {@link RecordLog} on a JetStream subject. */
export interface SubjectRecords extends RecordLog {
  /** Resolves once every record appended before the call is applied. */
  sync(): Promise<void>;
}

/** The cluster's NATS primitives. */
export interface ClusterNats {
  readonly bucket: string;
  readonly viewStream: string;
  /** The largest value or message body to write (the server's `max_payload` less room for headers). */
  readonly maxBody: number;
  get<T>(key: string): Promise<Entry<T> | null>;
  /** Writes `key` if it does not exist (or was deleted); `'conflict'` when it exists. */
  create(key: string, value: unknown): Promise<number | 'conflict'>;
  /** Writes `key` if its revision is still `revision`; `'conflict'` otherwise. */
  update(key: string, value: unknown, revision: number): Promise<number | 'conflict'>;
  put(key: string, value: unknown): Promise<number>;
  /** The keys matching `filter` (a subject pattern such as `member.*`). */
  keys(filter: string): Promise<string[]>;
  /** Deletes `key`, if its revision is still `revision` when given. */
  remove(key: string, revision?: number): Promise<void>;
  publish(subject: string, body: Uint8Array): Promise<number>;
  /** Stream sequence of the last message of `stream` matching `filter` (0: none). */
  lastOf(stream: string, filter: string): Promise<number>;
  /**
   * Delivers `stream`'s messages matching `filter` from sequence `from` on,
   * in order, then every new one, until the answer is called. `onMessage`
   * is awaited before the next message.
   */
  follow(stream: string, filter: string, from: number, onMessage: (m: FollowedMessage) => Promise<void> | void, onError: (e: unknown) => void): () => void;
  /**
   * A durable record on `subject` of the server stream (`<stream>_SERVER`),
   * followed from its start: `onValue` gets every record another process
   * appends (not this one's: its store applies those itself). With
   * `exclusive`, an append is refused with a {@link StorageError} when
   * another process appended since this one last followed.
   */
  records(subject: string, onValue: (value: unknown) => void, options?: { readonly exclusive?: boolean }): Promise<SubjectRecords>;
  /** Whether the connection is up now. */
  connected(): boolean;
  close(): Promise<void>;
}

/** Connects, then creates or checks the bucket and the view stream; refuses a configuration that cannot hold the cluster's state. */
export async function openClusterNats(s: ClusterSettings): Promise<ClusterNats> {
  let nc: NatsConnection;
  try {
    nc = await connect({ maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: s.timeoutMs, ...s.connection, servers: [...s.servers] });
  } catch (err) {
    throw new StorageError(
      `could not connect to NATS at ${s.servers.join(', ')} (${errorParts(err).message}); is nats-server running, with JetStream enabled (-js)?`,
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

async function open(nc: NatsConnection, s: Settings): Promise<ClusterNats> {
  const jsm = await askAgainOnTimeout(() => jetstreamManager(nc, { timeout: s.timeoutMs })).catch((err: unknown) => {
    throw new StorageError(`JetStream is not available on ${s.servers.join(', ')} (${errorParts(err).message}); start nats-server with -js`, {
      cause: err,
    });
  });
  const js: JetStreamClient = jetstream(nc, { timeout: s.timeoutMs });
  const bucket = `${s.stream}_STATE`;
  const viewStream = `${s.stream}_VIEW`;
  const serverStream = `${s.stream}_SERVER`;
  const kv = await bindBucket(js, jsm, bucket, s);
  await bindStream(jsm, viewStream, `${s.prefix}.view.>`, 'panes partitions recompute and batch views', s);
  await bindStream(jsm, serverStream, `${s.prefix}.server.>`, 'uploaded results and corrections', s);
  let nonce = 0;
  const writer = Math.random().toString(36).slice(2, 10);
  const maxBody = (nc.info?.max_payload ?? 1024 * 1024) - 4096;
  let up = true;
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === 'disconnect') up = false;
      else if (st.type === 'reconnect') up = true;
    }
  })().catch(() => undefined);
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const follows = new Set<() => void>();
  const kvStream = `KV_${bucket}`;
  /** The key's last message (a value or a delete marker), from the stream's leader; `null` when none. */
  const lastOfKey = (key: string): Promise<StoredMsg | null> =>
    jsm.streams.getMessage(kvStream, { last_by_subj: `$KV.${bucket}.${key}` }).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      throw err;
    });
  /** Whether a bucket message is a value (not a delete or purge marker). */
  const isPut = (m: StoredMsg) => (m.header?.get('KV-Operation') || 'PUT') === 'PUT'; // get() answers '' when absent
  /** The stream's last sequence, from its leader. */
  const streamLast = async (stream: string): Promise<number> => (await jsm.streams.info(stream)).state.last_seq;
  /**
   * Writes `key` (a value, or a delete marker when `value` is `null`) if its
   * last revision is still `expected` (0: it does not exist, or was deleted).
   */
  const compareAndSet = async (key: string, value: unknown, expected: number): Promise<number | 'conflict'> => {
    const subject = `$KV.${bucket}.${key}`;
    try {
      for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        const last = await streamLast(kvStream);
        const m = await lastOfKey(key);
        const revision = m?.seq ?? 0;
        if (revision > last) continue; // written between the two reads
        const live = m !== null && isPut(m);
        if (expected === 0 ? live : revision !== expected) return 'conflict';
        const h = headers();
        if (value === null) h.set('KV-Operation', 'DEL');
        try {
          const ack = await js.publish(subject, value === null ? new Uint8Array(0) : json(value), {
            headers: h,
            expect: { lastSequence: last },
          });
          return ack.seq;
        } catch (err) {
          if (!isConflict(err)) throw err;
        }
      }
    } catch (err) {
      throw asStorage(`writing ${key} of ${bucket}`, err);
    }
    throw new StorageError(
      `writing ${key} of ${bucket}: lost ${CAS_ATTEMPTS} races in a row to writes of other keys; the bucket is too busy, retry later`,
    );
  };

  const api: ClusterNats = {
    bucket,
    viewStream,
    maxBody,
    async get<T>(key: string) {
      // From the stream's leader, not a replica's direct get: a replica may not have applied a write already
      // acknowledged (a checkpoint's chunks, read after its head from another replica, could be missing).
      const m = await lastOfKey(key).catch((err: unknown) => {
        throw asStorage(`reading ${key} of ${bucket}`, err);
      });
      if (!m || !isPut(m)) return null;
      return { value: m.json<T>(), revision: m.seq };
    },
    create: (key, value) => compareAndSet(key, value, 0),
    update: (key, value, revision) => compareAndSet(key, value, revision),
    put: (key, value) =>
      kv.put(key, json(value)).catch((err: unknown) => {
        throw asStorage(`writing ${key} of ${bucket}`, err);
      }),
    async keys(filter) {
      // From the stream's subject counts: one request, no consumer (a cluster that lost a node is slow to make those).
      const prefix = `$KV.${bucket}.`;
      try {
        const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}${filter}` });
        return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
      } catch (err) {
        throw asStorage(`listing ${filter} of ${bucket}`, err);
      }
    },
    async remove(key, revision) {
      if (revision !== undefined) return void (await compareAndSet(key, null, revision));
      await kv.delete(key).catch((err: unknown) => {
        throw asStorage(`deleting ${key} of ${bucket}`, err);
      });
    },
    lastOf: (stream, filter) => lastOf(jsm, stream, filter),
    async publish(subject, body) {
      try {
        return (await js.publish(subject, body)).seq;
      } catch (err) {
        throw asStorage(`publishing on ${subject}`, err);
      }
    },
    follow(stream, filter, from, onMessage, onError) {
      let stopped = false;
      let stopIter: (() => void) | undefined;
      let next = from;
      let wake: (() => void) | undefined;
      const run = async () => {
        const consumer = await js.consumers.get(stream, {
          filter_subjects: filter,
          ...(next > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next } : { deliver_policy: DeliverPolicy.All }),
        });
        const iter = await consumer.consume({ max_messages: 256 });
        stopIter = () => void iter.stop();
        if (stopped) stopIter();
        for await (const m of iter) {
          if (stopped) break;
          if (m.seq < next) continue;
          await onMessage({ seq: m.seq, subject: m.subject, data: m.data, pending: m.info.pending });
          next = m.seq + 1;
        }
      };
      // A consumer that stalls without an error (its node died, and the heartbeats that would reset it are 30 s apart):
      // when messages wait and none came for a while, it is made again after the last message handled.
      let delivered = next;
      const watchdog = () => {
        if (stopped) return;
        s.clock.timeout(() => {
          const at = next;
          void (delivered === at && !stopped
            ? lastOf(jsm, stream, filter).then(
                (last) => {
                  if (last >= at && next === at) stopIter?.();
                },
                () => undefined,
              )
            : Promise.resolve()
          ).finally(() => {
            delivered = next;
            watchdog();
          });
        }, STALL_MS);
      };
      watchdog();
      // A consumer lost with a node, or not created while the cluster elects a leader: made again after the last message handled.
      void (async () => {
        while (!stopped) {
          await run().catch((err: unknown) => {
            if (!stopped) onError(asStorage(`following ${filter} on ${stream} (retrying from sequence ${next})`, err));
          });
          if (stopped) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            s.clock.timeout(resolve, 500);
          });
        }
      })();
      const stop = () => {
        stopped = true;
        stopIter?.();
        wake?.();
        follows.delete(stop);
      };
      follows.add(stop);
      return stop;
    },
    async records(name, onValue, options = {}) {
      const subject = `${s.prefix}.server.${name}`;
      const own = new Set<string>();
      let folded = 0;
      const waiters: { seq: number; resolve: () => void }[] = [];
      const through = (seq: number) => (seq <= folded ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ seq, resolve })));
      const stop = api.follow(
        serverStream,
        subject,
        1,
        (m) => {
          const doc = JSON.parse(new TextDecoder().decode(m.data)) as { w: string; v: unknown };
          if (!own.delete(doc.w)) onValue(doc.v);
          folded = m.seq;
          for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.seq <= folded) waiters.splice(i, 1)[0]!.resolve();
        },
        () => undefined, // retried by follow
      );
      /** Applies everything up to the subject's last message; answers that message's sequence. */
      const sync = async (): Promise<number> => {
        const last = await lastOf(jsm, serverStream, subject);
        await through(last);
        return last;
      };
      /** The subject's last sequence when this process last followed with `cut`: what an exclusive append expects. */
      let basis = await sync();
      let tail: Promise<unknown> = Promise.resolve();
      const conflict = (err?: unknown) =>
        Object.assign(new StorageError(`another process appended to ${subject} at the same time; nothing was written, retry`, { cause: err }), {
          conflict: true,
        });
      /**
       * Publishes only if the subject's last message is still `basis`: the
       * stream's last sequence is expected (see the module comment), so an
       * append to the stream's other subject makes it read and try again.
       */
      const publishExclusive = async (body: Uint8Array): Promise<number> => {
        for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
          const last = await streamLast(serverStream);
          const subjectLast = await lastOf(jsm, serverStream, subject);
          if (subjectLast > last) continue;
          if (subjectLast !== basis) throw conflict();
          try {
            return (await js.publish(subject, body, { expect: { lastSequence: last } })).seq;
          } catch (err) {
            if (!isConflict(err)) throw err;
          }
        }
        throw new StorageError(`appending to ${subject}: lost ${CAS_ATTEMPTS} races in a row to other appends; retry later`);
      };
      return {
        sync: async () => void (await sync()),
        async follow(o) {
          const last = await sync();
          if (o?.cut) basis = last;
        },
        append(value) {
          const run = tail.then(async () => {
            const w = `${writer}-${++nonce}`;
            own.add(w);
            const body = json({ w, v: value });
            try {
              if (body.length > maxBody + 3072)
                throw new StorageError(`a record of ${body.length} bytes is more than NATS's max_payload allows (${maxBody + 3072}); write fewer at a time`);
              const seq = options.exclusive ? await publishExclusive(body) : (await js.publish(subject, body)).seq;
              if (options.exclusive) basis = seq;
              await through(seq);
            } catch (err) {
              own.delete(w);
              if ((err as { conflict?: boolean }).conflict) throw err;
              throw asStorage(`appending to ${subject}`, err);
            }
          });
          tail = run.catch(() => undefined);
          return run;
        },
        async rewrite() {
          throw new StorageError(`${subject} is a JetStream subject: it is not compacted by tidemark (retention is for the file log)`);
        },
        async close() {
          stop();
        },
      };
    },
    connected: () => up && !nc.isClosed(),
    async close() {
      for (const stop of [...follows]) stop();
      if (nc.isClosed()) return;
      await nc.close().catch(() => undefined);
    },
  };
  return api;
}

type Settings = ClusterSettings;

/** Opens the bucket, creating it when missing; refuses one with fewer replicas than asked for. */
async function bindBucket(js: JetStreamClient, jsm: JetStreamManager, bucket: string, s: Settings): Promise<KV> {
  const kvm = new Kvm(js);
  const exists = await jsm.streams.info(`KV_${bucket}`).then(
    () => true,
    async (err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return false;
      // Another process may be creating it right now: its first requests time out until it has a leader.
      if (!(err instanceof NatsTimeoutError)) throw asStorage(`reading bucket ${bucket}`, err);
      await leaderOf(jsm, `KV_${bucket}`, s);
      return true;
    },
  );
  if (!exists) {
    try {
      return await kvm.create(bucket, { replicas: s.replicas, history: 8, storage: StorageType.File });
    } catch (err) {
      // Another process starting at the same time may have created it (this request then times out or is refused).
      const made = await jsm.streams.info(`KV_${bucket}`).then(
        () => true,
        () => false,
      );
      if (!made) throw replicaHint(`could not create KV bucket ${bucket} with ${s.replicas} replicas`, err, s.replicas);
    }
  }
  const kv = await kvm.open(bucket);
  const st = await kv.status();
  if (st.replicas < s.replicas)
    throw new InvalidOptionError(
      'replicas',
      `KV bucket ${bucket} has ${st.replicas} replica${st.replicas === 1 ? '' : 's'} and ${s.replicas} were asked for: ` +
        `a NATS node lost would lose the leases and checkpoints. Give it ${s.replicas} (nats kv edit ${bucket} --replicas ${s.replicas}, ` +
        `or delete it while no server runs: nats kv del ${bucket}), or pass --replicas ${st.replicas}`,
    );
  if (st.ttl > 0)
    throw new InvalidOptionError(
      'replicas',
      `KV bucket ${bucket} expires its entries after ${st.ttl} ms, which would drop checkpoints: create it without a TTL (delete it while no server runs)`,
    );
  await leaderOf(jsm, `KV_${bucket}`, s);
  return kv;
}

/** Creates a stream of the cluster's state, or checks an existing one (subjects, file storage, limits retention, replicas). */
async function bindStream(jsm: JetStreamManager, name: string, subject: string, holds: string, s: Settings): Promise<StreamInfo> {
  const subjects = [subject];
  const notFound = (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (!notFound(err)) {
      // Another process may be creating it right now: its first requests time out until it has a leader.
      if (!(err instanceof NatsTimeoutError)) throw asStorage(`reading stream ${name}`, err);
      await leaderOf(jsm, name, s);
      info = await jsm.streams.info(name);
    } else
      try {
        info = await jsm.streams.add({
          name,
          subjects,
          storage: StorageType.File,
          retention: RetentionPolicy.Limits,
          num_replicas: s.replicas,
          allow_direct: true,
        });
      } catch (addErr) {
        // Made meanwhile by another process starting at the same time, or not made at all.
        const made = await jsm.streams.info(name).then(
          () => true,
          (e: unknown) => !notFound(e),
        );
        if (!made) throw replicaHint(`could not create stream ${name}`, addErr, s.replicas);
        await leaderOf(jsm, name, s);
        info = await jsm.streams.info(name);
      }
  }
  const c = info.config;
  const fix = `use another --stream, or move ${name} aside (it holds ${holds})`;
  if (!(c.subjects ?? []).includes(subjects[0]!))
    throw new InvalidOptionError('stream', `stream ${name} exists with subjects ${JSON.stringify(c.subjects)}, not ${subjects[0]}: ${fix}`);
  if (c.storage !== StorageType.File || c.retention !== RetentionPolicy.Limits)
    throw new InvalidOptionError('stream', `stream ${name} must keep messages on file with limits retention (it has ${c.storage}, ${c.retention}): ${fix}`);
  if ((c.max_age ?? 0) > 0 || (c.max_msgs ?? -1) > 0 || (c.max_bytes ?? -1) > 0)
    throw new InvalidOptionError(
      'stream',
      `stream ${name} has limits (max_age ${c.max_age}, max_msgs ${c.max_msgs}, max_bytes ${c.max_bytes}) that would drop ${holds} a server reads at start: ` +
        `remove them (nats stream edit ${name} --max-age 0 --max-msgs -1 --max-bytes -1), or ${fix}`,
    );
  if (c.num_replicas < s.replicas)
    throw new InvalidOptionError(
      'replicas',
      `stream ${name} has ${c.num_replicas} replica${c.num_replicas === 1 ? '' : 's'} and ${s.replicas} were asked for: ` +
        `nats stream edit ${name} --replicas ${s.replicas}, or ${fix}, or pass --replicas ${c.num_replicas}`,
    );
  await leaderOf(jsm, name, s);
  return info;
}

/** How long a stream just created (by this or another process) may take to elect its leader (ms). */
const LEADER_WAIT_MS = 30_000;

/** Resolves once `stream` has a leader: right after a creation, its first requests time out until one is elected. */
async function leaderOf(jsm: JetStreamManager, stream: string, s: Settings): Promise<void> {
  const deadline = s.clock.now() + LEADER_WAIT_MS;
  for (;;) {
    const info = await jsm.streams.info(stream).catch((err: unknown) => err as Error);
    if (!(info instanceof Error) && (info.cluster === undefined || info.cluster.leader)) return;
    if (s.clock.now() > deadline)
      throw asStorage(`stream ${stream} has no leader after ${LEADER_WAIT_MS / 1000} s`, info instanceof Error ? info : new Error('no leader elected'));
    await new Promise<void>((resolve) => s.clock.timeout(resolve, 100));
  }
}

async function lastOf(jsm: JetStreamManager, stream: string, subject: string): Promise<number> {
  try {
    const m = await jsm.streams.getMessage(stream, { last_by_subj: subject });
    return m?.seq ?? 0;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return 0;
    throw asStorage(`reading the last message of ${subject}`, err);
  }
}

function isConflict(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

function replicaHint(what: string, err: unknown, replicas: number): Error {
  const message = errorParts(err).message;
  if (/insufficient resources|replicas/i.test(message))
    return new InvalidOptionError(
      'replicas',
      `${what}: ${message}. ${replicas} replicas need a JetStream cluster of at least ${replicas} nodes: pass --replicas 1 for one nats-server`,
    );
  return asStorage(what, err);
}

function asStorage(what: string, err: unknown): Error {
  if (err instanceof StorageError || err instanceof InvalidOptionError) return err;
  return new StorageError(`${what}: ${errorParts(err).message} (is the NATS cluster reachable, with a JetStream leader?)`, { cause: err });
}
