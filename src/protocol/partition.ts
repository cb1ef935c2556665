/**
 * Which partition a client's events belong to: the same answer at the edge
 * (one Durable Object per partition) and on a server cluster (one lease per
 * partition).
 *
 * @module
 */

/**
 * The partition of `clientId`: FNV-1a (32 bit) of its characters, modulo
 * `partitions`. Stable across deployments, so a client's events always meet
 * the same pipeline state.
 *
 * @example
 * ```ts
 * import { partitionOf } from 'tidemark/edge'; // also exported by tidemark/server
 * console.log(partitionOf('c1', 4)); // a number from 0 to 3, the same every time
 * ```
 */
export function partitionOf(clientId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < clientId.length; i++) {
    h ^= clientId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}
