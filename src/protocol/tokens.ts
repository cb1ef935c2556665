/**
 * Client tokens: `<mac>.<keyId>`, where `mac` is
 * `base64url(HMAC-SHA256(secret, clientId))` and `keyId` names the secret
 * (8 base64url characters derived from it), so that a server can tell a
 * token signed with another secret from a token of another client and say
 * which. WebCrypto only, so the same code runs in Node, a browser and an
 * edge runtime. Part of the protocol because two hosts share it: the server
 * checks tokens, and the edge both checks them and signs its own to forward
 * as its clients. `tokenFor` and `Secret` are public through
 * `tidemark/server` and `tidemark/protocol`.
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

/** The key id of each imported key (a CryptoKey cannot carry it, and the edge passes keys around as they are). */
const keyIds = new WeakMap<SigningKey, string>();

/**
 * What the key id is the MAC of. It holds a space, which no client id can,
 * so a key id is never a prefix of any client's token; and it is a MAC, not
 * a plain hash, so it tells nothing more about the secret than a token does.
 */
const KEY_ID_MESSAGE = encoder.encode('tidemark key id');
const MAC_CHARS = 43; // base64url of 32 bytes, unpadded
const ID_CHARS = 8; // 48 bits: two secrets share an id with probability 2^-48

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
  const key = await crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  keyIds.set(key, base64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, KEY_ID_MESSAGE))).slice(0, ID_CHARS));
  return key;
}

function idOf(key: SigningKey): string {
  const id = keyIds.get(key);
  if (id === undefined) throw new InvalidOptionError('secret', 'expected a key made by signingKey(secret)');
  return id;
}

/** The key id of `secret`: the part of every token after the `.`; `tidemark serve` and `tidemark token` print it. @internal */
export async function keyIdOf(secret: Secret): Promise<string> {
  return idOf(await signingKey(secret));
}

/**
 * The token of one client: `<mac>.<keyId>`, where `mac` is
 * `base64url(HMAC-SHA256(secret, clientId))` and `keyId` names the secret.
 * Give it to that client only (for example from a route behind your login;
 * see docs/sync.md, "Issuing tokens"); it lets the client write and read as
 * itself and as no one else. The server must be given the same secret.
 *
 * @example
 * ```ts
 * import { tokenFor } from 'tidemark/server';
 * const token = await tokenFor('a secret of at least 16 bytes', 'c1');
 * console.log(token.length); // 52: a 43-character MAC, a dot, an 8-character key id
 * ```
 */
export async function tokenFor(secret: Secret | SigningKey, clientId: string): Promise<string> {
  requireClientId(clientId);
  const key = secret instanceof CryptoKey ? secret : await signingKey(secret);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(clientId)));
  return `${base64url(mac)}.${idOf(key)}`;
}

/**
 * Why `token` is not `clientId`'s under `key`, in words that say how to fix
 * it; `undefined` when it is. `crypto.subtle.verify` compares the MACs in
 * constant time; a token of the wrong shape is refused before it. @internal
 */
export function tokenProblem(key: SigningKey, clientId: string, token: string): Promise<string | undefined> {
  return macProblem(key, clientId, token, {
    printed: '`tokenFor` and `tidemark token`',
    reissue: "issue tokens with the server's secret, e.g. `npx tidemark token <clientId> --data <the server's --data directory>`",
    other: "the token is not valid for this clientId: it was issued to another client (with this server's secret)",
  });
}

/**
 * What the admin token is the MAC of: like the key id's, a message with a
 * space, which no client id holds, so no client's token is the admin token.
 */
const ADMIN_MESSAGE = 'tidemark admin';

/**
 * The server's admin token (`<mac>.<keyId>`, the MAC of a message no client
 * id can be): it lets its holder start a batch run (`POST /v1/reconcile`)
 * and read its report, and nothing a client token allows. Keep it on the
 * operator's side; `npx tidemark token --admin` prints it.
 *
 * @example
 * ```ts
 * import { adminTokenFor, tokenFor } from 'tidemark/server';
 * const secret = 'a secret of at least 16 bytes';
 * console.log((await adminTokenFor(secret)) === (await tokenFor(secret, 'admin'))); // false
 * ```
 */
