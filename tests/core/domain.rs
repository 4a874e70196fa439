use friends_presence::domain::channels::{
    friends, friends_group, inbox, parse_presence_shard, presence_shard, status, GROUPS_PER_USER, MANAGEMENT_PREFIX, MAX_CHANNEL_CHARS,
    REQUESTS_PREFIX,
};
use friends_presence::domain::ids::{InvalidUserId, MAX_USER_ID_CHARS};
use friends_presence::domain::time::{iso8601, parse_iso8601};
use friends_presence::domain::{js_hash_code, shard_of, UserId};

// Expected values computed with the seed's JavaScript `hashCode` in Node 20.
#[test]
fn shard_hash_matches_the_seed_javascript() {
    let cases: [(&str, i32, u32, u32); 7] = [
        ("user_abc123", -682485372, 72, 2),
        ("alice", 92903040, 40, 6),
        ("Ünïcødé-用户", -1041046203, 3, 1),
        ("😀emoji", -1233692477, 77, 3),
        // hashCode == -2147483648: JS Math.abs gives 2147483648, not a wrapped negative.
        ("polygenelubricants", i32::MIN, 48, 2),
        ("", 0, 0, 0),
        ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -1142008384, 84, 6),
    ];
    for (id, hash, shard100, shard7) in cases {
        assert_eq!(js_hash_code(id), hash, "{id}");
        assert_eq!(shard_of(id, 100), shard100, "{id}");
        assert_eq!(shard_of(id, 7), shard7, "{id}");
    }
}

