//! Friend commands cut off by a crash and never re-sent are finished by the Functions
//! themselves (issue 20 part 8): the journal each opens is queued, the count-aggregator's sweep
//! hands it to a scanner once it is old enough, and the command's own Function runs the steps a
//! re-send would. Pairs end whole or absent, counts exact, the sender answered once.

use friends_presence::core::heal::{self, decide_journal, plan_sweep, HealCursor, JournalAction, HEAL_AFTER_MS};
use friends_presence::core::keys::parse_result_key;
use friends_presence::core::Config;
use friends_presence::handlers::count::count_aggregator;
use friends_presence::host::fake::{block_on, FakeHost};
use serde_json::Value;

use super::friends::{assert_exact, command, on_management, on_requests, outcome, recount, results, setup};
use super::{drain_fired, settle_run, T0};

/// One count-aggregator run (its heal sweep, its scanners, the heals they fire; above 1,000
/// shards its count round and the count worker that sweeps), then a settler run (the recounts
/// the heals queued).
fn periodic(host: &FakeHost, shard_count: u32) {
    let cfg = Config { shard_count, ..Config::default() };
    let exec = host.execution();
    let report = block_on(count_aggregator(&exec, &cfg, host.now()));
    assert!(report.errors().all(|e| e.contains("no count worker reported")), "{report:?}");
    drain_fired(host, &cfg);
    settle_run(host, &Config::default());
}

/// Runs the periodic Functions every 10 s for `ms`.
fn run_for(host: &FakeHost, ms: u64) {
    run_sized(host, ms, Config::default().shard_count);
}

fn run_sized(host: &FakeHost, ms: u64, shard_count: u32) {
    for _ in 0..ms / 10_000 {
        host.advance(10_000);
        periodic(host, shard_count);
    }
}

fn answers(host: &FakeHost, user: &str, id: &str) -> usize {
    host.published_on(&format!("inbox.{user}"))
        .iter()
        .filter(|m| m["type"] == "friend.command.result" && m["payload"]["eventId"] == id)
        .count()
}

#[test]
fn the_sweep_hands_out_only_references_older_than_the_heal_delay_in_scanner_batches() {
    // First run: what is queued now is seen now, and waits.
    let s = plan_sweep(None, 10, T0, heal::SCAN_FIRES);
    assert!(s.scans.is_empty());
    let c = s.cursor_after(0);
    assert_eq!(c, HealCursor { handed: 0, seen: 10, at: T0 });
    assert!(plan_sweep(Some(c), 12, T0 + HEAL_AFTER_MS - 1, heal::SCAN_FIRES).scans.is_empty(), "not old enough yet");
    let s = plan_sweep(Some(c), 12, T0 + HEAL_AFTER_MS, heal::SCAN_FIRES);
    assert_eq!(s.scans, vec![vec![1, 2, 3, 4], vec![5, 6, 7, 8], vec![9, 10]], "the 10 seen, not the 2 queued since");
    // A failed second fire: the cursor stops after the first scanner.
    assert_eq!(s.cursor_after(1), HealCursor { handed: 4, seen: 10, at: T0 });
    // All handed: what is queued now is seen now.
    let c = s.cursor_after(3);
    assert_eq!(c, HealCursor { handed: 10, seen: 12, at: T0 + HEAL_AFTER_MS });
    // A backlog is worked through SCAN_FIRES × JOURNALS_PER_SCAN at a time.
    let big = plan_sweep(Some(HealCursor { handed: 0, seen: 100, at: T0 }), 100, T0 + HEAL_AFTER_MS, heal::SCAN_FIRES);
    assert_eq!(big.scans.len(), heal::SCAN_FIRES);
    assert_eq!(big.cursor_after(heal::SCAN_FIRES).handed, (heal::SCAN_FIRES * heal::JOURNALS_PER_SCAN) as i64);
    assert_eq!(big.cursor_after(heal::SCAN_FIRES).seen, 100);
    // Idle: nothing queued since, the cursor stays (no KV write).
    let idle = HealCursor { handed: 12, seen: 12, at: T0 };
    assert_eq!(plan_sweep(Some(idle), 12, T0 + 3_600_000, 6).cursor_after(0), idle);
    // New references after an idle hour are seen now, and wait their 30 s.
    let s = plan_sweep(Some(idle), 15, T0 + 3_600_000, 6);
    assert!(s.scans.is_empty());
    assert_eq!(s.cursor_after(0), HealCursor { handed: 12, seen: 15, at: T0 + 3_600_000 });
    // A first run after a long pause looks back a bounded way.
    assert_eq!(plan_sweep(None, 5_000, T0, 6).cursor_after(0).handed, 5_000 - heal::FIRST_RUN_LOOKBACK);
}

