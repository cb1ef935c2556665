/**
 * `tidemark/protocol`: the versioned wire protocol shared by the client's
 * uploader and the server. See {@link IngestRequest} and {@link parseIngest};
 * for a client, {@link IngestBody}, {@link exchange}, {@link classifyStatus}
 * and {@link backoffDelay} (the policy: `docs/protocol.md`); for whoever
 * issues tokens without Node APIs (an edge worker), {@link tokenFor}.
 *
 * @module
 */
export type {
  Correction,
  CorrectionsResponse,
  ErrorBody,
  IngestRequest,
  IngestResponse,
  ViewChange,
  ViewReset,
  ViewRow,
  ViewsResponse,
  WireEvent,
  WireResult,
} from './wire.js';
export { LIMITS, PATHS, PROTOCOL_VERSION } from './wire.js';
export { isClientId, parseIngest, parseLastEventId, parseViewQuery, requireClientId } from './validate.js';
export type { Secret } from './tokens.js';
export { tokenFor } from './tokens.js';
export { ProtocolError } from '../errors.js';
export type { BackoffPolicy, Decision } from './client.js';
export {
  backoffDelay,
  classifyStatus,
  encodeEvent,
  encodeEvents,
  IngestBody,
  parseRetryAfter,
  RETRY_AFTER_CAP_MS,
  wantsNewToken,
} from './client.js';
export type { Answer, ExchangeOptions } from './exchange.js';
export { exchange, noAnswer, readAnswer } from './exchange.js';