export async function adminTokenFor(secret: Secret | SigningKey): Promise<string> {
  const key = secret instanceof CryptoKey ? secret : await signingKey(secret);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(ADMIN_MESSAGE)));
  return `${base64url(mac)}.${idOf(key)}`;
}

/** Why `token` is not the admin token under `key`, or `undefined` when it is. @internal */
export function adminTokenProblem(key: SigningKey, token: string): Promise<string | undefined> {
  return macProblem(key, ADMIN_MESSAGE, token, {
    printed: '`tidemark token --admin`',
    reissue: "print the admin token with `npx tidemark token --admin --data <the server's --data directory>`",
    other: "this is not the admin token (a client's token cannot start a batch run): print it with `npx tidemark token --admin`",
  });
}

/**
 * Why `token` is not the MAC of `message` under `key` (`<mac>.<keyId>`), in
 * the words of `say`; `undefined` when it is. `crypto.subtle.verify`
 * compares the MACs in constant time; a token of the wrong shape is refused
 * before it.
 */
async function macProblem(
  key: SigningKey,
  message: string,
  token: string,
  say: { readonly printed: string; readonly reissue: string; readonly other: string },
): Promise<string | undefined> {
  const dot = token.indexOf('.');
  const mac = token.slice(0, dot);
  const id = token.slice(dot + 1);
  if (dot !== MAC_CHARS || id.length !== ID_CHARS || !/^[A-Za-z0-9_-]+$/.test(mac + id))
    return `this is not a Tidemark token (expected \`<43-character MAC>.<8-character key id>\`, as ${say.printed} print)`;
  if (id !== idOf(key))
    return `the token was signed with another secret than this server's (the token's key id is ${id}, the server's ${idOf(key)}): ${say.reissue}`;
  if (!(await crypto.subtle.verify('HMAC', key, fromBase64url(mac), encoder.encode(message)))) return say.other;
  return undefined;
}

/**
 * A reader token: `<name>:<mac>.<keyId>`, the MAC of `tidemark reader <name>`
 * (a message with spaces, which no client id holds). It reads the served
 * views (`GET /v1/views`, `GET /v1/views/stream`) and nothing else: it
 * cannot ingest, read a client's corrections or start a batch run. `name`
 * (a client-id-like name: 1-128 of `A-Z a-z 0-9 _ -`) says whose it is: the
 * server limits concurrent streams per name. `npx tidemark token --reader <name>`
 * prints one.
 *
 * @example
 * ```ts
 * import { readerTokenFor } from 'tidemark/server';
 * const token = await readerTokenFor('a secret of at least 16 bytes', 'wallboard');
 * console.log(token.startsWith('wallboard:')); // true
 * ```
 */
export async function readerTokenFor(secret: Secret | SigningKey, name: string): Promise<string> {
  requireClientId(name, 'name');
  const key = secret instanceof CryptoKey ? secret : await signingKey(secret);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(`tidemark reader ${name}`)));
  return `${name}:${base64url(mac)}.${idOf(key)}`;
}

/** Whether `token` has a reader token's shape (`<name>:…`); client and admin tokens have no `:`. @internal */
export function isReaderToken(token: string): boolean {
  return token.includes(':');
}

/**
 * Checks a reader token: answers its name, or why it is refused. @internal
 */
export async function readerTokenProblem(key: SigningKey, token: string): Promise<{ name: string } | { problem: string }> {
  const colon = token.indexOf(':');
  const name = token.slice(0, colon);
  if (colon < 1 || !/^[A-Za-z0-9_-]{1,128}$/.test(name))
    return { problem: 'this is not a reader token (expected `<name>:<43-character MAC>.<8-character key id>`, as `tidemark token --reader <name>` prints)' };
  const problem = await macProblem(key, `tidemark reader ${name}`, token.slice(colon + 1), {
    printed: '`tidemark token --reader <name>`',
    reissue: "print a reader token with `npx tidemark token --reader <name> --data <the server's --data directory>`",
    other: `this is not a valid reader token for "${name}": print one with \`npx tidemark token --reader ${name}\``,
  });
  return problem === undefined ? { name } : { problem };
}

/** Whether `token` is `clientId`'s under `key` (see {@link tokenProblem}). @internal */
export async function verifyToken(key: SigningKey, clientId: string, token: string): Promise<boolean> {
  return (await tokenProblem(key, clientId, token)) === undefined;
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
