use friends_presence::domain::channels::{friends_group, parse_presence_shard, presence_shard};
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
    for ok in ["user_abc123", "a", "Ünïcødé-用户", "x.y-z_1", &"a".repeat(92)] {
        assert!(UserId::parse(ok).is_ok(), "{ok:?}");
    }
    for bad in ["", "a,b", "a:b", "a*", "a/b", "a\\b", "a b", "tab\there", "nul\0", "\u{7f}", &"a".repeat(93)] {
        assert!(UserId::parse(bad).is_err(), "{bad:?}");
    }
    // 92 characters as JS counts them: an astral character is two.
    assert!(UserId::parse(&"😀".repeat(46)).is_ok());
    assert!(UserId::parse(&"😀".repeat(47)).is_err());
}

#[test]
fn channel_names_follow_the_contract() {
    let u = UserId::parse("bob").unwrap();
    assert_eq!(friends_group(&u, 0), "cg-friends-bob");
    assert_eq!(friends_group(&u, 3), "cg-friends-bob-3");
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