#[test]
fn a_journal_under_way_is_finished_a_finished_friendship_change_recounted_anything_else_left() {
    use friends_presence::core::friends::CommandRecord;
    let (bob, e) = parse_result_key("cmd:bob:E").unwrap();
    assert_eq!(parse_result_key("cmd:b o b:E"), None);
    assert_eq!(decide_journal(&bob, e, None), JournalAction::Nothing, "stopped before its journal");
    let named = |done: bool, kind: &'static str, reason: Option<&'static str>| CommandRecord {
        done,
        reason,
        at: T0,
        kind: Some(kind),
        a: Some("alice".into()),
        b: Some("bob".into()),
        sum: Some(1),
        ..Default::default()
    };
    match decide_journal(&bob, e, Some(&named(false, "friend.request.accepted", None))) {
        JournalAction::Finish(cmd) => assert_eq!((cmd.user_a.as_str(), cmd.user_b.as_str(), cmd.event_id.as_str()), ("alice", "bob", "E")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        decide_journal(&bob, e, Some(&named(true, "friend.request.accepted", None))),
        JournalAction::Recount(["alice".into(), "bob".into()])
    );
    assert_eq!(decide_journal(&bob, e, Some(&named(true, "friend.request.accepted", Some("limit")))), JournalAction::Nothing);
    assert_eq!(decide_journal(&bob, e, Some(&named(true, "friend.request.declined", None))), JournalAction::Nothing);
    // The record must be the sender's own command: alice's removal under bob's key is not.
    assert_eq!(decide_journal(&bob, e, Some(&named(false, "friend.remove", None))), JournalAction::Nothing);
    // Older records (no command named) are left to their clients.
    assert_eq!(decide_journal(&bob, e, Some(&CommandRecord::under_way(T0))), JournalAction::Nothing);
}

/// Every crash point of an acceptance, a removal and a block, never re-sent: after the sweep,
/// each pair is whole (the journal was written) or absent (it was not), every count exact, and
/// every command that wrote its journal answered exactly once.
#[test]
fn commands_cut_off_at_every_step_and_never_re_sent_are_healed_within_the_bound() {
    every_crash_point_healed(Config::default().shard_count);
}

/// The same at production sizing: above 1,000 shards the count is a round, which leaves the
/// aggregator no KV for the sweep; a count worker (`heal.sweep` on `count-work.heal`) sweeps.
#[test]
fn commands_cut_off_and_never_re_sent_are_healed_at_production_sizing_too() {
    every_crash_point_healed(5_000);
}

fn every_crash_point_healed(shard_count: u32) {
    let crash_points = |run: &dyn Fn(&FakeHost)| {
        // The number of host calls the command makes uninterrupted.
        let host = setup();
        let before = host.calls().len();
        run(&host);
        host.calls().len() - before
    };
    type Step = fn(&FakeHost);
    let cases: [(&str, Step, Step, &str, bool); 3] = [
        (
            "accept",
            |h| {
                on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
            },
            |h| {
                on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "E"));
            },
            "bob",
            true,
        ),
        (
            "remove",
            |h| {
                on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
                on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
                recount(h);
            },
            |h| {
                on_management(h, "alice", command("friend.remove", "alice", "bob", "E"));
            },
            "alice",
            false,
        ),
        (
            "block",
            |h| {
                on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
                on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
                recount(h);
            },
            |h| {
                on_management(h, "alice", command("friend.block", "alice", "bob", "E"));
            },
            "alice",
            false,
        ),
    ];
    let mut healed = 0;
    for (name, prepare, cut, sender, makes) in cases {
        let total = crash_points(&|h| {
            prepare(h);
            cut(h);
        });
        let setup_calls = {
            let h = setup();
            prepare(&h);
            h.calls().len()
        };
        let steps = total - setup_calls;
        for n in 1..steps as u32 {
            let host = setup();
            prepare(&host);
            host.take_fired();
            host.crash_after(n);
            cut(&host);
            host.take_fired(); // what the cut-off execution fired before it died is lost too
            let journal: Option<Value> = host.kv_value(&format!("cmd:{sender}:E"));
            if journal.as_ref().is_some_and(|j| j["done"] == true) {
                // Cut off between its result and the answer: done, and a re-send is answered.
                continue;
            }
            // No client: only the periodic Functions run, for the bound the README states.
            run_sized(&host, 2 * 60_000, shard_count);
            let friends = host.members("friends.alice").contains_key("bob");
            match &journal {
                Some(_) => {
                    healed += 1;
                    assert_eq!(friends, makes, "{name} @{n}: the command was finished");
                    assert_eq!(answers(&host, sender, "E"), 1, "{name} @{n}: answered once, by the heal");
                    assert_eq!(outcome(&host, sender, "E"), Some(Ok(())), "{name} @{n}");
                    assert_eq!(host.kv_value(&format!("cmd:{sender}:E")).unwrap()["done"], true);
                }
                None => assert_eq!(friends, !makes, "{name} @{n}: nothing was decided, nothing changed"),
            }
            assert_exact(&host, &["alice", "bob"]);
            host.assert_within_budget();
        }
    }
    assert!(healed >= 10, "journals healed: {healed}");
}

