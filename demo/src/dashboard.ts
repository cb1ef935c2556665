/**
 * The Dashboard panel: the server's view across every client (each open tab
 * with its own runtime is one), followed live with `globalView` and a reader
 * token, and the button that runs the batch layer over all clients. Rows the
 * batch layer changed flash (a CSS animation) when its view lands.
 */
import { auditTime, from, interval, startWith, switchMap, type Subscription } from 'rxjs';
import { globalView, type GlobalViewUpdate, type ViewRow } from 'tidemark/browser';
import { DEFAULT_CONFIG, describeConfig } from './pipeline.js';

/** What `POST /demo/batch` answers. */
interface BatchSummary {
  readonly clients: number;
  readonly events: number;
  readonly windows: number;
  readonly final: number;
  readonly frontier: number | null;
  readonly failures: readonly { clientId?: string; name: string; message: string }[];
  readonly durationMs: number;
}

export interface DashboardOptions {
  /** The name of this page's reader token: the server limits view streams per name. */
  readonly readerName: string;
  /** Resolves once this page's own events reached the server (the batch run reads the server's log). */
  readonly beforeBatch: () => Promise<void>;
  /** Formats a window bound for the table. */
  readonly clock: (ms: number) => string;
}

/** The newest windows shown: the table is for reading, not for every window the server keeps. */
const SHOWN = 100;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const fmt = new Intl.NumberFormat('en-US');
const idOf = (r: { key: unknown; start: number; end: number }) => `${String(r.key)}|${r.start}|${r.end}`;
const signature = (r: ViewRow) => `${r.source}|${r.final}|${JSON.stringify(r.value)}`;

