//! The client commands (`domain::contract`): what a builder makes is what the friend Functions
//! accept, from the user who must send it, on that user's channel.

use friends_presence::core::friends::{parse_command, Binding, CommandKind, SyncCursor};
use friends_presence::core::records::SyncPart;
use friends_presence::domain::contract::{self, command_event_id};
use friends_presence::domain::json::to_text;
use friends_presence::domain::{Json, UserId};

use super::T0;

fn id(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

/// The command as it arrives: JSON text → `Json`, the binding its channel is bound to, and
/// the publisher (the user the channel belongs to).
fn deliver(cmd: &contract::ClientCommand) -> Result<friends_presence::core::friends::Command, String> {
    let binding = if cmd.channel.starts_with("friend-requests.") { Binding::FriendRequests } else { Binding::FriendManagement };
    let publisher = cmd.channel.split_once('.').unwrap().1;
    let message = Json::parse(&to_text(&cmd.message).unwrap()).unwrap();
    parse_command(binding, &cmd.channel, Some(publisher), &message).map_err(|r| r.why.0)
}

#[test]
fn every_command_built_is_accepted_as_that_command_from_the_user_who_must_send_it() {
    let (alice, bob) = (id("alice"), id("bob"));
    let cases = [
        (CommandKind::Request, "friend-requests.alice", "friend.request"),
        (CommandKind::Accept, "friend-requests.bob", "friend.request.accepted"),
        (CommandKind::Decline, "friend-requests.bob", "friend.request.declined"),
        (CommandKind::Remove, "friend-management.alice", "friend.remove"),
    ];
    for (kind, channel, name) in cases {
        let event_id = command_event_id(kind, T0, "7").unwrap();
        let cmd = contract::command(kind, &alice, &bob, None, event_id.clone(), T0);
        assert_eq!(cmd.channel, channel);
        assert_eq!(cmd.message.kind, name);
        assert_eq!(CommandKind::from_name(name), Some(kind));
        let got = deliver(&cmd).unwrap();
        assert_eq!((got.kind, got.user_a.as_str(), got.user_b.as_str()), (kind, "alice", "bob"));
        assert_eq!(got.event_id, event_id);
    }
}

#[test]
fn a_sync_request_carries_its_cursor_or_null() {
    let me = id("alice");
    let first = contract::command(CommandKind::Sync, &me, &me, None, "s1".into(), T0);
    assert_eq!(first.channel, "friend-management.alice");
    let text = to_text(&first.message).unwrap();
    assert!(text.contains(r#""payload":{"userA":"alice","page":null}"#), "{text}");
    assert_eq!(deliver(&first).unwrap().page, None);
    let next = contract::command(CommandKind::Sync, &me, &me, Some("3+rd7:tok"), "s2".into(), T0);
    let part = SyncPart { group: 3, through: true, online: false, desc: true };
    assert_eq!(deliver(&next).unwrap().page, Some(SyncCursor { part, seq: 7, token: Some("tok".into()) }));
}

#[test]
fn command_event_ids_are_unique_per_nonce_and_always_acceptable() {
    let a = command_event_id(CommandKind::Accept, T0, "1").unwrap();
    assert_eq!(a, format!("friend-request-accepted-{T0}-1"));
    assert_ne!(command_event_id(CommandKind::Accept, T0, "2").unwrap(), a);
    assert_eq!(command_event_id(CommandKind::Request, T0, "a:b"), None, "':' separates KV key parts");
    assert_eq!(command_event_id(CommandKind::Request, T0, ""), None);
    assert_eq!(command_event_id(CommandKind::Request, T0, &"n".repeat(100)), None, "over 128 bytes");
    // The longest user id (74 UTF-16 units, 3 bytes each in UTF-8) does not lengthen the id.
    let long = id(&"é".repeat(74));
    let cmd =
        contract::command(CommandKind::Request, &long, &id("bob"), None, command_event_id(CommandKind::Request, T0, "9").unwrap(), T0);
    assert!(deliver(&cmd).is_ok());
}