#[test]
fn a_heal_message_from_a_client_only_finishes_the_clients_own_journal() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    host.crash_after(9);
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
    host.take_fired();
    assert_eq!(host.kv_value("cmd:bob:E").unwrap()["done"], false, "cut off after its plan");
    // Alice publishes a heal of bob's journal on her own channel: her key space, nothing there.
    let state = host.snapshot_without_answers();
    let told = host.published().len();
    let exec = host.execution();
    let heal = super::json(serde_json::json!({"type": "friend.heal", "eventId": "E"}));
    block_on(friends_presence::handlers::friends::friend_requests(
        &exec,
        &Config::default(),
        "friend-requests.alice",
        Some("alice"),
        &heal,
        host.now(),
    ));
    assert_eq!(host.snapshot_without_answers(), state);
    assert_eq!(host.published().len(), told, "a heal is not a command: no answer");
    // Bob's own heal finishes it (as a re-send would).
    let exec = host.execution();
    block_on(friends_presence::handlers::friends::friend_requests(
        &exec,
        &Config::default(),
        "friend-requests.bob",
        Some("bob"),
        &heal,
        host.now(),
    ));
    assert_eq!(outcome(&host, "bob", "E"), Some(Ok(())));
    run_for(&host, 60_000);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

#[test]
fn counts_converge_after_every_recount_of_a_change_was_lost() {
    let host = setup();
    on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
    on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
    // The recount the acceptance fired is lost (a host fault on the recount worker and on its
    // re-queue): friendCount stays 0 with one friend.
    host.take_fired();
    assert_eq!(host.user_custom("alice").unwrap().get("friendCount").and_then(Value::as_u64).unwrap_or(0), 0);
    run_for(&host, 2 * 60_000);
    assert_exact(&host, &["alice", "bob"]);
    host.assert_within_budget();
}

/// 20,000 shards (a million online at ~50 a shard): an acceptance and a removal each cut off
/// with their journal under way, never re-sent, are finished by the Functions while the count
/// rounds go on; the count stays exact and every execution within its budget.
#[test]
fn at_production_sizing_cut_off_commands_are_finished_and_the_count_stays_exact() {
    const SHARDS: u32 = 20_000;
    type Step = fn(&FakeHost);
    let accept: (Step, Step, &str, &str, bool) = (
        |h| {
            on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
        },
        |h| {
            on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "E"));
        },
        "bob",
        "E",
        true,
    );
    let remove: (Step, Step, &str, &str, bool) = (
        |h| {
            on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
            on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
            recount(h);
        },
        |h| {
            on_management(h, "alice", command("friend.remove", "alice", "bob", "R"));
        },
        "alice",
        "R",
        false,
    );
    for (prepare, cut, sender, id, makes) in [accept, remove] {
        // The first crash point that leaves the command's journal under way.
        let (host, online) = (1..40)
            .find_map(|n| {
                let host = setup();
                let mut online = 0u64;
                for shard in (0..SHARDS).step_by(997) {
                    for u in 0..3 {
                        host.set_present(&format!("presence.shard-{shard}"), &format!("s{shard}u{u}"), true);
                        online += 1;
                    }
                }
                prepare(&host);
                host.take_fired();
                host.crash_after(n);
                cut(&host);
                host.take_fired();
                host.kv_value(&format!("cmd:{sender}:{id}")).is_some_and(|j: Value| j["done"] == false).then_some((host, online))
            })
            .expect("a crash point leaves the command under way");
        run_sized(&host, 2 * 60_000, SHARDS);
        assert_eq!(host.members("friends.alice").contains_key("bob"), makes, "{id}: the command was finished");
        assert_eq!(answers(&host, sender, id), 1, "{id}: answered once, by the heal");
        assert_eq!(outcome(&host, sender, id), Some(Ok(())));
        assert_exact(&host, &["alice", "bob"]);
        let last = host.published_on("status.global").last().cloned().expect("counts published");
        assert_eq!(last["payload"]["onlineCount"], online, "{id}");
        assert_eq!(last["payload"]["shardsCounted"], SHARDS);
        let max = host.max_ops();
        assert!(max.api <= 10 && max.publish <= 10 && max.kv <= 10, "{max:?}");
        host.assert_within_budget();
    }
}

