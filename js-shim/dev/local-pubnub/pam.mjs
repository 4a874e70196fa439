// Access Manager v3, local edition: grant tokens (CBOR, signed with HMAC-SHA256 over the token
// without its `sig`), check `auth=` tokens on requests, and let requests signed with the secret
// key (server SDKs) through. Token layout follows what the SDK's parseToken reads.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decode, encode, toPlain } from './cbor.mjs';
import { encodeString, forbidden, serviceError } from './util.mjs';

export const BITS = { read: 1, write: 2, manage: 4, delete: 8, get: 32, update: 64, join: 128 };
const KINDS = { channels: 'chan', groups: 'grp', uuids: 'uuid' };
// A signed request's `timestamp` (Unix seconds, which the SDKs add when they sign) must be this
// close to our clock, or a captured request could be replayed for ever. PubNub asks for NTP-synced
// clocks without publishing its window; 60 s is ours.
export const SIGNATURE_WINDOW_S = 60;
const B = (s) => Buffer.from(s);

export class Pam {
  constructor({ secretKey, publishKey }) {
    this.secretKey = secretKey;
    this.publishKey = publishKey;
    // Without a configured publish key, signatures are checked against the keys seen in publish
    // paths, and 'undefined' (what the SDK signs with when it has no publish key).
    this.seenPublishKeys = new Set(['undefined']);
  }

  #hmac(data) {
    return createHmac('sha256', this.secretKey).update(data).digest();
  }

  /** The body of POST /v3/pam/{sub}/grant → token string. */
  grant(body) {
    const p = body?.permissions;
    const ttl = body?.ttl;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 43200) throw serviceError(400, 'Invalid ttl: 1..43200 minutes', 'Access Manager');
    if (!p || typeof p !== 'object') throw serviceError(400, 'Missing permissions', 'Access Manager');
    checkPermissions(p);
    const section = (src = {}) => {
      const m = new Map();
      // `users`/`spaces` are the legacy names for uuids/channels.
      const pick = (a, b) => ({ ...(src[b] ?? {}), ...(src[a] ?? {}) });
      for (const [kind, name] of [['chan', pick('channels', 'spaces')], ['grp', src.groups ?? {}], ['uuid', pick('uuids', 'users')], ['usr', {}], ['spc', {}]])
        m.set(B(kind), new Map(Object.entries(name).map(([k, v]) => [k, Number(v) | 0])));
      return m;
    };
    const t = new Map([
      [B('v'), 2],
      [B('t'), Math.floor(Date.now() / 1000)],
      [B('ttl'), ttl],
      [B('res'), section(p.resources)],
      [B('pat'), section(p.patterns)],
      [B('meta'), new Map(Object.entries(p.meta ?? {}))],
    ]);
    if (p.uuid) t.set(B('uuid'), String(p.uuid));
    t.set(B('sig'), this.#hmac(encode(t)));
    // Padded, as PubNub's tokens are (the Python SDK's parse_token base64-decodes them strictly).
    return padBase64(encode(t).toString('base64url'));
  }

  /** Decode and verify a token; returns its plain form or throws a 403. */
  token(str) {
    let map;
    try {
      map = decode(Buffer.from(str, 'base64url'));
      if (!(map instanceof Map)) throw new Error('not a map');
    } catch {
      throw forbidden({}, 'Invalid token');
    }
    const sigKey = [...map.keys()].find((k) => Buffer.isBuffer(k) && k.toString() === 'sig');
    const sig = map.get(sigKey);
    map.delete(sigKey);
    const want = this.#hmac(encode(map));
    if (!Buffer.isBuffer(sig) || sig.length !== want.length || !timingSafeEqual(sig, want)) throw forbidden({}, 'Token signature does not match');
    const t = toPlain(map);
    if ((t.t + t.ttl * 60) * 1000 <= Date.now()) throw forbidden({}, 'Token is expired');
    return t;
  }

  /** Is this request signed with our secret key (a server SDK)? Throws 403 on a bad or stale signature. */
  signed({ method, rawPath, rawQuery, body, query }) {
    if (!query.signature) return false;
    fresh(query);
    const m = rawPath.startsWith('/publish') ? 'GET' : method;
    const params = new Map();
    for (const part of rawQuery ? rawQuery.split('&') : []) {
      const eq = part.indexOf('=');
      const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      if (k === 'signature') continue;
      const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
      params.set(k, [...(params.get(k) ?? []), v]);
    }
    const qs = [...params.keys()]
      .sort()
      .map((k) => params.get(k).sort().map((v) => `${k}=${encodeString(v)}`).join('&'))
      .join('&');
    const pathKey = /^\/(publish|signal)\//.test(rawPath) ? decodeURIComponent(rawPath.split('/')[2]) : undefined;
    const keys = this.publishKey !== undefined ? [this.publishKey] : [...new Set([pathKey, ...this.seenPublishKeys])].filter((k) => k !== undefined);
    const payload = (m === 'POST' || m === 'PATCH') && body ? body : '';
    // The Python SDK (utils.sign_request) signs a POST publish with the first scheme instead:
    // "{sub}\n{pub}\n{path}\n{query}", URL-safe base64 with its padding, no "v2." prefix and no
    // body. The body is then not covered, as on PubNub; the query (and its timestamp) is.
    const v1 = method === 'POST' && rawPath.startsWith('/publish/') && !query.signature.startsWith('v2.');
    for (const pk of keys) {
      const input = v1 ? `${decodeURIComponent(rawPath.split('/')[3])}\n${pk}\n${rawPath}\n${qs}` : `${m}\n${pk}\n${rawPath}\n${qs}\n${payload}`;
      const mac = createHmac('sha256', this.secretKey).update(input).digest('base64');
      const sig = v1 ? mac.replace(/\+/g, '-').replace(/\//g, '_') : 'v2.' + mac.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
      if (sig === query.signature) {
        if (pathKey) this.seenPublishKeys.add(pathKey);
        return true;
      }
    }
    throw forbidden({}, 'Signature does not match');
  }

  /**
   * The part of the check that needs no body, for before a compressed body is inflated: a token
   * request needs a valid token (bound to its uuid); a signed one is verified in full afterwards,
   * because the signature covers the inflated body.
   */
  precheck(query) {
    if (query.signature) fresh(query);
    else this.check(query, []);
  }

  /**
   * Check a client request against its token. `needs` lists `[kind, name, bit]` with kind
   * 'channels' | 'groups' | 'uuids'; `serverOnly` refuses every token (only signed requests pass).
   * `onUuid: [uuid, bit]` is a request about a uuid (whereNow, setting presence state): allowed for
   * the token's own authorized uuid, otherwise only with `bit` granted on that uuid.
   */
  check(query, needs, { serverOnly = false, onUuid } = {}) {
    if (!query.auth) throw forbidden({}, 'Forbidden: no auth token');
    const t = this.token(query.auth);
    if (t.uuid && query.uuid !== t.uuid) throw forbidden({ uuids: [query.uuid] }, `Token is authorized for uuid ${t.uuid} only`);
    if (serverOnly) throw forbidden({}, 'Forbidden: this operation needs the secret key');
    const missing = {};
    const all = onUuid && onUuid[0] !== t.uuid ? [...needs, ['uuids', onUuid[0], onUuid[1]]] : needs;
    for (const [kind, name, bit] of all) {
      // Lenient on presence: read on `x` also covers `x-pnpres` unless that is granted on its own.
      if (allowed(t, KINDS[kind], name, bit) || (name.endsWith('-pnpres') && allowed(t, KINDS[kind], name.slice(0, -7), bit))) continue;
      const key = kind === 'groups' ? 'channel-groups' : kind;
      (missing[key] ??= []).push(kind === 'groups' ? ':' + name : name);
    }
    if (Object.keys(missing).length) throw forbidden(missing);
  }
}

