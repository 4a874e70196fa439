//! The initial load's decisions, input → output, without a host: `core::sync`.

use friends_presence::core::friends::{self as fr, Command, CommandKind, PendingRequest};
use friends_presence::core::records::SyncPart;
use friends_presence::core::sync::{self, SyncCursor};
use friends_presence::domain::time::iso8601;
use friends_presence::domain::{Json, JsonObject, UserId};
use friends_presence::host::{Member, MemberFilter, MembersPage, UserRecord};

use super::T0;

fn sync_cmd(page: Option<&str>) -> Command {
    let me = UserId::parse("alice").unwrap();
    Command {
        kind: CommandKind::Sync,
        user_a: me.clone(),
        user_b: me,
        event_id: "s1".into(),
        page: page.map(|p| SyncCursor::parse(p).unwrap()),
        sum: 0,
    }
}

fn friend(id: &str, online: bool) -> Member {
    let mut custom = JsonObject::default();
    custom.set("online", Json::Bool(online));
    custom.set("lastSeen", Json::str("2026-01-01T00:00:00.000Z"));
    let user =
        UserRecord { id: id.into(), name: Some(id.to_uppercase()), profile_url: Some(format!("https://x/{id}")), custom, etag: None };
    Member { user, custom: JsonObject::default() }
}

fn members(n: usize, online: bool) -> Vec<Member> {
    (0..n).map(|i| friend(&format!("f{i:03}"), online)).collect()
}

