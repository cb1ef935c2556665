// The client side of bench/server/serving.bench.ts, in its own process (so
// the server's process has its thread and its memory to itself): clients
// that emit events at a fixed rate and upload them like the uploader (one
// request in flight, whatever accumulated), and SSE subscribers of the view.
// Times are this process's clock, for emission and arrival alike.
import process from 'node:process';

const { url, clientTokens, readerToken, rate, seconds, subscribers, windowMs, warmupSeconds } = JSON.parse(process.argv[2]);
const now = () => performance.timeOrigin + performance.now();
const clients = clientTokens.map(([id, token]) => ({ id, token, seq: 0, buffer: [], firstAtOrAfter: new Map() }));

// Subscribers: the arrival time of each window's first row at each one.
const arrivals = []; // per subscriber: Map<windowStart, time>
const streams = [];
async function subscribe() {
  const seen = new Map();
  arrivals.push(seen);
  const abort = new AbortController();
  streams.push(abort);
  const res = await fetch(`${url}/v1/views/stream`, { headers: { authorization: `Bearer ${readerToken}` }, signal: abort.signal });
  if (res.status !== 200) throw new Error(`stream: ${res.status} ${await res.text()}`);
  (async () => {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const t = now();
        buf += decoder.decode(value, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.includes('event: change')) continue;
          const data = JSON.parse(block.slice(block.indexOf('data: ') + 6));
          if (data.op === 'upsert' && !seen.has(data.row.start)) seen.set(data.row.start, t);
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}
const batch = 100;
for (let i = 0; i < subscribers; i += batch) await Promise.all(Array.from({ length: Math.min(batch, subscribers - i) }, subscribe));
process.send({ kind: 'subscribed' });
await new Promise((resolve) => process.once('message', resolve)); // the server measured its memory

// Emission: every millisecond, the events due by then, stamped with the time they are emitted.
const perClient = rate / clients.length;
const start = now();
const end = start + seconds * 1000;
let emitted = 0;
const timer = setInterval(() => {
  const t = now();
  const due = Math.floor(((Math.min(t, end) - start) / 1000) * rate);
  for (; emitted < due; emitted++) {
    const c = clients[emitted % clients.length];
    const ts = t;
    c.seq++;
    c.buffer.push({ seq: c.seq, ts, data: { page: 'all', at: ts } });
    // The first event at or after a window's end closes it for this client.
    const windowEnd = Math.floor(ts / windowMs) * windowMs;
    if (!c.firstAtOrAfter.has(windowEnd)) c.firstAtOrAfter.set(windowEnd, t);
  }
  if (t >= end) clearInterval(timer);
}, 1);

async function upload(c) {
  while (now() < end + 500 || c.buffer.length > 0) {
    if (c.buffer.length === 0) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    const events = c.buffer;
    c.buffer = [];
    const res = await fetch(`${url}/v1/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.token}` },
      body: JSON.stringify({ clientId: c.id, events }),
    });
    if (res.status !== 200) throw new Error(`ingest: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
}
await Promise.all(clients.map(upload));
await new Promise((r) => setTimeout(r, 1000)); // the last pushes

// A window [s, s + windowMs) closes when every client has emitted an event at or after its end.
const latencies = [];
for (const seen of arrivals)
  for (const [s, arrived] of seen) {
    const windowEnd = s + windowMs;
    if (windowEnd < start + warmupSeconds * 1000 || windowEnd > end - windowMs) continue;
    let closedAt = 0;
    for (const c of clients) closedAt = Math.max(closedAt, c.firstAtOrAfter.get(windowEnd) ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(closedAt)) latencies.push(arrived - closedAt);
  }
for (const s of streams) s.abort();
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
process.send({ kind: 'done', samples: latencies.length, p50: q(0.5), p99: q(0.99), max: latencies.at(-1), events: emitted });
process.exit(0);
