import { it } from 'vitest';
import { launchEngine } from './engines.js';
import { serveFixtures, openTab } from './setup.js';
declare const tm: any;
it('probe', async () => {
  const site = await serveFixtures();
  const engine = await launchEngine((process.env.ENG ?? 'webkit') as any);
  const page = await openTab(engine, site);
  console.log(await page.evaluate(() => [document.visibilityState, document.hasFocus()]));
  const t = await page.evaluate(async () => { const out: number[] = []; for (let i = 0; i < 30; i++) { const t0 = performance.now(); await new Promise((r) => setTimeout(r, 0)); out.push(Math.round(performance.now() - t0)); } return out; });
  console.log(t.join(','));
  const p2 = await openTab(engine, site);
  console.log('p1', await page.evaluate(() => [document.visibilityState, document.hasFocus()]));
  console.log('p2', await p2.evaluate(() => [document.visibilityState, document.hasFocus()]));
  await engine.dispose(); await site.close();
}, 300_000);
