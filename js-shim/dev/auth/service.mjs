// The auth service: "login → shard + token". A user signs in through the app's own identity
// check (identity.mjs), the service signs the user up on the first sign-in (the App Context
// record the Functions need), works out the user's subscribe plan (plan.mjs), grants the token
// grants.mjs defines through Access Manager (the `pubnub` SDK's grantToken, holding the keyset's
// secret key, which never leaves this service) and answers with the token, the plan and a
// single-use refresh token (sessions.mjs). Standard library, `jose` and the SDK. docs/auth.md.
//
//   POST /auth/login    {userId?, name?, profileUrl?} + the identity check's proof (a JWT in
//                       Authorization: Bearer …; dev mode: the body's userId)
//                         → 200 {userId, shard, plan, token, ttl, expiresAt, refreshToken,
//                                refreshExpiresAt, signedUp, profile: {name, profileUrl}}
//   POST /auth/refresh  {refreshToken}  → 200 the same (no signedUp/profile), with a new token and a new refresh
//                                          token; the one sent is spent (sent again: 401, and its family is revoked)
//   POST /auth/logout   {refreshToken}  → 200 {revoked: true}: the session's refresh tokens are revoked
//   POST /auth/profile  {name?, profileUrl?} + the identity proof → 200 {userId, name, profileUrl}
//   POST /auth/operator {key}           → 200 {operatorId, token, ttl, expiresAt, channel}: read on
//                                          operators.metrics only (the operators' page); 404 unless
//                                          the service has an `operatorKey`, 401 for another key
//   400 {error} for an id the Functions refuse (with their reason), a bad profile or a malformed body;
//   401 {error} when the identity check refuses or the refresh token is bad, spent, revoked or expired;
//   502 {error} when PubNub (Access Manager, App Context) failed: nothing was handed out.
//
// Refresh tokens are HMAC-signed by this service (`refreshSecret`), not by PubNub: a PubNub
// token cannot be verified without the secret key's signature scheme, and a stolen access token
// must not be enough to extend itself.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import PubNub from 'pubnub11';
import { OPERATORS_METRICS, TOKEN_TTL_MINUTES, operatorGrant, userGrant } from './grants.mjs';
import { checkProfile, refusal } from './identity.mjs';
import { loadPlanner } from './plan.mjs';
import { RefreshFamilies } from './sessions.mjs';

export { devAnyUser, jwtIdentity } from './identity.mjs';

/** Refresh tokens last a day: past that the user signs in again. */
export const REFRESH_TTL_S = 24 * 3600;
const MAX_BODY = 4096;
const ROUTES = ['/auth/login', '/auth/refresh', '/auth/logout', '/auth/profile', '/auth/operator'];

export class AuthService {
  /**
   * @param o {publishKey, subscribeKey, secretKey, origin?, ssl?} for the SDK that grants, or `pubnub`
   *   (an SDK instance holding the secret key);
   *   `identity`: the app's identity check for HTTP sign-ins (`jwtIdentity(…)`, or `devAnyUser()`
   *   for development); without one (and without the older `authenticate(userId, req)` → boolean)
   *   every HTTP sign-in is refused;
   *   `stateDir`: where the refresh-token families (and, unless `refreshSecret` is given, the
   *   signing key) are kept across restarts; without it both live in memory, so a restart ends
   *   every session once its access token runs out;
   *   `signUp` (default true): a first sign-in creates the user's App Context record;
   *   `ttlMinutes`, `refreshTtlS`, `now()` (ms; tests); `operatorKey`: the shared secret an
   *   operator presents for a metrics token (no operator tokens without it).
   */
  constructor(o) {
    this.pubnub = o.pubnub ?? new PubNub({
      publishKey: o.publishKey, subscribeKey: o.subscribeKey, secretKey: o.secretKey, userId: 'auth-service',
      ...(o.origin ? { origin: o.origin, ssl: o.ssl ?? false } : {}),
    });
    this.ttl = o.ttlMinutes ?? TOKEN_TTL_MINUTES;
    this.refreshTtlS = o.refreshTtlS ?? REFRESH_TTL_S;
    this.now = o.now ?? Date.now;
    this.signUpUsers = o.signUp ?? true;
    if (o.refreshSecret && !o.stateDir) throw new Error('AuthService: a fixed refreshSecret needs a stateDir, or a restart would make spent refresh tokens valid again');
    this.refreshSecret = o.refreshSecret ?? (o.stateDir ? keyFile(path.join(o.stateDir, 'refresh-secret')) : randomBytes(32));
    this.families = new RefreshFamilies({ file: o.stateDir ? path.join(o.stateDir, 'refresh-families.log') : null, now: this.now });
    this.identity = o.identity ?? (o.authenticate ? legacyCheck(o.authenticate) : null);
    this.operatorKey = o.operatorKey ? createHmac('sha256', 'operator-key').update(String(o.operatorKey)).digest() : null;
  }

