import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { secretIn } from '../../src/server/index.js';

describe('secretIn', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('creates the secret once, private to its owner, and reads the same one afterwards', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tidemark-secret-')), 'data');
    dirs.push(dir);
    const first = secretIn(dir);
    expect(first.created).toBe(true);
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(first.file).mode & 0o777).toBe(0o600);
    const again = secretIn(dir);
    expect([again.created, again.secret]).toEqual([false, first.secret]);
  });
});
