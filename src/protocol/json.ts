/**
 * Equality of values as JSON sees them: a window value computed in memory
 * (the batch layer) against the same value after a trip through JSON (the
 * client's upload), so `undefined` members, `-0` and non-finite numbers
 * must not count as differences. Shared by the batch layer (which writes
 * corrections) and the client (which applies them to its view).
 *
 * @internal
 * @module
 */

/**
 * `true` when `a` and `b` serialise to the same JSON, up to the order of
 * object members. `undefined` (and functions) as object members are absent,
 * as array elements or at the top level they are `null`; non-finite
 * numbers are `null`; `-0` is `0`.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  a = leaf(a);
  b = leaf(b);
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const y = b as unknown[];
    if (a.length !== y.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], y[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let members = 0;
  for (const k of Object.keys(x)) {
    if (absent(x[k])) continue;
    members++;
    if (!Object.hasOwn(y, k) || !sameJson(x[k], y[k])) return false;
  }
  for (const k of Object.keys(y)) if (!absent(y[k])) members--;
  return members === 0;
}

/** `value` as it reads back from JSON (`null` for a value JSON cannot hold). */
export function toJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : JSON.parse(text);
}

function absent(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

function leaf(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v + 0 : null; // + 0 turns -0 into 0
  if (absent(v)) return null;
  if (typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function')
    return (v as { toJSON(): unknown }).toJSON();
  return v;
}