  /** A read token on operators.metrics for the holder of the operator key. */
  async operator(key) {
    if (!this.operatorKey) throw refusal(404, 'operator tokens are not enabled on this service');
    const got = createHmac('sha256', 'operator-key').update(String(key ?? '')).digest();
    if (!timingSafeEqual(got, this.operatorKey)) throw refusal(401, 'wrong operator key');
    const operatorId = 'operator';
    const token = await this.pubnub.grantToken(operatorGrant(operatorId, { ttl: this.ttl }));
    return { operatorId, token, ttl: this.ttl, expiresAt: this.now() + this.ttl * 60e3, channel: OPERATORS_METRICS };
  }

  /** Who an HTTP request is, by the identity check: {userId, name?, profileUrl?}. */
  async #identify(input, req) {
    if (!this.identity) throw refusal(401, 'sign-in is not configured on this service (no identity check)');
    const who = await this.identity({ userId: input?.userId, body: input, req });
    if (!who || typeof who !== 'object') throw refusal(401, 'not signed in');
    return who;
  }

  /** An HTTP sign-in: the identity check, then `login`. */
  async signIn(input, req) {
    const who = await this.#identify(input, req);
    return this.login(who.userId, who);
  }

  /**
   * Sign in a user whose identity the caller has established (trusted, server-side): the plan,
   * the App Context record on the first sign-in (`profile`: {name?, profileUrl?}) and a fresh
   * token. Throws {status, message} for 400.
   */
  async login(userId, profile = {}) {
    const plan = (await loadPlanner())(userId);
    if (plan.error) throw refusal(400, plan.error);
    const record = this.signUpUsers ? await this.#signUp(plan.userId, profile) : { signedUp: false, profile: null };
    const session = await this.#session(plan, this.families.start(plan.userId, this.now() + this.refreshTtlS * 1000));
    return { ...session, ...record };
  }

  /**
   * The user's App Context record, created if missing (idempotent: an existing record is left as
   * it is). Only `name` and `profileUrl` are written, never `custom`: set-user-metadata replaces
   * just the fields it is given, and `custom` holds the Functions' presence fields.
   */
  async #signUp(userId, profile) {
    try {
      const { data } = await this.pubnub.objects.getUUIDMetadata({ uuid: userId, include: { customFields: true } });
      // A new device learns here that the user is invisible, so its client never joins the
      // presence shard (whose occupants every user of the shard can list).
      const invisible = data?.custom?.invisible === true;
      return { signedUp: false, invisible, profile: { name: data?.name ?? null, profileUrl: data?.profileUrl ?? null } };
    } catch (e) {
      if (statusOf(e) !== 404) throw upstream('App Context', e);
    }
    const data = { name: profile.name ?? userId, ...(profile.profileUrl ? { profileUrl: profile.profileUrl } : {}) };
    try {
      await this.pubnub.objects.setUUIDMetadata({ uuid: userId, data });
    } catch (e) {
      throw upstream('App Context', e);
    }
    return { signedUp: true, invisible: false, profile: { name: data.name, profileUrl: data.profileUrl ?? null } };
  }

  /** The signed-in user changes its name and picture (`profileUrl: null` removes the picture). */
  async profile(input, req) {
    const who = await this.#identify(input, req);
    const plan = (await loadPlanner())(who.userId);
    if (plan.error) throw refusal(400, plan.error);
    const change = checkProfile({ name: input?.name, profileUrl: input?.profileUrl });
    if (!Object.keys(change).length) throw refusal(400, 'nothing to change: give name or profileUrl');
    if (this.signUpUsers) await this.#signUp(plan.userId, { ...who, ...change }); // a first visit straight to the profile
    let data;
    try {
      ({ data } = await this.pubnub.objects.setUUIDMetadata({ uuid: plan.userId, data: change }));
    } catch (e) {
      throw upstream('App Context', e);
    }
    return { userId: plan.userId, name: data?.name ?? null, profileUrl: data?.profileUrl ?? null };
  }

  /** A new token and refresh token for the current refresh token of a live family; spends it. */
  async refresh(refreshToken) {
    const claims = this.#verify(refreshToken);
    this.#current(claims);
    const plan = (await loadPlanner())(claims.u);
    if (plan.error) throw refusal(401, 'invalid refresh token');
    const token = await this.#grant(plan);
    // Checked again after the grant, and advanced in the same turn of the event loop: of two
    // concurrent exchanges of one token, the second finds it spent (and revokes the family).
    this.#current(claims);
    const next = this.families.advance(claims.f, claims.g, this.now() + this.refreshTtlS * 1000);
    return this.#answer(plan, token, next);
  }

  /** Ends the session the refresh token belongs to (its later refresh tokens too). */
  logout(refreshToken) {
    const claims = this.#verify(refreshToken);
    this.families.revoke(claims.f, 'logout');
    return { revoked: true };
  }

  #current(claims) {
    const state = this.families.check(claims.f, claims.g, claims.u);
    if (state === 'ok') return;
    if (state === 'replayed') {
      this.families.revoke(claims.f, 'replayed');
      throw refusal(401, 'refresh token already used: the session is revoked, sign in again');
    }
    throw refusal(401, state === 'revoked' ? 'session revoked: sign in again' : 'invalid refresh token');
  }

  async #grant(plan) {
    try {
      return await this.pubnub.grantToken(userGrant(plan, { ttl: this.ttl }));
    } catch (e) {
      throw upstream('Access Manager', e);
    }
  }

  async #session(plan, family) {
    return this.#answer(plan, await this.#grant(plan), family);
  }

  #answer(plan, token, family) {
    const now = this.now();
    const refreshExpiresAt = now + this.refreshTtlS * 1000;
    return {
      userId: plan.userId,
      shard: plan.shard,
      plan,
      token,
      ttl: this.ttl,
      expiresAt: now + this.ttl * 60e3,
      refreshToken: this.#sign({ u: plan.userId, f: family.f, g: family.g, exp: refreshExpiresAt }),
      refreshExpiresAt,
    };
  }

  #sign(claims) {
    const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
    return `${body}.${createHmac('sha256', this.refreshSecret).update(body).digest('base64url')}`;
  }

  #verify(token) {
    const [body, sig, extra] = typeof token === 'string' ? token.split('.') : [];
    if (!body || !sig || extra !== undefined) throw refusal(401, 'invalid refresh token');
    const want = createHmac('sha256', this.refreshSecret).update(body).digest();
    const got = Buffer.from(sig, 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) throw refusal(401, 'invalid refresh token');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    if (typeof claims.f !== 'string' || !Number.isInteger(claims.g)) throw refusal(401, 'invalid refresh token');
    if (!(claims.exp > this.now())) throw refusal(401, 'refresh token expired: sign in again');
    return claims;
  }

  /**
   * One HTTP request under /auth/ → {status, body}. `body` is the request body as text; `req`
   * the Node request (its headers carry the identity token). Used by the standalone server below
   * and mounted into the local runtime by scripts/dev.
   */
  async handle({ method, path: route0, body, req }) {
    const route = route0.replace(/\/+$/, '');
    if (!ROUTES.includes(route)) return { status: 404, body: { error: 'not found' } };
    if (method !== 'POST') return { status: 405, body: { error: 'POST only' }, headers: { Allow: 'POST' } };
    let input;
    try {
      input = JSON.parse(body || '{}');
    } catch {
      return { status: 400, body: { error: 'the body must be JSON' } };
    }
    try {
      const out = await {
        '/auth/login': () => this.signIn(input, req),
        '/auth/refresh': () => this.refresh(input?.refreshToken),
        '/auth/logout': () => this.logout(input?.refreshToken),
        '/auth/profile': () => this.profile(input, req),
        '/auth/operator': () => this.operator(input?.key),
      }[route]();
      return { status: 200, body: out };
    } catch (e) {
      if (e.refusal) return { status: e.status, body: { error: e.message } };
      return { status: 502, body: { error: e.upstream ? e.message : `the auth service failed: ${e.message}` } };
    }
  }

  close() {
    this.families.close();
    this.pubnub.destroy?.(true);
  }
}

