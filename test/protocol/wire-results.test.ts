// The wire result shape: a row, or (kind: 'delete') a window taken back.
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { parseIngest } from '../../src/protocol/validate.js';

const body = (result: Record<string, unknown>) => ({ clientId: 'c1', events: [], results: [result] });
const row = { key: 'a', start: 0, end: 10, value: 3, pane: 1 };

describe('IngestRequest.results', () => {
  it('a row keeps the default shape; a delete adds kind: "delete"', () => {
    expect(parseIngest(body(row)).results).toEqual([row]);
    expect(parseIngest(body({ ...row, kind: 'delete' })).results).toEqual([{ ...row, kind: 'delete' }]);
  });

  it('refuses any other kind, naming the field', () => {
    for (const kind of ['insert', 'update-before', 1, null]) {
      let error: unknown;
      try {
        parseIngest(body({ ...row, kind }));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ProtocolError);
      expect((error as ProtocolError & { field?: string }).field).toBe('results[0].kind');
    }
  });
});
