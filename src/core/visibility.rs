//! What friends may see of a user's presence: a user who chose to be invisible
//! (`user.settings {invisible: true}`, App Context `custom.invisible`) is offline to friends
//! whatever presence says, while staying connected. Kept apart from `presence.rs` so that the
//! presence decisions take it with one call.

#[allow(unused_imports)]
use crate::prelude::*;

use super::presence::Observation;
use super::records::UserRecord;

/// Whether App Context says `user` is invisible.
pub fn is_invisible(user: Option<&UserRecord>) -> bool {
    user.is_some_and(|u| u.custom.bool("invisible") == Some(true))
}

/// `obs` as friends may see it: offline while the user is invisible. An invisible user who
/// connects, reconnects or is found present by a reconciliation is therefore "unchanged"
/// (friends already see them offline), and one who went invisible while online but whose
/// offline was never announced is announced offline.
pub fn seen_by_friends(obs: &Observation, user: Option<&UserRecord>) -> Observation {
    let mut seen = obs.clone();
    if is_invisible(user) {
        seen.online = false;
    }
    seen
}