/** The older `authenticate(userId, req)` → boolean, as an identity check (profile from the body). */
function legacyCheck(authenticate) {
  return async ({ userId, body, req }) => {
    if (!(await authenticate(userId, req))) throw refusal(401, 'not signed in');
    return { userId, ...checkProfile({ name: body?.name, profileUrl: body?.profileUrl }, { allowNull: false }) };
  };
}

const statusOf = (e) => e?.status?.statusCode ?? e?.statusCode;

function upstream(service, e) {
  const detail = e?.status?.errorData?.error?.message ?? e?.status?.errorData?.message ?? e?.message;
  return Object.assign(new Error(`${service} failed (${statusOf(e) ?? 'no answer'}): ${detail}`), { upstream: true });
}

/** A 32-byte key kept in `file` (made once, owner-only): sessions outlive a restart. */
function keyFile(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    fs.writeFileSync(file, randomBytes(32).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if (e.code !== 'EEXIST') throw e;
  }
  return Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url');
}

/** The service on its own HTTP server (CORS open: pages on another origin call it). */
export async function startAuthServer({ port = 0, host = '127.0.0.1', ...o }) {
  const service = new AuthService(o);
  const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'POST,OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type,Authorization' };
  const server = http.createServer(async (req, res) => {
    if (req.method === 'OPTIONS') return res.writeHead(204, cors).end();
    const chunks = [];
    let size = 0;
    for await (const c of req) {
      size += c.length;
      if (size > MAX_BODY) return res.writeHead(413, cors).end();
      chunks.push(c);
    }
    const out = await service.handle({ method: req.method, path: new URL(req.url, 'http://x').pathname, body: Buffer.concat(chunks).toString(), req });
    res.writeHead(out.status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...cors, ...out.headers });
    res.end(JSON.stringify(out.body));
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  const url = `http://${host}:${server.address().port}`;
  return {
    service,
    url,
    close: () => new Promise((r) => {
      service.close();
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
