/**
 * The ingest benchmark's clients, in their own thread (as they would be in
 * their own processes): `CLIENTS` loops, each sending its batches one
 * request at a time, like the uploader. Posts the elapsed seconds.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';

const { url, tokens, bodies } = workerData;
const t0 = performance.now();
await Promise.all(
  tokens.map(async (token, i) => {
    for (const body of bodies[i]) {
      const res = await fetch(`${url}/v1/ingest`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      });
      if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
  }),
);
parentPort.postMessage((performance.now() - t0) / 1000);