#[test]
fn cursors_name_their_part_place_and_token_and_nothing_else_parses() {
    for wire in ["0=oa0:", "9+rd17:tok_en-1", "3=ra2:abc", "1+od0:"] {
        assert_eq!(SyncCursor::parse(wire).unwrap().to_wire(), wire);
    }
    let c = SyncCursor::parse("2+rd5:t").unwrap();
    assert_eq!(c.part, SyncPart { group: 2, through: true, online: false, desc: true });
    assert_eq!((c.seq, c.token.as_deref(), c.chain()), (5, Some("t"), 20 + 2 * 2 + 1));
    for bad in ["", "o:abc", "r:", "=oa0:", "10=oa0:", "0-oa0:", "0=xa0:", "0=oz0:", "0=oa:", "0=oa1234567:", "0=oa0:has space", "0=oa0"] {
        assert!(SyncCursor::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_part_is_read_through_its_filter_sorted_one_way_or_the_other() {
    let c = SyncCursor::parse("1=rd3:tok").unwrap();
    let (filter, token) = c.read();
    assert_eq!(token, Some("tok"));
    assert_eq!(filter.expression().as_deref(), Some("custom.group == 1 && !(uuid.custom.online == true)"));
    let MemberFilter::Part(part) = filter else { panic!("{filter:?}") };
    assert_eq!(part.sort_dir(), "desc");
    let last = SyncCursor::parse("4+oa0:").unwrap().read().0;
    assert_eq!(last.expression().as_deref(), Some("custom.group >= 4 && uuid.custom.online == true"));
}

#[test]
fn chains_are_four_per_group_every_groups_online_ones_first_and_the_last_group_takes_the_rest() {
    let wires = |total| sync::chains(total).iter().map(|c| c.as_ref().map(SyncCursor::to_wire)).collect::<Vec<_>>();
    let at = |w: &[Option<String>], i: usize| w[i].clone();
    let w = wires(0);
    assert_eq!(w.len(), 22, "online chains at 0.., the others' at 20..");
    assert_eq!(
        (at(&w, 0), at(&w, 1), at(&w, 2), at(&w, 20), at(&w, 21)),
        (Some("0+oa0:".into()), Some("0+od0:".into()), None, Some("0+ra0:".into()), Some("0+rd0:".into()))
    );
    assert_eq!(wires(2000), w);
    let w = wires(2001);
    assert_eq!(
        w.iter().flatten().cloned().collect::<Vec<_>>(),
        ["0=oa0:", "0=od0:", "1+oa0:", "1+od0:", "0=ra0:", "0=rd0:", "1+ra0:", "1+rd0:"]
    );
    let w = wires(20_000);
    assert_eq!((w.len(), w.iter().flatten().count()), (40, 40));
    assert_eq!((at(&w, 18), at(&w, 19), at(&w, 39)), (Some("9+oa0:".into()), Some("9+od0:".into()), Some("9+rd0:".into())));
    for (i, c) in sync::chains(20_000).iter().enumerate() {
        assert_eq!(c.as_ref().unwrap().chain() as usize, i, "a chain's number is its place in the head");
    }
    assert_eq!(sync::chains(25_000).len(), 40, "never more than the ten groups");
}

#[test]
fn the_ascending_chain_reads_the_first_half_of_a_part_and_the_descending_one_the_rest() {
    // A part of 750: 8 pages, 4 from each end; the descending chain's 4th keeps the 50 left.
    let at = |wire: &str| SyncCursor::parse(wire).unwrap();
    let page = |wire: &str, next: Option<&str>| {
        let read = MembersPage { members: members(100, true), next: next.map(str::to_owned), total: Some(750) };
        sync::page(&sync_cmd(Some(wire)), &at(wire), read, 2, false, T0)
    };
    let (n, next) = page("0=oa0:", Some("t1"));
    assert_eq!(next.map(|c| c.to_wire()).as_deref(), Some("0=oa1:t1"));
    assert_eq!((n.message.payload.chain, n.message.payload.seq, n.message.payload.more), (Some(0), Some(0), true));
    let (n, next) = page("0=oa3:t3", Some("t4"));
    assert_eq!((next, n.message.payload.next, n.message.payload.more), (None, None, false), "the 4th page ends the ascending chain");
    assert_eq!(n.message.payload.friends.len(), 100);
    let (n, next) = page("0=od3:t3", Some("t4"));
    assert_eq!((next, n.message.payload.chain, n.message.payload.friends.len()), (None, Some(1), 50));
    // A part of one page: the descending chain has nothing of its own and ends at once.
    let small = MembersPage { members: members(40, false), next: None, total: Some(40) };
    let (n, next) = sync::page(&sync_cmd(Some("0=rd0:")), &at("0=rd0:"), small.clone(), 0, false, T0);
    assert!(next.is_none() && n.message.payload.friends.is_empty() && n.message.payload.next.is_none());
    let (n, next) = sync::page(&sync_cmd(Some("0=ra0:")), &at("0=ra0:"), small, 0, false, T0);
    assert!(next.is_none() && n.message.payload.friends.len() == 40);
    // The answer's last page says so even mid-chain; App Context's end ends the chain.
    let read = MembersPage { members: members(100, true), next: Some("t1".into()), total: Some(750) };
    let (n, next) = sync::page(&sync_cmd(Some("0=oa0:")), &at("0=oa0:"), read, 0, true, T0);
    assert!(next.is_some() && !n.message.payload.more);
    let read = MembersPage { members: members(100, true), next: None, total: Some(750) };
    assert!(sync::page(&sync_cmd(Some("0=oa0:")), &at("0=oa0:"), read, 0, false, T0).1.is_none());
}

#[test]
fn a_page_lists_its_friends_on_the_private_inbox_with_the_requests_id() {
    let c = SyncCursor::parse("0+oa0:").unwrap();
    let read = MembersPage { members: vec![friend("f1", true), friend("f2", false)], next: None, total: Some(2) };
    let (reply, _) = sync::page(&sync_cmd(None), &c, read, 3, false, T0);
    assert_eq!(reply.channel, "inbox.alice");
    assert_eq!(reply.message.kind, "friends.sync");
    assert_eq!(reply.message.event_id, format!("evt_sync_s1_{T0}.3"), "the request's id and the page's place in the answer");
    let p = &reply.message.payload;
    assert_eq!(p.request_id, "s1");
    assert_eq!(p.friends.iter().map(|f| f.user_id.0.as_str()).collect::<Vec<_>>(), ["f1", "f2"]);
    assert_eq!(p.friends[0].profile_url.as_deref(), Some("https://x/f1"));
    assert_eq!(p.friends[0].last_seen.as_deref(), Some("2026-01-01T00:00:00.000Z"));
    assert_eq!(p.online_friends, ["f1"]);
    assert_eq!((p.total_friends, p.chains.as_ref()), (None, None), "totals and chains are the head's");
}

#[test]
fn the_head_carries_the_totals_the_lists_and_every_chain() {
    let read = sync::PendingRead { incoming: vec![], outgoing: vec![], blocked: vec![friend("zed", false)] };
    let (head, served) = sync::head(&sync_cmd(None), 4100, Some(900), read, 5, T0);
    assert_eq!(head.message.event_id, format!("evt_sync_s1_{T0}"));
    let p = &head.message.payload;
    assert_eq!((p.total_friends, p.total_online, p.more), (Some(4100), Some(900), true));
    let listed: Vec<_> = p.chains.as_ref().unwrap().iter().flatten().collect();
    assert_eq!(listed.len(), 12, "three groups, none known empty: the parts' sizes are not known");
    assert_eq!(p.blocked.as_deref(), Some(&["zed".to_owned()][..]));
    assert!(p.friends.is_empty() && p.chain.is_none());
    let wires = |v: &[SyncCursor]| v.iter().map(SyncCursor::to_wire).collect::<Vec<_>>();
    assert_eq!((wires(&served), p.serves), (vec!["0=oa0:".to_owned()], Some(1)), "the head's own answer goes on with the first chain");
    assert_eq!(iso8601(T0), head.message.ts);
}

#[test]
fn with_one_group_the_head_knows_each_chains_size_and_its_answer_reads_what_fits() {
    let none = || sync::PendingRead { incoming: vec![], outgoing: vec![], blocked: vec![] };
    let head = |total, online| {
        let (n, served) = sync::head(&sync_cmd(None), total, Some(online), none(), 5, T0);
        let p = n.message.payload;
        (p.chains.unwrap(), p.serves.unwrap(), served.iter().map(SyncCursor::to_wire).collect::<Vec<_>>(), p.more)
    };
    // The chains of one group, at 0, 1, 20 and 21 (the rest is null).
    let w = |v: [Option<&str>; 4]| {
        let mut all = vec![None; 22];
        for (i, c) in [0, 1, 20, 21].into_iter().zip(v) {
            all[i] = c.map(str::to_owned);
        }
        all
    };
    // No friend: the head is the whole answer, and the whole load.
    assert_eq!(head(0, 0), (w([None, None, None, None]), 22, vec![], false));
    // 150 friends, 100 online: one page each way, both read by the first answer.
    assert_eq!(head(150, 100), (w([Some("0+oa0:"), None, Some("0+ra0:"), None]), 22, vec!["0+oa0:".into(), "0+ra0:".into()], true));
    // 2,000, 500 online: the online chains (3 + 2 pages) fit; the others' 8 + 7 are asked for.
    let all = w([Some("0+oa0:"), Some("0+od0:"), Some("0+ra0:"), Some("0+rd0:")]);
    assert_eq!(head(2000, 500), (all, 20, vec!["0+oa0:".into(), "0+od0:".into()], true));
    // Everyone online: the first chain (10 pages) is read as far as the answer goes.
    assert_eq!(head(2000, 2000).1, 1);
}

#[test]
fn pages_a_request_may_ask_for_stay_within_an_executions_calls() {
    let req = |pages: Json| {
        let mut payload = JsonObject::default();
        payload.set("pages", pages);
        let mut m = JsonObject::default();
        m.set("payload", Json::Obj(payload));
        sync::sync_pages(&Json::Obj(m))
    };
    assert_eq!((req(Json::num(3)), req(Json::num(99)), req(Json::num(0)), req(Json::Null)), (3, 10, 1, 1));
    const { assert!(sync::SYNC_FIRST_PAGES_MAX + 5 <= 10 && sync::SYNC_PAGES_MAX <= 10) };
}
#[test]
fn pending_lists_leave_out_expired_and_hidden_requests() {
    let listed = |who: &str, at: u64, hidden: bool| {
        let mut custom = fr::request_listing(&PendingRequest { id: "r".into(), at, hidden: false });
        if hidden {
            custom.set("hidden", Json::Bool(true));
        }
        Member { user: UserRecord { id: who.into(), name: Some(who.to_uppercase()), ..Default::default() }, custom }
    };
    let month = 30 * 24 * 3600 * 1000;
    let read = sync::PendingRead {
        incoming: vec![listed("carol", T0 - 10, false), listed("dave", T0 - month, false), listed("eve", T0, true)],
        outgoing: vec![
            ("requests-in.bob".into(), fr::request_listing(&PendingRequest { id: "r".into(), at: T0 - 1, hidden: false })),
            ("requests-in.zed".into(), fr::request_listing(&PendingRequest { id: "r".into(), at: T0 - month - 1, hidden: false })),
        ],
        blocked: vec![],
    };
    let (incoming, outgoing, blocked) = sync::pending_lists(read, T0);
    let names: Vec<&str> = incoming.iter().map(|e| e.user_id.0.as_str()).collect();
    assert_eq!(names, ["carol"], "dave's request expired, eve's is hidden");
    assert_eq!(incoming[0].name.as_deref(), Some("CAROL"));
    assert_eq!(incoming[0].requested_at, iso8601(T0 - 10));
    let to: Vec<&str> = outgoing.iter().map(|e| e.user_id.0.as_str()).collect();
    assert_eq!(to, ["bob"]);
    assert!(blocked.is_empty());
}
