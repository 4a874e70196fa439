//! Compact friends groups: n friends use ⌈n/2,000⌉ groups; a removal's hole is refilled from
//! the last group in use (the recount worker, fired by the removal).

use friends_presence::core::friends as fr;
use friends_presence::host::fake::FakeHost;

use super::friends::{assert_exact, befriend, command, on_management, outcome, recount, seed_placed_friends};
use super::T0;

fn group_name(i: u64) -> String {
    if i == 0 {
        "cg-friends-star".to_owned()
    } else {
        format!("cg-friends{i}-star")
    }
}

#[test]
fn a_hole_is_refilled_only_before_the_last_group_in_use_and_from_the_top() {
    assert_eq!(fr::refill_from(0, 2000), Some(1), "2,001 friends, one removed from group 0: the spill in group 1 moves");
    assert_eq!(fr::refill_from(0, 1999), None, "the only group");
    assert_eq!(fr::refill_from(1, 4000), Some(2));
    assert_eq!(fr::refill_from(2, 4000), None, "the hole is in the last group");
    assert_eq!(fr::refill_from(0, 30_000), Some(9));
    assert_eq!(fr::refill_probes(0, 1).collect::<Vec<_>>(), [4, 3, 2, 1]);
    assert_eq!(fr::refill_probes(7, 8).collect::<Vec<_>>(), [9, 8]);
}

#[test]
fn a_removal_refills_its_hole_from_the_last_group_so_n_friends_use_ceil_n_over_2000_groups() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    seed_placed_friends(&host, "star", 0, 1999);
    befriend(&host, "n2000", "star");
    befriend(&host, "n2001", "star");
    assert!(host.group(&group_name(1)).contains("status.n2001"), "friend 2,001 opens the second group");
    on_management(&host, "star", command("friend.remove", "star", "n2000", "x1"));
    assert_eq!(outcome(&host, "star", "x1"), Some(Ok(())));
    recount(&host);
    assert!(host.group(&group_name(1)).is_empty(), "2,000 friends: one group");
    assert!(host.group(&group_name(0)).contains("status.n2001") && host.group(&group_name(0)).len() == 2000);
    assert_eq!(host.members("friends.star")["n2001"]["group"], 0);
    assert_eq!(host.members("friends.n2001")["star"]["peerGroup"], 0, "the friend's side records the move too");
    assert_exact(&host, &["star", "n2000", "n2001"]);
    // A removal in the last group leaves nothing to refill.
    befriend(&host, "n2002", "star");
    on_management(&host, "star", command("friend.remove", "star", "n2002", "x2"));
    recount(&host);
    assert!(host.group(&group_name(1)).is_empty());
    // Removed again by either side: the moved friend's entries are found where they are now.
    on_management(&host, "n2001", command("friend.remove", "n2001", "star", "x3"));
    recount(&host);
    assert!(!host.group(&group_name(0)).contains("status.n2001"));
    assert_exact(&host, &["star", "n2001"]);
    host.assert_within_budget();
}