/** Starts the panel; answers its teardown. */
export async function startDashboard(options: DashboardOptions): Promise<() => void> {
  const card = $('dashboard');
  // The pipeline demo/server.ts gives the global speed layer and the batch run.
  $('dash-pipeline').textContent = describeConfig(DEFAULT_CONFIG);
  const token = await (await fetch(`/demo/reader-token?name=${encodeURIComponent(options.readerName)}`)).text();
  const subscriptions: Subscription[] = [];

  /** Each shown row's element and what it showed, to update in place (a replaced row would cut its flash short). */
  const shown = new Map<string, { tr: HTMLTableRowElement; sig: string }>();
  let first = true;
  const render = (update: GlobalViewUpdate) => {
    const state = update.state;
    const badge = $('dash-state');
    badge.textContent = state === 'retrying' ? `retrying in ${((update.retryInMs ?? 0) / 1000).toFixed(1)} s` : state;
    badge.className = `badge ${state}`;
    card.dataset['state'] = state;
    if (update.lastEventId === undefined) return; // no reset yet: nothing to show
    const rows = [...update.rows].sort((a, b) => b.end - a.end || b.start - a.start || String(a.key).localeCompare(String(b.key)));
    const final = rows.filter((r) => r.final).length;
    $('dash-count').textContent = `${fmt.format(rows.length)} windows · ${fmt.format(final)} final (batch)`;
    card.dataset['rows'] = String(rows.length);
    const visible = rows.slice(0, SHOWN);
    const top = Math.max(1, ...visible.map((r) => (typeof r.value === 'number' ? r.value : 0)));
    const body = $('dash-rows');
    const next = new Set<string>();
    const trs = visible.map((r) => {
      const id = idOf(r);
      next.add(id);
      const sig = signature(r);
      let entry = shown.get(id);
      if (!entry) {
        const tr = document.createElement('tr');
        tr.dataset['id'] = id;
        tr.innerHTML = '<td></td><td></td><td class="num"><span class="bar-cell"><i></i><b></b></span></td><td><span class="source"></span></td><td></td>';
        // The flash is a CSS animation; its end clears the class so the next correction flashes again.
        tr.addEventListener('animationend', () => tr.classList.remove('corrected'));
        entry = { tr, sig: '' };
        shown.set(id, entry);
      }
      const { tr } = entry;
      // A batch correction: a row the batch layer now sets whose source or value changed (or that the
      // speed layer never had). Not on the first render: that is the view as it was, not a change.
      if (!first && r.source === 'batch' && entry.sig !== sig) {
        tr.classList.remove('corrected');
        void tr.offsetWidth; // restart the animation if it is still running
        tr.classList.add('corrected');
        tr.dataset['corrected'] = 'true';
      }
      if (entry.sig !== sig) {
        const cells = tr.children;
        (cells[0] as HTMLElement).textContent = String(r.key);
        (cells[1] as HTMLElement).textContent = `${options.clock(r.start)} – ${options.clock(r.end)}`;
        (cells[2]?.querySelector('b') as HTMLElement).textContent = typeof r.value === 'number' ? fmt.format(r.value) : JSON.stringify(r.value);
        const source = cells[3]?.firstElementChild as HTMLElement;
        source.textContent = r.source;
        source.className = `source ${r.source}`;
        (cells[4] as HTMLElement).textContent = r.final ? '✓ final' : '';
        tr.classList.toggle('batch', r.source === 'batch');
        Object.assign(tr.dataset, {
          key: String(r.key),
          start: String(r.start),
          end: String(r.end),
          value: JSON.stringify(r.value),
          source: r.source,
          final: String(r.final),
        });
        entry.sig = sig;
      }
      const width = typeof r.value === 'number' ? `${(100 * r.value) / top}%` : '0';
      const bar = tr.querySelector('.bar-cell i') as HTMLElement;
      if (bar.style.width !== width) bar.style.width = width;
      return tr;
    });
    for (const id of shown.keys()) if (!next.has(id)) shown.delete(id);
    // Reorders without recreating: moved rows keep their elements (and any flash in progress).
    trs.forEach((tr, i) => {
      if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] ?? null);
    });
    while (body.children.length > trs.length) body.lastElementChild?.remove();
    first = false;
  };

  subscriptions.push(
    globalView({ url: location.origin, token })
      // At hundreds of events/s the view changes more often than a person can read a table.
      .pipe(auditTime(250))
      .subscribe({
        next: render,
        error: (err: Error) => {
          card.dataset['state'] = 'error';
          $('dash-state').textContent = 'refused';
          $('dash-result').className = 'note bad';
          $('dash-result').textContent = `✗ ${err.name}: ${err.message}`;
        },
      }),
  );

  // How many clients feed the view: the global speed layer's sources, from /metrics.
  subscriptions.push(
    interval(2_000)
      .pipe(
        startWith(0),
        switchMap(() => from(fetch('/metrics').then((r) => r.text()).catch(() => ''))),
      )
      .subscribe((text) => {
        const gauge = (state: string) => Number(new RegExp(`^tidemark_global_sources\\{state="${state}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? Number.NaN);
        const active = gauge('active');
        const idle = gauge('idle');
        if (Number.isNaN(active)) return;
        card.dataset['clients'] = String(active);
        $('dash-clients').textContent = `${active} client${active === 1 ? '' : 's'} feeding it${idle > 0 ? ` (${idle} idle)` : ''}`;
      }),
  );

  const button = $<HTMLButtonElement>('dash-batch');
  const onBatch = async () => {
    const out = $('dash-result');
    button.disabled = true;
    out.className = 'note';
    delete out.dataset['frontier'];
    out.textContent = "Waiting for this tab's upload, then running the batch layer over every client…";
    try {
      await options.beforeBatch();
      const response = await fetch('/demo/batch', { method: 'POST' });
      const body = (await response.json()) as BatchSummary & { error?: string };
      if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
      const failed = body.failures.map((f) => `${f.clientId ?? 'all clients'}: ${f.name}: ${f.message}`).join('; ');
      out.className = `note ${failed ? 'bad' : 'ok'}`;
      out.dataset['frontier'] = String(body.frontier ?? '');
      out.dataset['final'] = String(body.final);
      out.textContent =
        `${failed ? `✗ ${failed}. ` : '✓ '}${fmt.format(body.events)} events of ${fmt.format(body.clients)} clients → ` +
        `${fmt.format(body.windows)} windows in ${Math.round(body.durationMs)} ms; ` +
        (body.frontier === null
          ? 'none final yet.'
          : `${fmt.format(body.final)} final (those starting before ${options.clock(body.frontier)}: every client has passed them, or gone quiet).`);
    } catch (err) {
      out.className = 'note bad';
      out.textContent = `✗ ${(err as Error).message}`;
    } finally {
      button.disabled = false;
    }
  };
  button.addEventListener('click', onBatch);

  return () => {
    for (const s of subscriptions) s.unsubscribe();
    button.removeEventListener('click', onBatch);
  };
}
