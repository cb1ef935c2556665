/**
 * Client tokens: `base64url(HMAC-SHA256(secret, clientId))`. WebCrypto only,
 * so the same code runs in Node, a browser and an edge runtime. Part of the
 * protocol because two hosts share it: the server checks tokens, and the
 * edge both checks them and signs its own to forward as its clients.
 * `tokenFor` and `Secret` are public through `tidemark/server`.
 *
 * @module
 */
import { InvalidOptionError } from '../errors.js';
import { requireClientId } from './validate.js';

const encoder = new TextEncoder();

/** A secret as given: a string (its UTF-8 bytes are the key) or raw bytes. */
export type Secret = string | Uint8Array;

/** An HMAC key, imported once. @internal */
export type SigningKey = CryptoKey;

/** Imports `secret` as an HMAC-SHA256 key, refusing secrets shorter than 16 bytes. @internal */
export async function signingKey(secret: Secret): Promise<SigningKey> {
  if (typeof secret !== 'string' && !(secret instanceof Uint8Array))
    throw new InvalidOptionError('secret', 'expected a string or a Uint8Array');
  const bytes: Uint8Array<ArrayBuffer> = typeof secret === 'string' ? encoder.encode(secret) : new Uint8Array(secret);
  if (bytes.length < 16)
    throw new InvalidOptionError(
      'secret',
      'must be at least 16 bytes; generate one with `node -e "console.log(crypto.randomBytes(32).toString(\'base64url\'))"`',
    );
  return crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
}

/**
 * The token of one client: `base64url(HMAC-SHA256(secret, clientId))`. Give
 * it to that client only (for example from your login endpoint); it lets the
 * client write and read as itself and as no one else.
 *
 * @example
 * ```ts
 * import { tokenFor } from 'tidemark/server';
 * const token = await tokenFor('a secret of at least 16 bytes', 'c1');
 * console.log(token.length); // 43
 * ```
 */
export async function tokenFor(secret: Secret | SigningKey, clientId: string): Promise<string> {
  requireClientId(clientId);
  const key = secret instanceof CryptoKey ? secret : await signingKey(secret);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(clientId)));
  return base64url(mac);
}

/**
 * Whether `token` is `clientId`'s. `crypto.subtle.verify` compares the MACs
 * in constant time; a token that is not base64url of 32 bytes is refused
 * before it. @internal
 */
export async function verifyToken(key: SigningKey, clientId: string, token: string): Promise<boolean> {
  if (token.length !== 43 || !/^[A-Za-z0-9_-]+$/.test(token)) return false;
  const mac = fromBase64url(token);
  return crypto.subtle.verify('HMAC', key, mac, encoder.encode(clientId));
}

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
