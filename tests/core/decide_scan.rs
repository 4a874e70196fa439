//! A shard reconciliation step's decisions, input → output, without a host:
//! `core::reconcile::{after_occupants_page, ScanWalk}` and `core::work::next_hop`.

use friends_presence::core::reconcile::{after_occupants_page, Occupants, ScanState, ScanWalk, WalkPage, CHANGES_PER_STEP};
use friends_presence::core::work::next_hop;
use friends_presence::host::{UserRecord, UsersPage};

use super::T0;

fn page(ids: &[&str], next: Option<&str>) -> UsersPage {
    UsersPage { users: ids.iter().map(|id| UserRecord { id: (*id).into(), ..Default::default() }).collect(), next: next.map(Into::into) }
}

fn changes(walk: ScanWalk) -> (Vec<(String, bool)>, Option<ScanState>) {
    let (changes, next) = walk.finish();
    assert!(changes.iter().all(|o| o.reconciled && o.at_ms == T0), "snapshots of presence at the read");
    (changes.into_iter().map(|o| (o.user, o.online)).collect(), next)
}

fn pairs(list: &[(&str, bool)]) -> Vec<(String, bool)> {
    list.iter().map(|(u, o)| ((*u).to_owned(), *o)).collect()
}

#[test]
fn a_storm_scan_waits_for_its_slot_to_end() {
    let scan = ScanState { due_ms: Some(T0 + 1), ..ScanState::shard(3) };
    assert!(!scan.is_due(T0));
    assert!(scan.is_due(T0 + 1));
    assert!(ScanState::shard(3).is_due(0));
}

#[test]
fn occupants_are_read_until_a_short_page_and_never_past_eight_pages() {
    assert_eq!(after_occupants_page(1, 999), Occupants::Complete);
    assert_eq!(after_occupants_page(1, 1000), Occupants::ReadMore);
    assert_eq!(after_occupants_page(7, 1000), Occupants::ReadMore);
    assert_eq!(after_occupants_page(8, 1000), Occupants::TooMany);
    assert_eq!(after_occupants_page(8, 0), Occupants::Complete);
}

#[test]
fn one_page_present_but_offline_joined_online_but_absent_left() {
    let mut walk = ScanWalk::new(ScanState::shard(3), 1, T0);
    assert_eq!(walk.next_page(), Some(None), "the first page");
    assert_eq!(walk.page(&["a", "c", "d"], &page(&["c", "b"], None)), WalkPage::Compared);
    assert_eq!(walk.next_page(), None, "the last page: done");
    let (got, next) = changes(walk);
    assert_eq!(got, pairs(&[("a", true), ("b", false), ("d", true)]));
    assert_eq!(next, None);
}

#[test]
fn each_page_covers_ids_up_to_its_last_and_the_state_follows_the_pages() {
    let present = ["a", "d"];
    let mut walk = ScanWalk::new(ScanState::shard(3), 1, T0);
    walk.page(&present, &page(&["b", "c"], Some("t1")));
    assert_eq!(walk.next_page(), Some(Some("t1")));
    walk.page(&present, &page(&["e"], None));
    let (got, next) = changes(walk);
    // d is after the first page's last id: the second page's range decides it.
    assert_eq!(got, pairs(&[("a", true), ("b", false), ("c", false), ("d", true), ("e", false)]));
    assert_eq!(next, None);

    // Out of API calls after one page: the next step continues after "c", re-reading from "t1".
    let mut walk = ScanWalk::new(ScanState::shard(3), 8, T0);
    walk.page(&present, &page(&["b", "c"], Some("t1")));
    assert_eq!(walk.next_page(), None);
    let (got, next) = changes(walk);
    assert_eq!(got, pairs(&[("a", true), ("b", false), ("c", false)]));
    assert_eq!(next, Some(ScanState { after: Some("c".into()), page: None, ..ScanState::shard(3) }));
}

#[test]
fn a_full_step_stops_at_an_id_and_the_next_rereads_its_page() {
    let ids: Vec<String> = (0..800).map(|i| format!("u{i:03}")).collect();
    let present: Vec<&str> = ids.iter().map(String::as_str).collect();
    let scan = ScanState { after: Some("a".into()), page: Some("t4".into()), ..ScanState::shard(3) };
    let mut walk = ScanWalk::new(scan, 1, T0);
    assert_eq!(walk.next_page(), Some(Some("t4")));
    assert_eq!(walk.page(&present, &page(&["a"], None)), WalkPage::Compared);
    assert_eq!(walk.next_page(), None);
    let (got, next) = changes(walk);
    assert_eq!(got.len(), CHANGES_PER_STEP);
    assert_eq!(next, Some(ScanState { after: Some(ids[CHANGES_PER_STEP - 1].clone()), page: Some("t4".into()), ..ScanState::shard(3) }));
}