/// A backlog at round sizing: more journals than one count worker's sweep may scan (3: its
/// 10 KV) are worked through in order over the following runs, each execution within budget.
#[test]
fn a_backlog_at_round_sizing_is_healed_three_journals_a_run_within_budget() {
    let host = setup();
    const PAIRS: usize = 8;
    for i in 0..PAIRS {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        host.add_user(&a, &a);
        host.add_user(&b, &b);
        on_requests(&host, &a, command("friend.request", &a, &b, "r1"));
        host.crash_after(9);
        on_requests(&host, &b, command("friend.request.accepted", &a, &b, "E"));
        host.take_fired();
        assert_eq!(host.kv_value(&format!("cmd:{b}:E")).unwrap()["done"], false, "cut off after its plan");
    }
    run_sized(&host, 2 * 60_000, 5_000);
    for i in 0..PAIRS {
        let (a, b) = (format!("a{i}"), format!("b{i}"));
        assert!(host.members(&format!("friends.{a}")).contains_key(&b), "pair {i} finished");
        assert_eq!(answers(&host, &b, "E"), 1, "pair {i} answered once");
        assert_exact(&host, &[&a, &b]);
    }
    let sweeps: Vec<u32> = host.calls().iter().filter(|c| c.op == "fire" && c.target == "count-work.heal").map(|c| c.execution).collect();
    assert!(sweeps.len() >= 12, "one sweep fired per round: {}", sweeps.len());
    host.assert_within_budget();
}

/// A request opens no journal (issue 20 part 8): cut off at every step and never re-sent, it
/// leaves nothing (absent) or a KV request, and never a listing or a notice without the KV
/// request behind it (the request is written first, then listed and told together). A KV
/// request left unlisted or untold is harmless: B can still accept it (or decline it), it
/// expires, and A asking again is refused `already_pending` and lists it and tells B then.
#[test]
fn a_request_cut_off_at_every_step_leaves_nothing_or_a_request_that_can_be_accepted() {
    let steps = {
        let h = setup();
        let before = h.calls().len();
        on_requests(&h, "alice", command("friend.request", "alice", "bob", "E"));
        h.calls().len() - before
    };
    let received = |h: &FakeHost| h.published_on("inbox.bob").iter().filter(|m| m["type"] == "friend.request.received").count();
    let (mut absent, mut unlisted, mut whole) = (0, 0, 0);
    for n in 1..steps as u32 {
        let host = setup();
        host.crash_after(n);
        on_requests(&host, "alice", command("friend.request", "alice", "bob", "E"));
        host.take_fired();
        run_for(&host, 2 * 60_000); // no client: only the periodic Functions run
        let stored = host.kv_value("friend-request:alice:bob").is_some();
        let listed = host.members("requests-in.bob").contains_key("alice");
        let told = received(&host);
        assert!(stored || (!listed && told == 0), "@{n}: a listing or a notice without the request");
        assert_exact(&host, &["alice", "bob"]);
        if !stored {
            absent += 1;
            // Nothing was decided: asking again is a fresh request.
            on_requests(&host, "alice", command("friend.request", "alice", "bob", "E2"));
            assert_eq!(outcome(&host, "alice", "E2"), Some(Ok(())), "@{n}");
            continue;
        }
        if !listed || told == 0 {
            unlisted += 1;
            // A asks again: refused as pending, and the request is listed and B told now.
            on_requests(&host, "alice", command("friend.request", "alice", "bob", "E2"));
            assert_eq!(
                results(&host, "alice", "E2").last().unwrap()["payload"]["reason"],
                "already_pending",
                "@{n}: the first request stands"
            );
            assert!(host.members("requests-in.bob").contains_key("alice"), "@{n}: listed once asked again");
            assert!(received(&host) >= 1, "@{n}: B told once asked again");
        } else {
            whole += 1;
        }
        // Whatever was left, B can accept it: the pair is whole, counts exact.
        on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "A"));
        assert_eq!(outcome(&host, "bob", "A"), Some(Ok(())), "@{n}");
        recount(&host);
        assert!(host.members("friends.alice").contains_key("bob") && host.members("friends.bob").contains_key("alice"));
        assert!(!host.members("requests-in.bob").contains_key("alice"), "@{n}: unlisted by the acceptance");
        assert_exact(&host, &["alice", "bob"]);
        host.assert_within_budget();
    }
    assert!(absent > 0 && unlisted > 0 && whole > 0, "crash points: {absent} absent, {unlisted} unlisted or untold, {whole} whole");
}

