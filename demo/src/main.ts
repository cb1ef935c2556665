/**
 * The playground page: a generator feeding a Tidemark runtime (worker +
 * IndexedDB outbox + uploader to this page's server), and views of what
 * happens: timeline, results, status, offline buffering, crash recovery
 * and reconciliation; and the Dashboard, the server's view across all tabs.
 */
import { createRuntime, type PageStatus, type Runtime, type ViewEntry } from 'tidemark/browser';
import type { WindowResult } from 'tidemark';
import workerUrl from './playground.worker.ts?worker&url';
import { startDashboard } from './dashboard.js';
import { click, type GeneratorSettings, lateBurst, startGenerator } from './generator.js';
import { type Click, describeConfig, type PlaygroundConfig, parseConfig, toQuery } from './pipeline.js';
import { Timeline } from './timeline.js';
import './style.css';

/** Events emitted right before the crash button kills the worker. */
const IN_FLIGHT = 200;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const fmt = new Intl.NumberFormat('en-US');
// One formatter: toLocaleTimeString builds a new one per call, and 600 cells per render made it the page's busiest function.
const time = new Intl.DateTimeFormat([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const clock = (ms: number) => time.format(ms);
const secs = (ms: number) => (ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

// ── Settings kept across reloads ─────────────────────────────────────────
const saved = (key: string) => localStorage.getItem(`tidemark-playground:${key}`);
const save = (key: string, value: string) => localStorage.setItem(`tidemark-playground:${key}`, value);
let config: PlaygroundConfig = parseConfig(JSON.parse(saved('config') ?? '{}') as Record<string, unknown>);

const gen: GeneratorSettings = { rate: 40, disorder: 1_200, behindShare: 0.05 };
const sliders = [
  ['rate', 'o-rate', (v: number) => (gen.rate = v), (v: number) => `${v}/s`],
  ['disorder', 'o-disorder', (v: number) => (gen.disorder = v), (v: number) => secs(v)],
  ['behind-share', 'o-behind', (v: number) => (gen.behindShare = v / 100), (v: number) => `${v} %`],
] as const;
for (const [id, out, set, show] of sliders) {
  const el = input(id);
  const stored = saved(id);
  if (stored !== null) el.value = stored;
  const update = () => {
    set(Number(el.value));
    $(out).textContent = show(Number(el.value));
    save(id, el.value);
  };
  el.addEventListener('input', update);
  update();
}

// ── The runtime ──────────────────────────────────────────────────────────
const timeline = new Timeline($('chart'));
let rt: Runtime<Click, WindowResult<string, number>> | undefined;
let status: PageStatus | undefined;
let view: ViewEntry[] = [];
let emitted = 0;
let generator: { stop(): void } | undefined;
const unsubscribe: (() => void)[] = [];

async function start(next: PlaygroundConfig): Promise<void> {
  config = next;
  save('config', JSON.stringify(config));
  showConfig();
  $('pipeline-line').textContent = describeConfig(config);
  timeline.clear();
  timeline.setBands(
    config.window === 'session'
      ? { kind: 'spans', spans: () => latestSessions(view) }
      : { kind: 'grid', step: config.window === 'sliding' ? config.slide : config.size },
  );
  rt = await createRuntime<Click, WindowResult<string, number>>({
    worker: () => new Worker(`${workerUrl}?${toQuery(config)}`, { type: 'module' }),
    endpoint: `${location.origin}/v1`,
    token: async (clientId) => (await fetch(`/demo/token?clientId=${encodeURIComponent(clientId)}`)).text(),
    statusIntervalMs: 250,
    offline: input('offline').checked,
  });
  $('client').textContent = rt.clientId;
  document.body.dataset['ready'] = 'true';
  const results = rt.results$.subscribe((r) => timeline.fired(Date.now(), r.end, r.timing, r.key));
  const views = rt.view$.subscribe((v) => {
    view = v;
    scheduleView();
  });
  const statuses = rt.status$.subscribe((s) => {
    status = s;
    timeline.watermark(Date.now(), s.watermark);
    renderStatus();
  });
  unsubscribe.push(() => results.unsubscribe(), () => views.unsubscribe(), () => statuses.unsubscribe());
}

/** Each user's latest session span (the view also keeps the early panes of spans that merged since). */
function latestSessions(entries: readonly ViewEntry[]): [number, number][] {
  const latest = new Map<unknown, [number, number]>();
  for (const e of entries) {
    const seen = latest.get(e.key);
    if (!seen || e.end > seen[1]) latest.set(e.key, [e.start, e.end]);
  }
  return [...latest.values()];
}

function emit(clicks: Click[]): void {
  if (!rt) return;
  for (const c of clicks) rt.emit(c);
  emitted += clicks.length;
  rates.push([Date.now(), clicks.length]);
  timeline.events(Date.now(), clicks.map((c) => c.ts), status?.watermark ?? Number.NEGATIVE_INFINITY);
}

// ── Generator controls ───────────────────────────────────────────────────
const rates: [number, number][] = [];
const late = () => ({ from: config.bound + 300, spread: config.lateness + config.size });
function setGenerating(on: boolean): void {
  generator?.stop();
  generator = on ? startGenerator(gen, late, emit) : undefined;
  $('toggle-gen').textContent = on ? 'Pause' : 'Start';
  $('toggle-gen').classList.toggle('primary', !on);
}
$('toggle-gen').addEventListener('click', () => setGenerating(!generator));
$('burst').addEventListener('click', () => emit(lateBurst(30)));

// ── Pipeline picker ──────────────────────────────────────────────────────
const fields = {
  window: $<HTMLSelectElement>('p-window'),
  aggregate: $<HTMLSelectElement>('p-aggregate'),
  size: input('p-size'),
  slide: input('p-slide'),
  bound: input('p-bound'),
  lateness: input('p-lateness'),
  early: $<HTMLSelectElement>('p-early'),
};
function showConfig(): void {
  fields.window.value = config.window;
  fields.aggregate.value = config.aggregate;
  fields.size.value = String(config.size / 1000);
  fields.slide.value = String(config.slide / 1000);
  fields.bound.value = String(config.bound / 1000);
  fields.lateness.value = String(config.lateness / 1000);
  fields.early.value = String(config.early);
  syncFields();
}
function syncFields(): void {
  fields.slide.disabled = fields.window.value !== 'sliding';
  $('l-size').textContent = fields.window.value === 'session' ? 'gap' : 'size';
}
fields.window.addEventListener('change', syncFields);
$('apply').addEventListener('click', async () => {
  const ms = (el: HTMLInputElement) => Math.round(Number(el.value) * 1000);
  const next = parseConfig({
    window: fields.window.value,
    aggregate: fields.aggregate.value,
    size: ms(fields.size),
    slide: ms(fields.slide),
    bound: ms(fields.bound),
    lateness: ms(fields.lateness),
    early: Number(fields.early.value),
  });
  const generating = generator !== undefined;
  setGenerating(false);
  for (const stop of unsubscribe.splice(0)) stop();
  await rt?.close();
  emitted = 0;
  await start(next);
  setGenerating(generating);
});

// ── Offline switch and drain progress ────────────────────────────────────
input('offline').checked = saved('offline') === 'true';
/** Since the switch went back online: `acked` then, `appended` then, and when the drain finished. */
let drain$: { from: number; target: number; doneAt?: number } | undefined;
input('offline').addEventListener('change', async () => {
  const offline = input('offline').checked;
  save('offline', String(offline));
  if (!offline && status) drain$ = { from: status.upload.acked, target: status.appended };
  await rt?.setOffline(offline);
});

// ── Crash ────────────────────────────────────────────────────────────────
/** A checksum of the view: every window's latest value, in a stable order. */
const totals = (entries: readonly ViewEntry[]) => {
  const windows = entries.map((e) => `${e.key}|${e.start}|${e.end}|${JSON.stringify(e.value)}`).sort();
  const sum = entries.reduce((acc, e) => acc + (typeof e.value === 'number' ? e.value : 0), 0);
  return { windows: windows.join('\n'), count: entries.length, sum };
};
$('crash').addEventListener('click', async () => {
  if (!rt) return;
  const runtime = rt;
  const out = $('crash-result');
  const button = $<HTMLButtonElement>('crash');
  button.disabled = true;
  out.className = 'note';
  out.textContent = 'Crashing…';
  const generating = generator !== undefined;
  setGenerating(false);
  try {
    const before = await runtime.drain();
    // Crash mid-stream: 200 events are on their way to the worker when it dies.
    const now = Date.now();
    emit(Array.from({ length: IN_FLIGHT }, () => click(now, Math.random() * gen.disorder)));
    await runtime.restart();
    const after = await runtime.drain();
    const stored = after.through - before.through;
    const first = totals(await runtime.view());
    // Crash again with nothing in flight: restoring the checkpoint and
    // replaying the outbox after it must rebuild exactly the same view.
    await runtime.restart();
    await runtime.drain();
    const second = totals(await runtime.view());
    const checkpoint = (await firstStatus(runtime)).lastCheckpoint?.seq ?? 0;
    const same = first.windows === second.windows && stored === IN_FLIGHT;
    out.className = `note ${same ? 'ok' : 'bad'}`;
    out.dataset['same'] = String(same);
    out.textContent =
      `${stored === IN_FLIGHT ? '✓' : '✗'} ${IN_FLIGHT} events in flight at the crash: ${fmt.format(stored)} stored, once. ` +
      `${first.windows === second.windows ? '✓ Totals unchanged' : '✗ The view changed'} after restoring checkpoint #${fmt.format(checkpoint)} and replaying the outbox ` +
      `(${fmt.format(second.count)} windows, Σ ${fmt.format(second.sum)}).`;
  } catch (err) {
    out.className = 'note bad';
    out.textContent = `✗ ${(err as Error).name}: ${(err as Error).message}`;
  } finally {
    setGenerating(generating);
    button.disabled = false;
  }
});
const firstStatus = (runtime: Runtime<Click, unknown>) =>
  new Promise<PageStatus>((resolve) => {
    const sub = runtime.status$.subscribe((s) => {
      resolve(s);
      queueMicrotask(() => sub.unsubscribe());
    });
  });

// ── Reconcile ────────────────────────────────────────────────────────────
interface Correction {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly speed: unknown;
  readonly batch: unknown;
}
/** Waits (up to 15 s, and not while offline) until the server holds this page's events; answers how many there are. */
async function uploaded(): Promise<number> {
  if (!rt) return 0;
  const { through } = await rt.drain();
  const deadline = Date.now() + 15_000;
  while ((status?.upload.acked ?? 0) < through && Date.now() < deadline && !input('offline').checked)
    await new Promise((resolve) => setTimeout(resolve, 100));
  return through;
}
$('reconcile').addEventListener('click', async () => {
  if (!rt) return;
  const out = $('reconcile-result');
  const button = $<HTMLButtonElement>('reconcile');
  button.disabled = true;
  out.className = 'note';
  out.textContent = 'Waiting for the upload, then running the batch layer…';
  try {
    // The server reconciles what it holds: wait until this page's events are uploaded.
    const through = await uploaded();
    const response = await fetch('/demo/reconcile', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: rt.clientId, config }),
    });
    const body = (await response.json()) as {
      error?: string;
      report?: { events: number; windows: number; uploaded: number; written: number; durationMs: number };
      corrections?: Correction[];
    };
    if (!response.ok || !body.report) throw new Error(body.error ?? `HTTP ${response.status}`);
    const r = body.report;
    out.className = 'note ok';
    out.dataset['written'] = String(r.written);
    const waiting = through - (status?.upload.acked ?? 0);
    out.textContent = `${waiting > 0 ? `(${fmt.format(waiting)} events still in the outbox are not in this run.) ` : ''}✓ ${fmt.format(r.events)} events in the server's log → ${fmt.format(r.windows)} windows; ${fmt.format(r.uploaded)} uploaded results compared; ${fmt.format(r.written)} corrections written in ${Math.round(r.durationMs)} ms. They reach this page with the next pull.`;
    renderCorrections(body.corrections ?? []);
  } catch (err) {
    out.className = 'note bad';
    out.textContent = `✗ ${(err as Error).message}`;
  } finally {
    button.disabled = false;
  }
});
const valueText = (v: unknown) => (v === null ? '—' : typeof v === 'number' ? fmt.format(v) : JSON.stringify(v));
const rowId = (w: { key: unknown; start: number; end: number }) => `${String(w.key)}|${w.start}|${w.end}`;
function renderCorrections(list: readonly Correction[]): void {
  const ul = $('corrections');
  $('corrections-count').textContent = `${list.length} corrections in the last run`;
  $('corrections-help').hidden = list.length === 0;
  ul.replaceChildren(
    ...(list.length === 0
      ? [Object.assign(document.createElement('li'), { className: 'empty', textContent: 'No differences: the speed layer was exact for every window.' })]
      : list.slice(0, 200).map((c) => {
          const li = document.createElement('li');
          li.innerHTML = `<b></b><span class="span"></span><span class="change"><s></s> → <ins></ins></span>`;
          (li.querySelector('b') as HTMLElement).textContent = c.key;
          (li.querySelector('.span') as HTMLElement).textContent = `${clock(c.start)}–${clock(c.end)}`;
          (li.querySelector('s') as HTMLElement).textContent = valueText(c.speed);
          (li.querySelector('ins') as HTMLElement).textContent = valueText(c.batch);
          li.title = 'show this window in Results';
          li.dataset['id'] = rowId(c);
          li.addEventListener('click', () => showRow(rowId(c)));
          return li;
        })),
  );
}

