// Types of the web client core (pkg/web). Written by hand to describe exactly what the
// Rust side (src/wasm/client.rs, src/client/) returns; scripts/build-web.mjs copies this file,
// and tests/node/web-types.test.mjs compiles the snippets of docs/client.md and a sample app against it
// with `tsc --strict` and checks every name here is exported at run time.

/** What `init` accepts: nothing (browsers: fetched next to this module; Node: read from disk),
 *  the wasm bytes, a compiled module, a URL or a Response. */
export type InitInput = BufferSource | WebAssembly.Module | URL | string | Response | Promise<Response>;

/** Instantiates the core once; every other export needs it first. */
export default function init(input?: InitInput | { module_or_path: InitInput }): Promise<unknown>;
/** Synchronous instantiation from bytes or a compiled module. */
export function initSync(input: { module: BufferSource | WebAssembly.Module }): unknown;

/** Deployment options shared with the Functions: the shard count must match theirs. */
export interface ShardOptions {
  /** Presence shards (default 100; see deploy/config.json). */
  shardCount?: number;
}

/** Something the core refused, with the reason the Functions would give. */
export interface Refused {
  error: string;
}

/** What one signed-in user subscribes to. */
export interface SubscribePlan {
  userId: string;
  shard: number;
  /** `presence.shard-{N}`: being subscribed here is what makes the user online. */
  presenceChannel: string;
  /** Every channel to subscribe to, the presence channel first. */
  channels: string[];
  /** `cg-friends-{id}` and the overflow groups `cg-friends{i}-{id}` (i = 1–9). */
  groups: string[];
}

/** What `subscribePlan` takes: the shard count, and the friend count when known. */
export interface PlanOptions extends ShardOptions {
  /** The user's friend count: the plan names the groups in use (one under 2,000 friends).
   *  Unknown (absent): all ten groups. */
  friendCount?: number;
}

export function subscribePlan(userId: string, options?: PlanOptions): SubscribePlan | Refused;

/** The envelope every message and command carries. */
export interface Envelope<T extends string = string, P = Record<string, unknown>> {
  type: T;
  schemaVersion: string;
  eventId: string;
  ts: string;
  payload: P;
}

export type CommandType =
  | 'friend.request'
  | 'friend.request.accepted'
  | 'friend.request.declined'
  | 'friend.request.cancel'
  | 'friend.remove'
  | 'friend.block'
  | 'friend.unblock'
  | 'user.settings'
  | 'friends.sync.request';

/** What a command carries: `userB` names the other user; `page` only in `friends.sync.request`;
 *  `invisible` and `statusMessage` only in `user.settings`. */
export interface CommandPayload {
  userA: string;
  userB?: string;
  page?: string | null;
  invisible?: boolean;
  statusMessage?: string | null;
}

/** A command to publish as it is: `pubnub.publish({channel, message})`. */
export interface Command<T extends CommandType = CommandType> {
  channel: string;
  message: Envelope<T, CommandPayload>;
}

/** `user.settings`: at least one field. */
export interface UserSettings {
  /** Friends see the user offline while it stays connected. */
  invisible?: boolean;
  /** At most 100 characters (UTF-16 units, JS `length`); `null` or `''` clears it. */
  statusMessage?: string | null;
}

/** A number or a string without `:` that makes the command's eventId unique. */
export type Nonce = number | string;

