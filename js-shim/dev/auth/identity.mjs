// Who is signing in: the app's own identity check, in front of the auth service's secret key.
// An identity check is `async ({userId, body, req}) → {userId, name?, profileUrl?}` and throws
// (`refusal`) when the caller is not who it says. Two are provided:
//
// - `jwtIdentity`: the app's sign-in issues a JWT (its session or ID token); the service checks
//   it with `jose` (signature, `exp`/`nbf`, audience, issuer) against a shared secret (HS256…)
//   or the app's public keys (a JWKS URL or a JWKS object). The user id is the `sub` claim;
//   `name` and `picture` (the OpenID Connect claims) are the profile of a first sign-in.
// - `devAnyUser`: anyone is whoever they claim (`{userId, name?, profileUrl?}` in the body). For
//   scripts/dev and tests only: it hands out tokens to any caller.
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

/** A refusal the service answers with its status and message (never a 5xx). */
export function refusal(status, message) {
  return Object.assign(new Error(message), { status, refusal: true });
}

// PubNub documents no limit for `name` and `profileUrl` beyond the record's 32 KiB; these are ours
// (a name is shown in a list, a picture URL is fetched by browsers).
export const MAX_NAME = 100;
export const MAX_PROFILE_URL = 2048;

/**
 * The profile fields a caller may set, checked: `name` (1–100 characters, no control
 * characters) and `profileUrl` (an absolute http(s) URL, or null to clear it). Absent fields are
 * left out. Throws a 400 refusal for anything else.
 */
export function checkProfile(input, { allowNull = true } = {}) {
  const out = {};
  if (input?.name !== undefined && input?.name !== null) {
    const name = typeof input.name === 'string' ? input.name.trim() : null;
    if (!name || name.length > MAX_NAME || /\p{Cc}/u.test(name)) throw refusal(400, `name must be 1–${MAX_NAME} printable characters`);
    out.name = name;
  }
  if (input?.profileUrl === null && allowNull) out.profileUrl = null;
  else if (input?.profileUrl !== undefined && input?.profileUrl !== null) {
    let url;
    try {
      url = typeof input.profileUrl === 'string' && input.profileUrl.length <= MAX_PROFILE_URL ? new URL(input.profileUrl) : null;
    } catch {
      url = null;
    }
    if (!url || !['https:', 'http:'].includes(url.protocol)) throw refusal(400, `profileUrl must be an http(s) URL of at most ${MAX_PROFILE_URL} characters`);
    out.profileUrl = url.href;
  }
  return out;
}

/** The development check: the caller is whoever it names. Never in front of a real keyset. */
export function devAnyUser() {
  const check = async ({ userId, body }) => ({ userId, ...profileOf(body?.name, body?.profileUrl) });
  check.devMode = true;
  return check;
}

/**
 * The production check: a JWT from the app's own sign-in, in `Authorization: Bearer …` (or
 * `{idToken}` in the body). One key source: `secret` (shared, HMAC), `jwksUrl` (the app's
 * published keys, fetched and cached by jose) or `jwks` (a key set object). `audience` is
 * required (a token the app issued for something else must not sign in here); `issuer` when
 * given. A body `userId`, if sent, must be the token's subject.
 */
export function jwtIdentity({ secret, jwksUrl, jwks, audience, issuer, algorithms, userIdClaim = 'sub', clockToleranceS = 30 }) {
  if ([secret, jwksUrl, jwks].filter(Boolean).length !== 1) throw new Error('jwtIdentity: give exactly one of secret, jwksUrl, jwks');
  if (!audience) throw new Error('jwtIdentity: audience is required');
  const key = secret ? new TextEncoder().encode(secret) : jwksUrl ? createRemoteJWKSet(new URL(jwksUrl)) : createLocalJWKSet(jwks);
  const options = {
    audience,
    ...(issuer ? { issuer } : {}),
    algorithms: algorithms ?? (secret ? ['HS256', 'HS384', 'HS512'] : ['RS256', 'PS256', 'ES256', 'EdDSA']),
    clockTolerance: clockToleranceS,
    requiredClaims: ['exp', userIdClaim],
  };
  return async ({ userId, body, req }) => {
    const header = req?.headers?.authorization;
    const token = typeof header === 'string' && /^Bearer /i.test(header) ? header.slice(7).trim() : body?.idToken;
    if (typeof token !== 'string' || !token) throw refusal(401, 'not signed in: send the app\'s identity token (Authorization: Bearer …)');
    let payload;
    try {
      ({ payload } = await jwtVerify(token, key, options));
    } catch (e) {
      throw refusal(401, `identity token refused (${e.code ?? e.name}: ${e.message})`);
    }
    const subject = payload[userIdClaim];
    if (typeof subject !== 'string' || !subject) throw refusal(401, `identity token has no ${userIdClaim}`);
    if (userId !== undefined && userId !== subject) throw refusal(403, 'the identity token is for another user');
    return { userId: subject, ...profileOf(payload.name, payload.picture) };
  };
}

/** A first sign-in's profile from what the app said, dropping what would not pass checkProfile. */
function profileOf(name, profileUrl) {
  const out = {};
  try {
    Object.assign(out, checkProfile({ name }, { allowNull: false }));
  } catch {
    // a bad name is left out: the record gets the user id as its name
  }
  try {
    Object.assign(out, checkProfile({ profileUrl }, { allowNull: false }));
  } catch {
    // the same for a bad picture URL
  }
  return out;
}
