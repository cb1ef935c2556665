/**
 * A real nats-server with JetStream for the JetStream log's tests and
 * benchmark: started on a free loopback port with its own store directory,
 * and killed after. Uses `$NATS_SERVER` (scripts/test.sh sets it) or
 * `nats-server` on the PATH; fails, never skips, when neither exists.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const INSTALL =
  'install it (sudo apt-get install -y nats-server, or a release from https://github.com/nats-io/nats-server/releases) ' +
  'or point NATS_SERVER at a nats-server binary; scripts/test.sh installs it when run as root';

/** A running (or stopped) nats-server. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`-sd`), kept across {@link NatsServer.kill} and {@link NatsServer.start}. */
  readonly storeDir: string;
  /** Kills the server with SIGKILL (a crash: no shutdown, no flush) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same store directory. */
  start(): Promise<void>;
  /** Stops the server and removes its store directory. */
  stop(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Resolves once something on `port` answers with a NATS `INFO` line. */
async function waitForInfo(port: number, child: ChildProcess, output: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}) before accepting connections:\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      const done = (value: boolean) => {
        socket.destroy();
        resolve(value);
      };
      socket.setTimeout(500, () => done(false));
      socket.once('error', () => done(false));
      socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('INFO ')));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nats-server did not accept connections on port ${port} within ${timeoutMs} ms:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts `nats-server -a 127.0.0.1 -p <free port> -js -sd <tmpdir>` and
 * resolves once it accepts connections.
 */
export async function startNatsServer(
  options: { readonly port?: number; readonly storeDir?: string; readonly args?: readonly string[] } = {},
): Promise<NatsServer> {
  // A free port picked here may be taken by a test file running alongside before the server binds it: then another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsServerOnce(options);
    } catch (err) {
      if (options.port !== undefined || attempt === 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startNatsServerOnce(
  options: { readonly port?: number; readonly storeDir?: string; readonly args?: readonly string[] },
): Promise<NatsServer> {
  const bin = process.env['NATS_SERVER'] ?? 'nats-server';
  const port = options.port ?? (await freePort());
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'tidemark-nats-'));
  let child: ChildProcess | undefined;
  let log = '';

  const start = async () => {
    log = '';
    const c = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    const collect = (chunk: Buffer) => {
      if (log.length < 64 * 1024) log += chunk.toString();
    };
    c.stdout?.on('data', collect);
    c.stderr?.on('data', collect);
    const spawned = await new Promise<Error | undefined>((resolve) => {
      c.once('spawn', () => resolve(undefined));
      c.once('error', (err) => resolve(err));
    });
    if (spawned) {
      const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
      throw new Error(
        missing
          ? `nats-server not found (${bin}): the JetStream log tests need a real server; ${INSTALL}`
          : `nats-server (${bin}) could not be started: ${spawned.message}`,
      );
    }
    try {
      await waitForInfo(port, c, () => log, 15_000);
    } catch (err) {
      c.kill('SIGKILL');
      throw err;
    }
  };

  const terminate = async (signal: NodeJS.Signals) => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (err) {
    if (!options.storeDir) rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    kill: () => terminate('SIGKILL'),
    start,
    async stop() {
      await terminate('SIGTERM');
      if (!options.storeDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/** A JetStream cluster of real nats-server processes on loopback. */
export interface NatsCluster {
  /** Every node's client URL, for `servers`. */
  readonly urls: string[];
  readonly nodes: NatsServer[];
  /** Resolves once the cluster can place a stream on every node again (after a node was stopped and started). */
  ready(): Promise<void>;
  /** Stops every node and removes their store directories. */
  stop(): Promise<void>;
}

/**
 * Starts `size` nats-server processes with JetStream, routed to each other
 * (`--cluster`, `--routes`, one cluster name, a server name each), and
 * resolves once JetStream has a meta leader: streams and buckets with up to
 * `size` replicas can then be created.
 */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  // Free ports are picked before the nodes start: a test file running alongside may take one first. Then again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(size);
    } catch (err) {
      if (attempt === 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startNatsClusterOnce(size: number): Promise<NatsCluster> {
  const ports = [] as number[];
  const routes = [] as number[];
  for (let i = 0; i < size; i++) {
    ports.push(await freePort());
    routes.push(await freePort());
  }
  const routeList = routes.map((p) => `nats://127.0.0.1:${p}`).join(',');
  const nodes = [] as NatsServer[];
  try {
    for (let i = 0; i < size; i++)
      nodes.push(
        await startNatsServer({
          port: ports[i]!,
          args: ['--server_name', `n${i + 1}`, '--cluster_name', 'tidemark', '--cluster', `nats://127.0.0.1:${routes[i]}`, '--routes', routeList],
        }),
      );
    await waitForMetaLeader(nodes.map((n) => n.url), size);
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  const urls = nodes.map((n) => n.url);
  return { urls, nodes, ready: () => waitForMetaLeader(urls, size), stop: async () => void (await Promise.all(nodes.map((n) => n.stop()))) };
}

/**
 * Waits until the cluster has elected a meta leader and knows every peer: a
 * probe stream with `replicas` replicas can be placed (right after the
 * election, the leader may not know every peer yet: "no suitable peers for
 * placement").
 */
async function waitForMetaLeader(urls: string[], replicas: number, timeoutMs = 30_000): Promise<void> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: urls, timeout: 5_000 });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc, { timeout: 2_000 });
        await jsm.getAccountInfo();
        await jsm.streams.add({ name: 'PLACEMENT_PROBE', subjects: ['placement.probe'], num_replicas: replicas });
        await jsm.streams.delete('PLACEMENT_PROBE');
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`the NATS cluster elected no JetStream leader within ${timeoutMs} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await nc.close();
  }
}