/** `from` asks `to`; `from` publishes it. */
export function friendRequest(from: string, to: string, nowMs: number, nonce: Nonce): Command<'friend.request'> | Refused;
/** `me` accepts `from`'s request; `me` publishes it. */
export function acceptRequest(from: string, me: string, nowMs: number, nonce: Nonce): Command<'friend.request.accepted'> | Refused;
/** `me` declines `from`'s request; `me` publishes it. */
export function declineRequest(from: string, me: string, nowMs: number, nonce: Nonce): Command<'friend.request.declined'> | Refused;
/** `me` withdraws its pending request to `to`; `me` publishes it. */
export function cancelRequest(me: string, to: string, nowMs: number, nonce: Nonce): Command<'friend.request.cancel'> | Refused;
/** `me` blocks `other`: a friendship ends, pending requests both ways go, `other`'s requests no longer reach `me`. */
export function blockUser(me: string, other: string, nowMs: number, nonce: Nonce): Command<'friend.block'> | Refused;
/** `me` unblocks `other`. */
export function unblockUser(me: string, other: string, nowMs: number, nonce: Nonce): Command<'friend.unblock'> | Refused;
/** `me`'s own settings; refused (as the Functions would refuse it) with neither field, a wrong type or a message over 100 characters. */
export function userSettings(me: string, settings: UserSettings, nowMs: number, nonce: Nonce): Command<'user.settings'> | Refused;
/** `me` ends the friendship with `friend`; `me` publishes it. */
export function removeFriend(me: string, friend: string, nowMs: number, nonce: Nonce): Command<'friend.remove'> | Refused;
/** One batch of `me`'s friends, answered on `me`'s inbox (`page`: a `next` cursor, or null). */
export function syncRequest(me: string, page: string | null, nowMs: number, nonce: Nonce): Command<'friends.sync.request'> | Refused;

export interface Friend {
  userId: string;
  name: string | null;
  profileUrl: string | null;
  statusMessage: string | null;
  online: boolean;
  /** ISO 8601: the last status change (for an online friend, when they came online). */
  lastSeen: string | null;
}

/** A pending friend request, either way (an outgoing one has no name or profile). */
export interface PendingRequest {
  userId: string;
  name: string | null;
  profileUrl: string | null;
  /** ISO 8601. */
  requestedAt: string | null;
  /** The request's id (the eventId of the `friend.request` that made it); null from older servers. */
  requestId: string | null;
}

/** @deprecated the name before outgoing requests were listed: `PendingRequest`. */
export type IncomingRequest = PendingRequest;

/** The user's own settings as the answers to its `user.settings` confirmed them (null: not changed by this client). */
export interface OwnSettings {
  invisible: boolean | null;
  statusMessage: string | null;
}

/** The friends groups to subscribe to and to leave to follow the plan. */
export interface GroupChange {
  subscribe: string[];
  unsubscribe: string[];
}

export interface GlobalCount {
  onlineCount: number;
  deltaFromLast: number | null;
  peakToday: number | null;
  calculatedAt: string;
}

export interface CountPoint {
  /** Epoch milliseconds. */
  t: number;
  count: number;
}

/** How a command ended, from its `friend.command.result`. */
export interface CommandResult {
  eventId: string;
  command: string;
  ok: boolean;
  /** A stable code when `ok` is false: `unknown_user`, `self`, `already_friends`, … */
  reason: string | null;
}

export type Outcome = 'applied' | 'duplicate' | 'stale' | 'ignored' | 'rejected';

export interface ApplyResult {
  outcome: Outcome;
  reason: string | null;
  changed: boolean;
}

/** One signed-in user's friends view: apply every message the subscription delivers. */
export class FriendsView {
  private constructor();
  static create(userId: string, options?: ShardOptions): { view: FriendsView } | Refused;
  readonly userId: string;
  /** Bumped by every change. */
  readonly version: number;
  /** The plan for the friends known so far: all ten groups until a sync page tells the count, then the groups in use. */
  plan(): SubscribePlan;
  /** What to subscribe to and leave to go from the friends groups `current` to `plan()`'s. */
  regroup(current: string[]): GroupChange;
  /** Remembers a command about to be published, so its answer updates the lists (call before publishing). */
  track(message: Command['message']): { eventId: string } | Refused;
  /** A message as the SDK hands it (object or JSON text) and the channel it arrived on. */
  apply(message: unknown, channel?: string | null): ApplyResult;
  /** Starts an initial load: publish what `syncAsks` returns until `syncing` is false. */
  beginSync(): void;
  /**
   * The `friends.sync.request`s to publish now on `friend-management.{userId}`: one per chain of the
   * load that waits for nothing, at most `maxPages` pages asked for and not arrived; a request
   * unanswered after `timeoutMs`, or answered with a page missing, is asked again. Call it on every
   * applied page and now and then.
   */
  syncAsks(nowMs: number, nonce: number, maxPages: number, timeoutMs: number): Envelope<'friends.sync.request', { userA: string; page: string | null; pages: number }>[];
  readonly syncAwaiting: boolean;
  readonly syncing: boolean;
  readonly synced: boolean;
  /** Online first, then by name. */
  friends(): Friend[];
  friend(userId: string): Friend | null;
  readonly friendCount: number;
  readonly onlineCount: number;
  /** As the newest sync page reported them. */
  totals(): { totalFriends: number | null; totalOnline: number | null };
  globalCount(): GlobalCount | null;
  /** The last ten minutes of `status.count`, oldest first. */
  countHistory(): CountPoint[];
  /** The answer to the command `eventId`, or null while none arrived (re-send until it does). */
  commandResult(eventId: string): CommandResult | null;
  /** Pending requests to this user, oldest first (from the first sync page, notices and answers). */
  incoming(): PendingRequest[];
  /** The same as `incoming()`. */
  requests(): PendingRequest[];
  /** Pending requests this user sent. */
  outgoing(): PendingRequest[];
  /** The users this user blocked. */
  blocked(): string[];
  settings(): OwnSettings;
  /** Forgets an incoming request here, without a command; whether it was listed. */
  dismissRequest(userId: string): boolean;
  free(): void;
}

