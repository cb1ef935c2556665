/**
 * `tidemark/protocol`: the versioned wire protocol shared by the client's
 * uploader and the server. See {@link IngestRequest} and {@link parseIngest}.
 *
 * @module
 */
export type {
  Correction,
  CorrectionsResponse,
  ErrorBody,
  IngestRequest,
  IngestResponse,
  WireEvent,
  WireResult,
} from './wire.js';
export { LIMITS, PATHS, PROTOCOL_VERSION } from './wire.js';
export { isClientId, parseIngest, requireClientId } from './validate.js';
export { ProtocolError } from '../errors.js';