// ── Rendering ────────────────────────────────────────────────────────────
/** Renders the view at most every 250 ms: at 400 events/s it changes more often than a person can read a table. */
let viewTimer: ReturnType<typeof setTimeout> | undefined;
function scheduleView(): void {
  viewTimer ??= setTimeout(() => {
    viewTimer = undefined;
    renderView();
  }, 250);
}

/** When each window was last pointed at (a correction landed on it, or was clicked): highlighted for 3 s. */
const pointedAt = new Map<string, number>();
/** Scrolls the results table (not the page) to a window's row and highlights it. */
function showRow(id: string): void {
  pointedAt.set(id, Date.now());
  const tr = Array.from($('rows').children).find((row) => (row as HTMLElement).dataset['id'] === id) as HTMLElement | undefined;
  if (!tr) return;
  tr.classList.add('landed');
  const wrap = $('rows').closest('.table-wrap') as HTMLElement;
  const header = (wrap.querySelector('thead') as HTMLElement).offsetHeight;
  wrap.scrollTop = tr.offsetTop - header - 4;
}

/** What each row showed last time (its pane, source and value), to flash the rows that changed. */
let shown = new Map<string, string>();
/** The windows the table already showed as corrected: a newly corrected one is scrolled into view. */
let corrected = new Set<string>();
function renderView(): void {
  const sorted = [...view].sort((a, b) => b.end - a.end || b.start - a.start || String(a.key).localeCompare(String(b.key)));
  // The newest 300 windows, and every corrected one, wherever it falls.
  const rows = sorted.filter((r, i) => i < 300 || r.source === 'batch');
  const batch = rows.filter((r) => r.source === 'batch').length;
  $('view-count').textContent = `${sorted.length} windows${batch ? ` · ${batch} corrected by the batch layer (highlighted)` : ''}`;
  const body = $('rows');
  const next = new Map<string, string>();
  const landed: string[] = [];
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement('tr');
      const id = rowId(r);
      tr.dataset['id'] = id;
      if (r.source === 'batch' && !corrected.has(id)) landed.push(id);
      if (Date.now() - (pointedAt.get(id) ?? 0) < 3_000) tr.classList.add('landed');
      const value = JSON.stringify(r.value);
      const sig = `${r.pane}|${r.source}|${value}`;
      if (shown.has(id) && shown.get(id) !== sig) tr.classList.add('changed');
      next.set(id, sig);
      if (r.source === 'batch') tr.classList.add('batch');
      tr.dataset['key'] = String(r.key);
      tr.dataset['start'] = String(r.start);
      tr.dataset['end'] = String(r.end);
      tr.dataset['value'] = value;
      tr.dataset['source'] = r.source;
      const cells = [
        String(r.key),
        `${clock(r.start)} – ${clock(r.end)}`,
        valueText(r.value),
        r.timing,
        String(r.pane),
        r.source,
      ];
      cells.forEach((text, i) => {
        const td = document.createElement('td');
        if (i === 2 || i === 4) td.className = 'num';
        if (i === 3) td.innerHTML = `<span class="timing ${r.timing}"></span>`;
        if (i === 5) td.innerHTML = `<span class="source ${r.source}"></span>`;
        (td.firstElementChild ?? td).textContent = text;
        tr.append(td);
      });
      return tr;
    }),
  );
  shown = next; // only the rows on screen: the map stays as small as the table
  corrected = new Set(rows.filter((r) => r.source === 'batch').map(rowId));
  // Corrections land on older windows, below the newest rows: bring the first one into view.
  for (const id of landed.reverse()) showRow(id); // the first one last: it is the one scrolled to
  for (const [id, at] of pointedAt) if (Date.now() - at >= 3_000) pointedAt.delete(id);
}

