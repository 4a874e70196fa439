//! The server core's subscribe plan names every group the friend handlers place a friend in.

use friends_presence::core::friends::group_for_count;
use friends_presence::core::plan::{SubscribePlan, DEFAULT_SHARD_COUNT};
use friends_presence::domain::channels::{friends_group, GROUPS_PER_USER, MAX_FRIENDS};
use friends_presence::domain::UserId;
use friends_presence::host::fake::FakeHost;

use super::friends::befriend;
use super::T0;

fn plan(id: &str) -> SubscribePlan {
    SubscribePlan::for_user(&UserId::parse(id).unwrap(), DEFAULT_SHARD_COUNT)
}

#[test]
fn every_group_a_friend_can_be_placed_in_is_in_the_plan() {
    let star = UserId::parse("star").unwrap();
    let groups = plan("star").groups;
    // The group the count picks, and the next one a full group falls over to.
    for count in 1..=MAX_FRIENDS as i64 + 1 {
        let g = group_for_count(count);
        assert_eq!(groups[g], friends_group(&star, g), "count {count}");
        if g + 1 < GROUPS_PER_USER {
            assert_eq!(groups[g + 1], friends_group(&star, g + 1));
        }
    }
    assert_eq!(groups.len(), GROUPS_PER_USER);
}

#[test]
fn a_user_with_2500_friends_is_subscribed_to_every_group_holding_one() {
    let host = FakeHost::default();
    host.set_now(T0);
    host.add_user("star", "Star");
    let friends: Vec<String> = (0..2500).map(|i| format!("f{i:04}")).collect();
    for f in &friends {
        let r = befriend(&host, f, "star");
        assert!(r.rejected.is_none() && r.errors().next().is_none(), "{r:?}");
    }
    let mine = plan("star").groups;
    let holding: std::collections::BTreeSet<String> = host
        .groups()
        .into_iter()
        .filter(|(_, chans)| friends.iter().any(|f| chans.contains(&format!("status.{f}"))))
        .map(|(g, _)| g)
        .collect();
    assert_eq!(holding.len(), 2, "the primary group and the first overflow group: {holding:?}");
    assert!(holding.iter().all(|g| mine.contains(g)), "{holding:?} not all in {mine:?}");
    // Each friend's status reaches star through a planned group, and star's reaches each friend.
    for f in &friends {
        assert!(mine.iter().any(|g| host.group(g).contains(&format!("status.{f}"))), "{f}");
        assert!(plan(f).groups.iter().any(|g| host.group(g).contains("status.star")), "{f}");
    }
    host.assert_within_budget();
}

#[test]
fn with_the_friend_count_known_the_plan_lists_only_the_groups_in_use() {
    let star = UserId::parse("star").unwrap();
    let groups = |n: Option<u64>| SubscribePlan::for_user_with_friends(&star, DEFAULT_SHARD_COUNT, n).groups;
    assert_eq!(groups(Some(0)), [friends_group(&star, 0)]);
    assert_eq!(groups(Some(1999)).len(), 1, "under 2,000 friends: one group");
    assert_eq!(groups(Some(2000)).len(), 1);
    assert_eq!(groups(Some(2001)), [friends_group(&star, 0), friends_group(&star, 1)]);
    assert_eq!(groups(Some(MAX_FRIENDS as u64)).len(), GROUPS_PER_USER);
    assert_eq!(groups(Some(u64::MAX)).len(), GROUPS_PER_USER);
    assert_eq!(groups(None), plan("star").groups, "count unknown: every group, as before");
    // Compact groups: the friend count's group is always within the plan.
    for n in 1..=MAX_FRIENDS as u64 {
        assert!(group_for_count(n as i64) < groups(Some(n)).len(), "{n}");
    }
}