/// Cut off after its record says done and before its answer went out: the command is complete
/// (pair whole, counts exact once the periodic Functions ran) and nothing is left to heal; the
/// answer is not re-published by the scanners (a done record does not say whether its answer
/// went out, so they would answer every command twice), and a client that comes back with
/// the same eventId is answered from the record, nothing run again.
#[test]
fn a_command_cut_off_between_its_done_record_and_its_answer_is_complete_and_answered_on_a_re_send() {
    type Case = (&'static str, fn(&FakeHost), fn(&FakeHost), &'static str, bool);
    let cases: [Case; 2] = [
        (
            "accept",
            |h| {
                on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
            },
            |h| {
                on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "E"));
            },
            "bob",
            true,
        ),
        (
            "remove",
            |h| {
                on_requests(h, "alice", command("friend.request", "alice", "bob", "r1"));
                on_requests(h, "bob", command("friend.request.accepted", "alice", "bob", "a1"));
                recount(h);
            },
            |h| {
                on_management(h, "alice", command("friend.remove", "alice", "bob", "E"));
            },
            "alice",
            false,
        ),
    ];
    for (name, prepare, cut, sender, makes) in cases {
        let host = setup();
        prepare(&host);
        let whole = setup();
        prepare(&whole);
        let w0 = whole.calls().len();
        cut(&whole);
        // The last call of an uninterrupted run is the answer: crash just before it.
        let n = (whole.calls().len() - w0 - 1) as u32;
        host.take_fired();
        host.crash_after(n);
        cut(&host);
        assert_eq!(host.kv_value(&format!("cmd:{sender}:E")).unwrap()["done"], true, "{name}: recorded done");
        assert_eq!(answers(&host, sender, "E"), 0, "{name}: not answered");
        run_for(&host, 2 * 60_000);
        assert_eq!(host.members("friends.alice").contains_key("bob"), makes, "{name}");
        assert_eq!(host.members("friends.bob").contains_key("alice"), makes, "{name}");
        assert_exact(&host, &["alice", "bob"]);
        assert_eq!(answers(&host, sender, "E"), 0, "{name}: the scanners do not answer");
        let state = host.snapshot_without_answers();
        if sender == "bob" {
            on_requests(&host, "bob", command("friend.request.accepted", "alice", "bob", "E"));
        } else {
            on_management(&host, "alice", command("friend.remove", "alice", "bob", "E"));
        }
        assert_eq!(answers(&host, sender, "E"), 1, "{name}: the re-send is answered");
        assert_eq!(outcome(&host, sender, "E"), Some(Ok(())), "{name}");
        assert_eq!(host.snapshot_without_answers(), state, "{name}: nothing run again");
        host.assert_within_budget();
    }
}

/// A request found pending when A asks again is listed and told again, unless B has blocked
/// A since (a block cut off after its block write, before it took the requests away): B is not
/// told of a request from a user B blocked.
#[test]
fn a_request_asked_again_is_not_told_to_a_user_who_blocked_the_requester_meanwhile() {
    let received = |h: &FakeHost| h.published_on("inbox.bob").iter().filter(|m| m["type"] == "friend.request.received").count();
    let mut seen = false;
    for n in 1..20 {
        let host = setup();
        on_requests(&host, "alice", command("friend.request", "alice", "bob", "r1"));
        host.crash_after(n);
        on_management(&host, "bob", command("friend.block", "bob", "alice", "B"));
        host.take_fired();
        let blocked = host.members("blocked.bob").contains_key("alice");
        if !blocked || host.kv_value("friend-request:alice:bob").is_none() {
            continue;
        }
        seen = true;
        let (told, listed) = (received(&host), host.members("requests-in.bob").contains_key("alice"));
        on_requests(&host, "alice", command("friend.request", "alice", "bob", "r2"));
        assert_eq!(results(&host, "alice", "r2").last().unwrap()["payload"]["reason"], "already_pending", "@{n}");
        assert_eq!(received(&host), told, "@{n}: bob is not told again");
        assert_eq!(host.members("requests-in.bob").contains_key("alice"), listed, "@{n}: nor listed again");
    }
    assert!(seen, "a block cut off between its block write and the requests' removal");
}