/** The part of a `pubnub` SDK instance (v10, v11, v12) the helper uses. */
export interface PubNubLike {
  addListener(listener: {
    message?: (event: { channel: string; message: unknown }) => void;
    status?: (status: { category: string; error?: unknown; statusCode?: number; operation?: string }) => void;
  }): void;
  removeListener(listener: object): void;
  subscribe(params: { channels?: string[]; channelGroups?: string[] }): void;
  unsubscribe(params: { channels?: string[]; channelGroups?: string[] }): void;
  publish(params: { channel: string; message: unknown }): Promise<unknown>;
  setToken(token: string): void;
  /** Resumes a subscription the SDK stopped (after a refused token); subscribing again when absent. */
  reconnect?(): void;
  /** Where this user is present: checked after leaving the presence shard (a late subscribe can join it again). */
  whereNow?(params: { uuid: string }): Promise<{ channels: string[] }>;
}

/** Why a connection, a command or a refresh failed. */
export type FriendsErrorCode =
  /** Access Manager refused the token (403): missing, expired, revoked, or not this user's. */
  | 'access_denied'
  /** PubNub could not be reached, or answered with an error other than 403. */
  | 'network'
  /** `connectFriends` was not connected within `connectTimeoutMs`. */
  | 'timeout'
  /** A command or a sync page got no answer after every attempt. */
  | 'no_answer'
  /** The core refused to build the command (its reason is the message). */
  | 'invalid'
  /** The app's `refreshToken` hook failed or returned no token. */
  | 'refresh_failed'
  /** The connection was closed first. */
  | 'closed';

/** Every rejection of `connectFriends` and of a connection's commands; `message` starts with `friends-presence: `. */
export class FriendsError extends Error {
  constructor(code: FriendsErrorCode, message: string, details?: { statusCode?: number | null; cause?: unknown });
  readonly name: 'FriendsError';
  readonly code: FriendsErrorCode;
  /** The HTTP status PubNub answered with, when there was one (403 for `access_denied`). */
  readonly statusCode: number | null;
}

/** What a live connection reports through `onStatus`. */
export type ConnectionEvent =
  /** The token was refused mid-way: the subscription stopped and publishes fail until `setToken`. */
  | { type: 'access_denied'; error: FriendsError }
  /** The subscription failed for another reason; the SDK may retry, `resume()` subscribes again. */
  | { type: 'disconnected'; error: FriendsError }
  /** Subscribed again after a refusal or a gap; the friends are being loaded again. */
  | { type: 'resumed' }
  /** The load after `resumed` failed (the view keeps what it had). */
  | { type: 'reload_failed'; error: FriendsError }
  /** A token refresh failed; `final`: no more attempts (`refreshAttempts` in a row failed). */
  | { type: 'refresh_failed'; error: FriendsError; final: boolean };

export type ConnectionState = 'live' | 'token_refused' | 'disconnected' | 'closed';