function renderStatus(): void {
  const s = status;
  if (!s) return;
  const now = Date.now();
  while (rates.length > 0 && (rates[0] as [number, number])[0] < now - 3_000) rates.shift();
  const perSecond = rates.reduce((a, [, n]) => a + n, 0) / 3;
  $('s-lag').textContent = Number.isFinite(s.watermark) ? secs(Math.max(0, now - s.watermark)) : '–';
  $('s-rate').textContent = fmt.format(Math.round(perSecond));
  $('s-emitted').textContent = fmt.format(emitted);
  const outbox = $('s-outbox');
  outbox.textContent = fmt.format(Math.max(0, s.appended - s.upload.acked));
  outbox.title = `${fmt.format(s.outbox.events)} events stored in IndexedDB; uploaded ones are deleted once a checkpoint covers them`;
  $('s-acked').textContent = `${fmt.format(s.upload.acked)} / ${fmt.format(s.appended)}`;
  $('s-checkpoint').textContent = s.lastCheckpoint ? `#${fmt.format(s.lastCheckpoint.seq)} · ${secs(now - s.lastCheckpoint.at)}` : '–';
  $('s-dropped').textContent = fmt.format(s.lateRecords);
  $('s-state').textContent = `${fmt.format(s.state.openWindows)} / ${fmt.format(s.state.viewWindows)}`;
  const upload = $('s-upload');
  upload.textContent = s.upload.state;
  upload.className = `state ${s.upload.state}`;
  const leader = $('leader');
  leader.textContent = s.leader ? 'leader tab' : 'follower tab';
  leader.title = s.leader
    ? 'This tab runs the pipeline and the uploader; other tabs of this origin send it their events.'
    : 'Another tab runs the pipeline; this one stores its events in the shared outbox and shows the same view.';
  leader.className = `badge ${s.leader ? 'lead' : 'follow'}`;
  const pending = s.appended - s.upload.acked;
  const drain = $('drain');
  if (drain$ && !input('offline').checked) {
    // The events that were waiting when the switch went back online.
    const total = Math.max(1, drain$.target - drain$.from);
    const done = Math.min(total, s.upload.acked - drain$.from);
    drain.hidden = false;
    $('drain-bar').style.width = `${(100 * done) / total}%`;
    $('drain-text').textContent = done >= total ? `drained ${fmt.format(total)} events` : `uploading ${fmt.format(done)} / ${fmt.format(total)}`;
    // Drained: leave the bar full for a few seconds, then hide it.
    if (done >= total) drain$.doneAt ??= now;
    if (drain$.doneAt !== undefined && now - drain$.doneAt > 4_000) drain$ = undefined;
  } else if (input('offline').checked) {
    drain.hidden = false;
    $('drain-bar').style.width = '0%';
    $('drain-text').textContent = `${fmt.format(pending)} events waiting in the outbox`;
  } else drain.hidden = true;
}

setInterval(() => timeline.draw(), 200); // the axes move with the clock; the status bar renders on each status$ (every 250 ms)

await start(config);
if (saved('generating') !== 'false') setGenerating(true);
startDashboard({
  readerName: rt?.clientId ?? 'playground',
  beforeBatch: async () => void (await uploaded()),
  clock,
}).catch((err: Error) => {
  $('dash-result').className = 'note bad';
  $('dash-result').textContent = `✗ the Dashboard did not start: ${err.message}`;
});
window.addEventListener('beforeunload', () => save('generating', String(generator !== undefined)));