#[test]
fn a_list_that_shifted_past_the_reread_page_is_scanned_again_from_its_start() {
    let scan = ScanState { after: Some("m".into()), page: Some("t5".into()), ..ScanState::shard(3) };
    let mut walk = ScanWalk::new(scan, 1, T0);
    assert_eq!(walk.page(&["n"], &page(&["n", "o"], Some("t6"))), WalkPage::Shifted);
    assert_eq!(walk.next_page(), Some(None), "from the first page");
    walk.page(&["n"], &page(&["k", "n"], None));
    let (got, _) = changes(walk);
    assert_eq!(got, Vec::<(String, bool)>::new(), "ids up to m were done already; n is consistent");
}

#[test]
fn a_failed_read_leaves_the_state_for_the_next_step() {
    let scan = ScanState { after: Some("m".into()), page: Some("t5".into()), ..ScanState::shard(3) };
    let mut walk = ScanWalk::new(scan.clone(), 1, T0);
    walk.read_failed();
    assert_eq!(walk.next_page(), None);
    assert_eq!(changes(walk), (vec![], Some(scan)));
}

#[test]
fn chained_work_goes_out_while_hops_remain_then_to_the_queue() {
    assert_eq!(next_hop(0), Some(1));
    assert_eq!(next_hop(1), Some(2));
    assert_eq!(next_hop(2), None);
}

// ---- reading presence for the users an event cannot decide ----------------------------

mod presence_read {
    use friends_presence::core::presence::{
        parse_presence_event, plan_presence_read, resolve_check, PresenceCheck, PresenceInput, PresenceRead,
    };
    use serde_json::json;

    fn check(users: usize, occupancy: u64) -> PresenceCheck {
        PresenceCheck { users: (0..users).map(|i| format!("u{i}")).collect(), occupancy, at_ms: 5 }
    }

    #[test]
    fn the_cheaper_read_within_the_calls_allowed() {
        assert_eq!(plan_presence_read(&check(0, 50), 7), PresenceRead::Nothing);
        assert_eq!(plan_presence_read(&check(1, 50), 7), PresenceRead::WhereNow);
        assert_eq!(plan_presence_read(&check(2, 50), 7), PresenceRead::HereNowPages(1));
        assert_eq!(plan_presence_read(&check(6, 5_000), 7), PresenceRead::WhereNow);
        assert_eq!(plan_presence_read(&check(7, 5_000), 7), PresenceRead::HereNowPages(6));
        assert_eq!(plan_presence_read(&check(400, 6_999), 7), PresenceRead::HereNowPages(7));
        assert_eq!(plan_presence_read(&check(7, 9_000), 7), PresenceRead::WhereNow);
        assert_eq!(plan_presence_read(&check(8, 7_000), 7), PresenceRead::Reconcile);
    }

    #[test]
    fn presence_decides_not_the_arrays() {
        let present = vec!["u1".to_owned(), "u3".to_owned()];
        let out = resolve_check(check(4, 10), &present);
        let online: Vec<(String, bool)> = out.iter().map(|o| (o.user.clone(), o.online)).collect();
        assert_eq!(online, [("u0".into(), false), ("u1".into(), true), ("u2".into(), false), ("u3".into(), true)]);
        assert!(out.iter().all(|o| o.at_ms == 5 && !o.reconciled));
    }

    #[test]
    fn an_interval_event_sends_every_departure_and_every_twice_named_user_to_presence() {
        let event = super::super::json(json!({
            "action": "interval", "occupancy": 300, "timestamp": 10,
            "join": ["a", "b", "b"], "leave": ["b", "c"], "timeout": ["c", "d"],
        }));
        let Ok(PresenceInput::Observations { observations, checks, .. }) = parse_presence_event("presence.shard-1", &event, 0) else {
            panic!("not parsed as deltas");
        };
        let joined: Vec<&str> = observations.iter().map(|o| o.user.as_str()).collect();
        assert_eq!(joined, ["a"], "only a join that stands alone is taken from the arrays");
        assert_eq!(checks.users, ["b", "c", "d"]);
        assert_eq!((checks.occupancy, checks.at_ms), (300, 10_000));
    }
}