export interface ConnectOptions {
  pubnub: PubNubLike;
  userId: string;
  shardCount?: number;
  /** The friend count if known (e.g. from the last session): the first subscribe names only the groups in use.
   *  Either way the plan follows the count once the first sync page tells it. */
  friendCount?: number;
  /** Subscribe to the presence shard (be online); false only watches friends. Default true. */
  online?: boolean;
  /** The user is invisible (e.g. remembered from the last session): the client never joins the presence
   *  shard (whose occupants any user of the shard can list) until `settings({invisible: false})` is
   *  answered ok. Default false. Once this client's own `user.settings` is answered, that decides. */
  invisible?: boolean;
  /** Called after every message that changed the view. */
  onChange?: (view: FriendsView) => void;
  /** Called with every message and what applying it did. */
  onMessage?: (event: { channel: string; message: unknown }, outcome: ApplyResult) => void;
  /** Called when the connection's state changes after it was made (a refused token, a gap, a failed refresh). */
  onStatus?: (event: ConnectionEvent) => void;
  /** Returns a fresh Access Manager token, and when to ask again (ms; default 30 min). The connection
   *  sets it (`setToken`), so a subscription the old token lost resumes. */
  refreshToken?: () => Promise<{ token: string; refreshInMs?: number }>;
  /** When to first call `refreshToken` (ms; default 30 min). */
  firstRefreshInMs?: number;
  /** How many refreshes in a row may fail before giving up (default 5), and the wait between them (ms; default 10,000). */
  refreshAttempts?: number;
  refreshRetryMs?: number;
  /** How long the first subscribe may take before `connectFriends` rejects with `timeout` (ms; default 10,000). */
  connectTimeoutMs?: number;
  /** Pages of the initial load asked for and not arrived, at most (default 50: below the ~100 messages a subscriber queue holds). */
  syncPagesInFlight?: number;
  /** How long to wait for an answer before re-sending (ms; default 5,000). */
  answerTimeoutMs?: number;
  /** How many times a command or a sync batch is sent before giving up (default 5). */
  attempts?: number;
}

export interface FriendsConnection {
  view: FriendsView;
  /** What is subscribed now: the friends groups follow the friend count. */
  readonly plan: SubscribePlan;
  /** `live`, or why not: a refused token (until `setToken`), a failed subscribe, `close()`. */
  readonly state: ConnectionState;
  /** Whether this client is subscribed to its presence shard: online and not invisible. */
  readonly present: boolean;
  /** Be online (join the presence shard) or only watch; an invisible user stays off the shard either way. */
  setOnline(online: boolean): void;
  /** Publishes a command (tracked by the view) until its `friend.command.result` arrives; resolves to
   *  it, `ok: false` with its `reason` included; rejects with a `FriendsError`: `invalid` (not built),
   *  `access_denied` (at once: re-sending cannot help), `network` or `no_answer` (after `attempts`), `closed`. */
  send(command: Command | Refused): Promise<CommandResult>;
  request(to: string): Promise<CommandResult>;
  accept(from: string): Promise<CommandResult>;
  decline(from: string): Promise<CommandResult>;
  /** Withdraws this user's pending request to `to`. */
  cancel(to: string): Promise<CommandResult>;
  remove(friend: string): Promise<CommandResult>;
  block(user: string): Promise<CommandResult>;
  unblock(user: string): Promise<CommandResult>;
  /** `invisible: true`, once answered ok, leaves the presence shard; `invisible: false` joins it again
   *  (when online). */
  settings(settings: UserSettings): Promise<CommandResult>;
  /** Loads every friend again (online first). */
  reload(): Promise<void>;
  /** A new token for the SDK; a subscription the old one lost resumes (and the friends load again). */
  setToken(token: string): void;
  /** Subscribes again after `disconnected`. */
  resume(): void;
  /** Unsubscribes and stops the token refresh. */
  close(): void;
}

/** Subscribes per the plan, waits for the subscribe to connect, loads every friend (online first) and
 *  resolves; rejects with a `FriendsError` (`access_denied`, `network`, `timeout`, `no_answer`, `invalid`),
 *  leaving nothing subscribed. */
export function connectFriends(options: ConnectOptions): Promise<FriendsConnection>;
