// Exercises the pubnub module's App Context, presence and channel-group calls; reports the shapes.
export default async (request) => {
  const pubnub = require('pubnub');
  const out = {};
  const set = await pubnub.objects.setUUIDMetadata({ uuid: 'fn-user', data: { name: 'F', custom: { online: true } } });
  out.set = { status: set.status, name: set.data.name, custom: set.data.custom, eTag: typeof set.data.eTag };
  try {
    await pubnub.objects.getUUIDMetadata({ uuid: 'missing-user' });
  } catch (e) {
    out.missing = { statusCode: e.status.statusCode, isError: e instanceof Error };
  }
  try {
    await pubnub.objects.setUUIDMetadata({ uuid: 'fn-user', data: { name: 'G' }, ifMatchesEtag: 'stale' });
  } catch (e) {
    out.stale = e.status.statusCode;
  }
  await pubnub.objects.setChannelMembers({ channel: 'friends.fn-user', uuids: [{ id: 'bob', custom: { status: 'accepted' } }] });
  const members = await pubnub.objects.getChannelMembers({ channel: 'friends.fn-user', include: { customFields: true, totalCount: true } });
  out.members = { totalCount: members.totalCount, items: members.data.map((m) => [m.uuid.id, m.custom.status]) };
  out.hereNow = await pubnub.hereNow({ channels: ['presence.here'], includeUUIDs: true });
  await pubnub.channelGroups.addChannels({ channelGroup: 'cg-fn', channels: ['status.a'] });
  out.group = await pubnub.channelGroups.listChannels({ channelGroup: 'cg-fn' });
  await pubnub.publish({ channel: 'objs-out', message: out });
  return request.ok();
};
