// The auth service: "login → shard + token". A user signs in, the service works out the user's
// subscribe plan (plan.mjs), grants the token grants.mjs defines through Access Manager (the
// `pubnub` SDK's grantToken, holding the keyset's secret key, which never leaves this service)
// and answers with the token, the plan and a refresh token. Standard library + the SDK.
//
//   POST /auth/login    {userId}        → 200 {userId, shard, plan, token, ttl, expiresAt, refreshToken, refreshExpiresAt}
//   POST /auth/refresh  {refreshToken}  → 200 the same, with a new token and a new refresh token
//   POST /auth/operator {key}           → 200 {operatorId, token, ttl, expiresAt, channel}: read on
//                                          operators.metrics only (the operators' page); 404 unless
//                                          the service has an `operatorKey`, 401 for another key
//   400 {error} for an id the Functions refuse (with their reason) or a malformed body;
//   401 {error} when `authenticate` refuses or the refresh token is bad or expired.
//
// Who the user is: `authenticate(userId, request)` decides. The default (the demo's) accepts any
// valid id; a real deployment passes its own check (a session cookie, an OAuth token).
// Refresh tokens are HMAC-signed by this service (`refreshSecret`), not by PubNub: a PubNub
// token cannot be verified without the secret key's signature scheme, and a stolen access token
// must not be enough to extend itself.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import PubNub from 'pubnub11';
import { OPERATORS_METRICS, TOKEN_TTL_MINUTES, operatorGrant, userGrant } from './grants.mjs';
import { loadPlanner } from './plan.mjs';

/** Refresh tokens last a day: past that the user signs in again. */
export const REFRESH_TTL_S = 24 * 3600;
const MAX_BODY = 4096;

export class AuthService {
  /**
   * @param o {publishKey, subscribeKey, secretKey, origin?, ssl?} for the SDK that grants, or `pubnub`
   *   (an SDK instance holding the secret key); `ttlMinutes`, `refreshTtlS`, `refreshSecret`,
   *   `authenticate(userId, req)`, `now()` (ms; tests); `operatorKey`: the shared secret an
   *   operator presents for a metrics token (no operator tokens without it).
   */
  constructor(o) {
    this.pubnub = o.pubnub ?? new PubNub({
      publishKey: o.publishKey, subscribeKey: o.subscribeKey, secretKey: o.secretKey, userId: 'auth-service',
      ...(o.origin ? { origin: o.origin, ssl: o.ssl ?? false } : {}),
    });
    this.ttl = o.ttlMinutes ?? TOKEN_TTL_MINUTES;
    this.refreshTtlS = o.refreshTtlS ?? REFRESH_TTL_S;
    this.refreshSecret = o.refreshSecret ?? randomBytes(32); // a restart signs everyone out after their hour
    this.authenticate = o.authenticate ?? (() => true);
    this.now = o.now ?? Date.now;
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

  /** Sign a user in: the plan and a fresh token. Throws {status, message} for 400/401. */
  async login(userId, req) {
    const planFor = await loadPlanner();
    const plan = planFor(userId);
    if (plan.error) throw refusal(400, plan.error);
    if (!(await this.authenticate(plan.userId, req))) throw refusal(401, 'not signed in');
    return this.#session(plan);
  }

  /** A new token (and refresh token) for the user a valid refresh token names. */
  async refresh(refreshToken) {
    const userId = this.#verify(refreshToken);
    const plan = (await loadPlanner())(userId);
    if (plan.error) throw refusal(401, 'invalid refresh token');
    return this.#session(plan);
  }

  async #session(plan) {
    const token = await this.pubnub.grantToken(userGrant(plan, { ttl: this.ttl }));
    const now = this.now();
    const refreshExpiresAt = now + this.refreshTtlS * 1000;
    return {
      userId: plan.userId,
      shard: plan.shard,
      plan,
      token,
      ttl: this.ttl,
      expiresAt: now + this.ttl * 60e3,
      refreshToken: this.#sign({ u: plan.userId, exp: refreshExpiresAt }),
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
    if (!(claims.exp > this.now())) throw refusal(401, 'refresh token expired: sign in again');
    return claims.u;
  }

  /**
   * One HTTP request under /auth/ → {status, body}. `body` is the request body as text. Used by
   * the standalone server below and mounted into the local runtime by scripts/dev.
   */
  async handle({ method, path, body, req }) {
    const route = path.replace(/\/+$/, '');
    if (!['/auth/login', '/auth/refresh', '/auth/operator'].includes(route)) return { status: 404, body: { error: 'not found' } };
    if (method !== 'POST') return { status: 405, body: { error: 'POST only' }, headers: { Allow: 'POST' } };
    let input;
    try {
      input = JSON.parse(body || '{}');
    } catch {
      return { status: 400, body: { error: 'the body must be JSON' } };
    }
    try {
      const out =
        route === '/auth/login'
          ? await this.login(input?.userId, req)
          : route === '/auth/operator'
            ? await this.operator(input?.key)
            : await this.refresh(input?.refreshToken);
      return { status: 200, body: out };
    } catch (e) {
      if (e.refusal) return { status: e.status, body: { error: e.message } };
      return { status: 502, body: { error: `Access Manager did not grant: ${e.status?.errorData?.message ?? e.message}` } };
    }
  }
}

function refusal(status, message) {
  return Object.assign(new Error(message), { status, refusal: true });
}

/** The service on its own HTTP server (CORS open: pages on another origin call it). */
export async function startAuthServer({ port = 0, host = '127.0.0.1', ...o }) {
  const service = new AuthService(o);
  const cors = { 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'POST,OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type' };
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
      service.pubnub.destroy?.(true);
      server.close(() => r());
      server.closeAllConnections();
    }),
  };
}