#[test]
fn user_ids_are_validated() {
    for ok in ["user_abc123", "a", "Ünïcødé-用户", "x-y-z_1", &"a".repeat(74)] {
        assert!(UserId::parse(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "x.y", "a,b", "a:b", "a*", "a/b", "a\\b", "a b", "tab\there", "nul\0", "\u{7f}", &"a".repeat(75)] {
        assert!(UserId::parse(bad).is_err(), "{bad:?}");
    }
    // 74 characters as JS counts them: an astral character is two.
    assert!(UserId::parse(&"😀".repeat(37)).is_ok());
    assert!(UserId::parse(&"😀".repeat(38)).is_err());
}

#[test]
fn the_longest_user_id_keeps_every_derived_name_within_the_channel_limit() {
    assert_eq!(MAX_USER_ID_CHARS, 74, "92 minus friend-management.");
    let longest = UserId::parse(&"a".repeat(MAX_USER_ID_CHARS)).unwrap();
    let mut names = vec![status(&longest), inbox(&longest), friends(&longest)];
    names.extend([REQUESTS_PREFIX, MANAGEMENT_PREFIX].map(|p| format!("{p}{}", longest.as_str())));
    names.extend((0..GROUPS_PER_USER).map(|i| friends_group(&longest, i)));
    assert!(names.iter().all(|n| n.len() <= MAX_CHANNEL_CHARS), "{names:?}");
    assert!(names.iter().any(|n| n.len() == MAX_CHANNEL_CHARS), "the cap is the largest that fits");
    // The 92 of old gave a 99-character status channel; the reason says why the cap is lower.
    assert_eq!(UserId::parse(&"a".repeat(MAX_USER_ID_CHARS + 1)), Err(InvalidUserId::TooLong));
    let reason = InvalidUserId::TooLong.reason();
    assert!(reason.contains(&format!(" {MAX_USER_ID_CHARS} ")), "{reason}");
}

#[test]
fn ids_an_app_already_has_are_accepted_and_their_groups_never_collide() {
    // Trailing `-N`, `_`, non-ASCII, UUIDs, the 74-character cap: all ordinary app ids.
    let uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301";
    let ids = [
        "bob",
        "bob-1",
        "bob-9",
        "bob-10",
        "player-3",
        "Zoë-7",
        "user_0001",
        "a-0",
        "1",
        "1-bob",
        "-1",
        "x-10-5",
        uuid,
        "名前-2",
        "global2",
        "Global",
    ];
    let mut parsed: Vec<UserId> = ids.iter().map(|s| UserId::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e:?}"))).collect();
    parsed.push(UserId::parse(&"9".repeat(MAX_USER_ID_CHARS)).unwrap());
    // Every group of every id is distinct from every group of every other id: `bob-1`'s
    // friends never reach `bob`, and `bob`'s overflow friends never reach `bob-1`.
    let mut all = std::collections::BTreeMap::new();
    for u in &parsed {
        for i in 0..GROUPS_PER_USER {
            let name = friends_group(u, i);
            assert!(name.chars().count() <= MAX_CHANNEL_CHARS, "{name}");
            if let Some(other) = all.insert(name.clone(), (u.clone(), i)) {
                panic!("{name} is group {i} of {u:?} and group {} of {:?}", other.1, other.0);
            }
        }
    }
}

#[test]
fn ids_that_would_name_a_reserved_or_another_users_stream_are_refused_in_their_own_terms() {
    // `{channel}-pnpres` is PubNub's presence stream of `{channel}`: `inbox.alice-pnpres`
    // would show alice's inbox presence to whoever signs in as `alice-pnpres`.
    for bad in ["alice-pnpres", "user-0040-pnpres", "x-PNPRES", "-pnpres"] {
        assert_eq!(UserId::parse(bad), Err(InvalidUserId::PresenceSuffix), "{bad:?}");
    }
    for ok in ["pnpres", "alice-pnpres2", "alice_pnpres", "alice-pnpre"] {
        assert!(UserId::parse(ok).is_ok(), "{ok:?}");
    }
    // `.` separates the segments a Function binding matches: `friend-requests.a.b` is not the
    // command channel of one user.
    for bad in ["alice.smith", "a.", ".b", "a,b", "a:b", "a*", "a/b", "a\\b", "a b"] {
        assert_eq!(UserId::parse(bad), Err(InvalidUserId::ForbiddenChar), "{bad:?}");
    }
    assert_eq!(UserId::parse("a\u{0}b"), Err(InvalidUserId::NonPrintable));
    // `status.global` is the count channel: a user named global would publish onto it.
    assert_eq!(UserId::parse("global"), Err(InvalidUserId::Reserved));
    // Reasons speak of the id, not of internal channel or group names.
    for e in [
        InvalidUserId::Empty,
        InvalidUserId::TooLong,
        InvalidUserId::ForbiddenChar,
        InvalidUserId::NonPrintable,
        InvalidUserId::PresenceSuffix,
        InvalidUserId::Reserved,
    ] {
        let reason = e.reason();
        assert!(reason.starts_with("user id "), "{reason}");
        assert!(!reason.contains("cg-") && !reason.contains('{') && !reason.contains("friend-"), "{reason}");
    }
}

#[test]
fn channel_names_follow_the_contract() {
    let u = UserId::parse("bob").unwrap();
    assert_eq!(friends_group(&u, 0), "cg-friends-bob");
    assert_eq!(friends_group(&u, 3), "cg-friends3-bob");
    assert_eq!(presence_shard(42), "presence.shard-42");
    assert_eq!(parse_presence_shard("presence.shard-42"), Some(42));
    assert_eq!(parse_presence_shard("presence.shard-42-pnpres"), Some(42));
    assert_eq!(parse_presence_shard("presence.lobby"), None);
    assert_eq!(parse_presence_shard("presence.shard-"), None);
}

#[test]
fn timestamps_round_trip() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(iso8601(1_706_698_523_000), "2024-01-31T10:55:23.000Z");
    assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    for ms in [0, 1, 951_782_400_123, 1_767_225_600_000, 4_102_444_799_999] {
        assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
    }
    assert_eq!(parse_iso8601("2026-13-01T00:00:00Z"), None);
    assert_eq!(parse_iso8601("yesterday"), None);
}

// The wasm build's own JSON text codec (no serde_json, no float code in the bundles);
// serde_json is the reference it is checked against.
#[test]
fn json_text_round_trips_and_agrees_with_serde_json() {
    use friends_presence::domain::Json;
    let samples = [
        r#"{"a":1,"b":[true,false,null],"c":{"d":"x\"y\\z\n\u0001é😀"},"e":-42,"f":4.75,"g":1.5e-7,"h":12345678901234567890}"#,
        r#"[]"#,
        r#"{}"#,
        r#""\ud83d\ude00 \u00e9 \/""#,
        r#"9007199254740992"#,
        r#"  [ 1 , { "k" : [ ] } ]  "#,
    ];
    for text in samples {
        let ours = Json::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let written = ours.to_text();
        // Same value as serde_json sees it, and a fixed point of parse ∘ write.
        let a: serde_json::Value = serde_json::from_str(text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(a, b, "{text} -> {written}");
        assert_eq!(Json::parse(&written).unwrap(), ours, "{written}");
    }
    // Numbers this system does not read keep their exact text.
    assert_eq!(Json::parse("12345678901234567890").unwrap(), Json::Raw("12345678901234567890".into()));
    assert_eq!(Json::parse("4.75").unwrap().to_text(), "4.75");
    assert_eq!(Json::parse("-17").unwrap(), Json::Num(-17.0));
    // As JSON.stringify does.
    assert_eq!(Json::parse("-0").unwrap().to_text(), "0");
}

#[test]
fn malformed_json_text_is_an_error_with_a_reason_never_a_panic() {
    use friends_presence::domain::Json;
    let bad = [
        "",
        " ",
        "{",
        "[1,",
        "[1 2]",
        "{\"a\" 1}",
        "{a:1}",
        "01",
        "1.",
        "1e",
        "-",
        "+1",
        ".5",
        "tru",
        "nul",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\\u0041\"",
        "\"a\u{1}b\"",
        "[1]]",
        "{\"a\":1,}",
        "[,1]",
        "NaN",
        "Infinity",
    ];
    for text in bad {
        assert!(Json::parse(text).is_err(), "{text:?} should be rejected");
    }
    // Nesting past MAX_DEPTH is read without recursion and kept as text: no trap, however deep,
    // and the value says so; broken nesting is still refused.
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let parsed = Json::parse(&deep).expect("deep but well formed");
    assert!(parsed.nested_too_deep());
    assert_eq!(parsed.to_text(), deep, "kept as its text");
    let deep_obj = format!("{{\"k\":{}\"a]}}\"{}}}", "{\"x\":[".repeat(100), "]}".repeat(100));
    let parsed = Json::parse(&deep_obj).expect("brackets inside strings are text");
    assert!(parsed.nested_too_deep());
    assert_eq!(parsed.to_text(), deep_obj);
    for broken in ["[".repeat(64), "[".repeat(70) + &"}".repeat(70), "[".repeat(70) + "\"" + &"]".repeat(70)] {
        assert!(Json::parse(&broken).is_err(), "{broken}");
    }
    // The limit: 65 levels of arrays are values; the 66th is text.
    let at = |n: usize| Json::parse(&("[".repeat(n) + &"]".repeat(n))).unwrap().nested_too_deep();
    assert!(!at(65));
    assert!(at(66));
    assert!(!Json::parse("[1.5e300, 12345678901234567890]").unwrap().nested_too_deep(), "raw numbers are not nesting");
}

#[test]
fn typed_values_serialize_to_the_same_json_as_serde_json() {
    use friends_presence::core::presence::Observation;
    use friends_presence::core::settle::SettleChunk;
    use friends_presence::domain::json::{to_text, FromJson};
    use friends_presence::domain::messages::{Envelope, FriendOnline, StatusPayload, UserIdWire};
    use friends_presence::domain::Json;
    let msg = Envelope::new(
        "friend.online",
        "evt_online_a_1".into(),
        "2026-01-01T00:00:00.000Z".into(),
        StatusPayload::Online(FriendOnline {
            user_id: UserIdWire("a\"b".into()),
            name: Some("Ä".into()),
            profile_url: None,
            status_message: None,
            version: Some(7),
        }),
    );
    let ours: serde_json::Value = serde_json::from_str(&to_text(&msg).unwrap()).unwrap();
    assert_eq!(ours, serde_json::to_value(&msg).unwrap());
    let chunk = SettleChunk {
        entries: vec![Observation { user: "u1".into(), online: true, at_ms: 1_767_225_600_000, reconciled: true, republish: Some(3) }],
    };
    let text = to_text(&chunk).unwrap();
    assert_eq!(SettleChunk::from_json(&Json::parse(&text).unwrap()).unwrap(), chunk);
    // Queue values round-trip: a shard scan (ids, cursor, due time) and a recount job.
    use friends_presence::core::reconcile::ScanState;
    use friends_presence::core::settle::{Cursor, Recount};
    let scan = ScanState { shard: 7, after: Some("ü-\"q".into()), page: Some("tok".into()), due_ms: Some(1_767_225_602_500) };
    assert_eq!(ScanState::from_json(&Json::parse(&to_text(&scan).unwrap()).unwrap()).unwrap(), scan);
    assert_eq!(ScanState::from_json(&Json::parse(r#"{"s":3}"#).unwrap()).unwrap(), ScanState::shard(3));
    assert!(ScanState::from_json(&Json::parse(r#"{"s":3,"a":"a b"}"#).unwrap()).is_err(), "a forged id is refused");
    let cursor = Cursor { done: 9, partial: 2, scans: 4, recounts: 11, heal: None };
    assert_eq!(Cursor::from_json(&Json::parse(&to_text(&cursor).unwrap()).unwrap()).unwrap(), cursor);
    let recount = Recount { users: vec!["u2".into()] };
    assert_eq!(Recount::from_json(&Json::parse(&to_text(&recount).unwrap()).unwrap()).unwrap(), recount);
    // A queue entry naming an invalid user is refused when read back.
    let forged = Json::parse(r#"{"e":[{"u":"a b","o":true,"t":1}]}"#).unwrap();
    assert!(SettleChunk::from_json(&forged).is_err());
    // Fractions are refused by the writer rather than silently rounded.
    assert!(to_text(&1.5f64).is_err());
}
