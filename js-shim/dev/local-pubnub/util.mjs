// Small shared helpers: errors in PubNub's reply formats, the timetoken clock, name lists.

import { PLATFORM } from '../../platform.mjs';

/** An error that already knows its HTTP status and PubNub-format JSON body. */
export class ApiError extends Error {
  constructor(status, body, message) {
    super(message ?? (typeof body?.message === 'string' ? body.message : body?.error?.message ?? `HTTP ${status}`));
    this.status = status;
    this.body = body;
  }
}

/** Presence / channel-registry / generic services: `{status, error:true, message, service}`. */
export const serviceError = (status, message, service, extra = {}) =>
  new ApiError(status, { status, error: true, message, service, ...extra });

/** App Context errors use a nested error object (SDK fixtures, objects/channel.test.ts). */
export const objectsError = (status, message, details) =>
  new ApiError(status, { status, error: { message, source: 'objects', ...(details ? { details } : {}) } });

/** Access Manager 403 body (shape of PubNub's own Go SDK test stubs). */
export const forbidden = (payload = {}, message = 'Forbidden') =>
  new ApiError(403, { message, payload, error: true, service: 'Access Manager', status: 403 });

/**
 * Timetokens: 17-digit wall-clock values (ms × 10⁴), strictly increasing even when the clock
 * stalls or steps back, because the SDK derives cursors from them (wire doc §0.4).
 */
export class Clock {
  #last = 0n;
  next() {
    const now = BigInt(Date.now()) * 10000n;
    this.#last = now > this.#last ? now : this.#last + 1n;
    return this.#last;
  }
  /** The high-water mark: the newest timetoken handed out so far. */
  current() {
    return this.#last === 0n ? this.next() : this.#last;
  }
}

/** Parse a `tt` query value; anything that is not a plain integer counts as 0 (handshake). */
export const parseTT = (s) => (typeof s === 'string' && /^\d{1,20}$/.test(s) ? BigInt(s) : 0n);

/** A comma list from a query value (already percent-decoded); empties dropped. */
export const splitList = (s) => (s ? s.split(',').filter(Boolean) : []);

/**
 * A comma list from a raw path segment: split first, then decode each name (wire doc §0.9),
 * so an encoded `%2C` inside a name stays part of it.
 */
export const pathNames = (seg) => (seg ? seg.split(',').filter(Boolean).map(decodeURIComponent) : []);

/** Same percent-encoding as the SDK (`encodeURIComponent` plus `!~*'()`), used for signatures. */
export const encodeString = (s) =>
  encodeURIComponent(s).replace(/[!~*'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export const PNPRES = PLATFORM.names.presenceSuffix;
export const isPresenceName = (name) => name.endsWith(PNPRES);
export const basePresenceName = (name) => (isPresenceName(name) ? name.slice(0, -PNPRES.length) : name);

/** PubNub's limit on channel (and channel group, uuid) names. */
export const MAX_NAME = PLATFORM.names.channelChars;
// Forbidden in channel and group names: `,` `:` `*` `/` `\`, whitespace and non-printable characters.
const FORBIDDEN_IN_NAME = /[,:*/\\\s\x00-\x1f\x7f-\x9f]/;

/**
 * Why `name` is not a valid channel (or group) name, or null if it is. `presence` allows a
 * `-pnpres` suffix, `wildcard` a trailing `.*` (subscribe); the rules apply to the name itself.
 */
export function nameProblem(name, { wildcard = false, presence = false } = {}) {
  if (typeof name !== 'string' || !name) return 'it is empty';
  let base = presence ? basePresenceName(name) : name;
  if (base.length > MAX_NAME) return `it is longer than ${MAX_NAME} characters`;
  if (wildcard && base.endsWith('.*')) base = base.slice(0, -2);
  if (!base) return 'it is empty';
  if (FORBIDDEN_IN_NAME.test(base)) return 'it contains , : * / \\, whitespace or a control character';
  return null;
}

/** A uuid (user id) is free text, but at most 92 characters and without control characters. */
export function uuidProblem(id) {
  if (typeof id !== 'string' || !id) return 'it is empty';
  if (id.length > MAX_NAME) return `it is longer than ${MAX_NAME} characters`;
  if (/[\x00-\x1f\x7f-\x9f]/.test(id)) return 'it contains a control character';
  return null;
}

/** Wildcard subscription `a.*` or `a.b.*` (PubNub: ends in `.*` at a level boundary). */
export const isWildcard = (name) => basePresenceName(name).endsWith('.*');

/** Does channel `ch` match the channel pattern of a Function binding (`x.*` or an exact name)? */
export const channelMatches = (pattern, ch) =>
  typeof pattern === 'string' && (pattern === ch || (pattern.endsWith('.*') && ch.startsWith(pattern.slice(0, -1)) && ch.length > pattern.length - 1));

export const unixSeconds = () => Math.floor(Date.now() / 1000);

/** A deep copy of JSON data (also drops functions and undefined). */
export const jsonCopy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/**
 * How deeply `text` nests arrays and objects, counted without parsing and stopping as soon as it
 * passes `max`: a 16,000-deep body parses, but every recursive step after it (JSON.stringify,
 * structuredClone, a Function's code) would overflow the stack.
 */
export function nestsDeeperThan(text, max) {
  let depth = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** Deepest JSON nesting taken from a client (PubNub publishes no limit; this one is ours). */
export const MAX_JSON_DEPTH = 64;

/**
 * A log line without credentials: `auth=` and `signature=` query values, access tokens (CBOR maps
 * that start with a `v` key, as Access Manager's do) and secret keys are replaced by `[redacted]`.
 */
export function redact(line) {
  return String(line)
    .replace(/\b(auth|signature|token)=[^&\s"']*/gi, '$1=[redacted]')
    .replace(/\bsec-c-[A-Za-z0-9_-]+/g, 'sec-c-[redacted]')
    .replace(/[A-Za-z0-9_-]{40,}={0,2}/g, (s) => (looksLikeToken(s) ? '[redacted token]' : s));
}

function looksLikeToken(s) {
  const b = Buffer.from(s.slice(0, 8), 'base64url');
  // A CBOR map (0xa0–0xbf) whose first key is the byte string "v" (0x41 0x76).
  return b.length >= 3 && b[0] >= 0xa0 && b[0] <= 0xbf && b[1] === 0x41 && b[2] === 0x76;
}
