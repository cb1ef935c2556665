// The baseline worker: counts what it receives and answers once `target`
// events arrived. An event is one message, or one element of an array, or
// one row of a `{ length }` columnar batch.
let target = 0;
let received = 0;
self.onmessage = (e: MessageEvent) => {
  const d = e.data as { benchReset?: number; length?: unknown } | unknown[] | null;
  if (d !== null && typeof d === 'object' && !Array.isArray(d) && typeof d.benchReset === 'number') {
    target = d.benchReset;
    received = 0;
    return;
  }
  received += Array.isArray(d) ? d.length : typeof (d as { length?: unknown })?.length === 'number' ? ((d as { length: number }).length) : 1;
  if (target > 0 && received >= target) {
    target = 0;
    self.postMessage({ done: received, at: performance.timeOrigin + performance.now() });
  }
};
