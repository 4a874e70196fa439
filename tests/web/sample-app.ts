// A sample app on the typed web package: two users become friends through connectFriends and
// each sees the other come and go, with the pending request listed, a status message, a block
// and an unblock. tests/node/web-types.test.mjs compiles it with
// `tsc --strict` and runs it against the local runtime with the real SDK.
import PubNub from 'pubnub11';
import init, { connectFriends, subscribePlan, type FriendsConnection, type Friend } from '../../pkg/web/index.js';

export interface SampleResult {
  requestAnswer: string;
  acceptAnswer: string;
  aliceSawBobOnline: boolean;
  aliceSawBobOffline: boolean;
  refusedReason: string | null;
  groupsInUse: number;
  outgoingBeforeAccept: string[];
  statusMessageSeen: boolean;
  blockedAfterBlock: string[];
  friendsAfterBlock: number;
  blockedAfterUnblock: string[];
  tooLong: string;
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return true;
}

export async function sample(origin: string, alice: string, bob: string, shardCount: number): Promise<SampleResult> {
  await init();
  const sdk = (userId: string) => new PubNub({ subscribeKey: 'sub-c-test', publishKey: 'pub-c-test', userId, origin, ssl: false, keepAlive: false });
  const plan = subscribePlan(bob, { shardCount });
  if ('error' in plan) throw new Error(plan.error);

  const alicePubNub = sdk(alice);
  const a: FriendsConnection = await connectFriends({ pubnub: alicePubNub, userId: alice, shardCount, online: false });
  // No friends yet: subscribed to one friends group, not ten, once the first page told the count.
  const groupsInUse = alicePubNub.getSubscribedChannelGroups().length;
  if (a.plan.groups.length !== groupsInUse) throw new Error('the connection\'s plan is not what is subscribed');
  const request = await a.request(bob);
  const outgoingBeforeAccept = a.view.outgoing().map((r) => r.userId);
  const b: FriendsConnection = await connectFriends({ pubnub: sdk(bob), userId: bob, shardCount });
  const accept = await b.accept(alice);
  const bobOf = (): Friend | null => a.view.friend(bob);
  const aliceSawBobOnline = await until(() => bobOf()?.online === true, 15_000);
  await b.settings({ statusMessage: 'hello from bob' });
  const statusMessageSeen = await until(() => bobOf()?.statusMessage === 'hello from bob', 15_000);
  b.close();
  const aliceSawBobOffline = await until(() => bobOf()?.online === false, 15_000);
  const refused = await a.request(alice + '-nobody');
  await a.block(bob);
  const blockedAfterBlock = a.view.blocked();
  await until(() => a.view.friendCount === 0, 10_000);
  const friendsAfterBlock = a.view.friendCount;
  await a.unblock(bob);
  const blockedAfterUnblock = a.view.blocked();
  const tooLong = await a.settings({ statusMessage: 'x'.repeat(101) }).then(
    () => 'sent',
    (e: Error) => e.message,
  );
  a.close();
  return {
    groupsInUse,
    outgoingBeforeAccept,
    statusMessageSeen,
    blockedAfterBlock,
    friendsAfterBlock,
    blockedAfterUnblock,
    tooLong,
    requestAnswer: `${request.command} ${request.ok}`,
    acceptAnswer: `${accept.command} ${accept.ok}`,
    aliceSawBobOnline,
    aliceSawBobOffline,
    refusedReason: refused.ok ? null : refused.reason,
  };
}