/** The grant body's shape: objects where objects go, permission bit masks as whole numbers. */
function checkPermissions(p) {
  const bad = (what) => serviceError(400, `Invalid permissions: ${what}`, 'Access Manager');
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(p)) throw bad('an object is expected');
  for (const part of ['resources', 'patterns']) {
    if (p[part] === undefined) continue;
    if (!isObject(p[part])) throw bad(`${part} must be an object`);
    for (const [kind, grants] of Object.entries(p[part])) {
      if (!isObject(grants)) throw bad(`${part}.${kind} must be an object of name → bit mask`);
      for (const [name, bits] of Object.entries(grants))
        if (!Number.isInteger(bits) || bits < 0 || bits > 0xffff) throw bad(`${part}.${kind}[${JSON.stringify(name)}] must be a bit mask`);
    }
  }
  if (p.meta !== undefined && !isObject(p.meta)) throw bad('meta must be an object');
  if (p.uuid != null && typeof p.uuid !== 'string') throw bad('uuid must be a string');
}

const padBase64 = (s) => s + '='.repeat((4 - (s.length % 4)) % 4);

function fresh(query) {
  const ts = /^\d{1,12}$/.test(query.timestamp ?? '') ? Number(query.timestamp) : NaN;
  if (!(Math.abs(Date.now() / 1000 - ts) <= SIGNATURE_WINDOW_S))
    throw forbidden({}, `Signed request timestamp is missing or more than ${SIGNATURE_WINDOW_S} s from the server clock`);
}

function allowed(t, kind, name, bit) {
  if (((t.res?.[kind]?.[name] ?? 0) & bit) === bit) return true;
  for (const [re, bits] of Object.entries(t.pat?.[kind] ?? {})) {
    if ((bits & bit) !== bit) continue;
    try {
      if (new RegExp(re).test(name)) return true;
    } catch {
      // an invalid pattern grants nothing
    }
  }
  return false;
}
