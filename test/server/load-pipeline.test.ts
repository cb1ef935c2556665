import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { loadPipeline } from '../../src/server/index.js';

describe('loadPipeline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('takes the named export, else the default export', async () => {
    const named = await loadPipeline(write('named.mjs', 'export const pipeline = (e) => e;\n'));
    const byDefault = await loadPipeline(write('default.mjs', 'export default function p(e) { return e; }\n'));
    expect(typeof named).toBe('function');
    expect(byDefault.name).toBe('p');
  });

  it('loads a TypeScript module under a TypeScript loader', async () => {
    const p = await loadPipeline(write('typed.ts', 'export const pipeline = (e: unknown): unknown => e;\n'));
    expect(typeof p).toBe('function');
  });

  it('refuses a missing file, a module without a pipeline, a pipeline that is not a function, or a module that throws', async () => {
    await expect(loadPipeline(join(dir, 'nope.mjs'))).rejects.toThrow(InvalidOptionError);
    await expect(loadPipeline(write('none.mjs', 'export const other = 1;\n'))).rejects.toThrow(/exports no pipeline/);
    await expect(loadPipeline(write('num.mjs', 'export const pipeline = 3;\n'))).rejects.toThrow(/export a function/);
    await expect(loadPipeline(write('throws.mjs', "throw new Error('boom while importing');\n"))).rejects.toThrow(
      /cannot import .*throws\.mjs: boom while importing/,
    );
  });
});
