//! The step protocol (`host::step`) natively: what a step asks for, how outcomes come back,
//! and how an execution ends whatever the runtime answers.

use friends_presence::domain::Json;
use friends_presence::handlers::entry;
use friends_presence::handlers::Report;
use friends_presence::host::step::{outcomes, Execution, Step};
use friends_presence::host::{HostError, KvStore, OpKind, PubNub};

fn calls_text(step: &Step) -> String {
    step.to_text(7)
}

#[test]
fn a_host_call_suspends_the_handler_until_its_outcome_arrives() {
    let mut e = Execution::new(|h| async move {
        let mut r = Report::new("t");
        let n = h.incr_counter("c", -2).await.unwrap();
        let v: Option<Json> = h.get("k").await.unwrap();
        r.info(if n == 3 && v == Some(Json::str("x")) { "read" } else { "wrong" });
        r
    });
    let first = e.resume(Vec::new());
    assert_eq!(calls_text(&first), r#"{"id":7,"calls":[["kvstore.incrCounter",["c",-2]]]}"#);
    let second = e.resume_text(r#"[{"ok":3}]"#);
    assert_eq!(calls_text(&second), r#"{"id":7,"calls":[["kvstore.get",["k"]]]}"#);
    match e.resume_text(r#"[{"ok":"x"}]"#) {
        Step::Done(r) => assert_eq!(r.lines[0].1, "read"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn calls_awaited_together_are_asked_for_in_one_step() {
    let mut e = Execution::new(|h| async move {
        let (a, b) = futures_join(h.get_counter("a"), h.get_counter("b")).await;
        let mut r = Report::new("t");
        r.info(if (a, b) == (Ok(1), Ok(2)) { "both" } else { "wrong" });
        r
    });
    let step = e.resume(Vec::new());
    assert_eq!(calls_text(&step), r#"{"id":7,"calls":[["kvstore.getCounter",["a"]],["kvstore.getCounter",["b"]]]}"#);
    match e.resume_text(r#"[{"ok":1},{"ok":"2"}]"#) {
        Step::Done(r) => assert_eq!(r.lines[0].1, "both"),
        other => panic!("{other:?}"),
    }
}

/// Two futures polled together (no executor crate needed for the test).
async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (Box::pin(a), Box::pin(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn failed_calls_become_typed_errors() {
    let kinds = [OpKind::Api, OpKind::Api, OpKind::Kv, OpKind::Publish, OpKind::Api];
    let got = outcomes(
        r#"[{"err":{"status":404,"message":"not found"}},{"err":{"status":412,"message":"Precondition Failed"}},
            {"err":{"status":0,"message":"kv execution calls exceeds the limit of 10 per execution"}},
            {"err":{"status":503,"message":"busy"}},{"ok":null}]"#,
        &kinds,
    );
    assert_eq!(got[0], Err(HostError::NotFound));
    assert_eq!(got[1], Err(HostError::PreconditionFailed));
    assert_eq!(got[2], Err(HostError::BudgetExceeded(OpKind::Kv)));
    assert_eq!(got[3], Err(HostError::Rejected { status: 503, message: "busy".into() }));
    assert_eq!(got[4], Ok(Json::Null));
}

#[test]
fn missing_or_garbled_outcomes_fail_the_calls_instead_of_hanging() {
    for text in ["", "{}", "[1]", "[]"] {
        let mut e = Execution::new(|h| async move {
            let mut r = Report::new("t");
            if let Err(e) = h.publish("status.a", &1u64).await {
                r.error(e.describe());
            }
            r
        });
        assert!(matches!(e.resume(Vec::new()), Step::Calls(_)));
        match e.resume_text(text) {
            Step::Done(r) => assert_eq!(r.errors().count(), 1, "{text}: {:?}", r.lines),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn a_report_is_written_for_the_runtime_to_log() {
    let mut r = Report::new("friend-acceptance");
    r.info("a \"quoted\" line");
    r.reject(friends_presence::core::Rejection::new("bad"));
    assert_eq!(
        Step::Done(r).to_text(0),
        r#"{"done":{"function":"friend-acceptance","rejected":"bad","lines":[["info","a \"quoted\" line"],["warn","rejected: bad"]]}}"#
    );
}

#[test]
fn an_unknown_handler_or_input_is_refused_with_a_report() {
    for input in [Json::Null, Json::parse(r#"{"handler":"nope"}"#).unwrap()] {
        match entry::execution(&input) {
            Err(report) => assert!(report.is_rejected()),
            Ok(_) => panic!("accepted {input:?}"),
        }
    }
}

#[test]
fn every_function_of_the_table_is_dispatched_by_its_name() {
    // src/functions.json, through the dispatch build.rs generates from it.
    assert_eq!(entry::FUNCTIONS.len(), 10);
    for name in entry::FUNCTIONS {
        let input = Json::parse(&format!(r#"{{"handler":"{name}","now":1}}"#)).unwrap();
        assert!(entry::execution(&input).is_ok(), "{name} is not dispatched");
    }
    let old = Json::parse(r#"{"handler":"friendRequests"}"#).unwrap();
    assert!(entry::execution(&old).is_err(), "only the Function's own name selects it");
}

#[test]
fn settings_out_of_range_keep_the_defaults() {
    let s = Json::parse(r#"{"shardCount":0,"debounceMs":99999999999,"opsLimit":3}"#).unwrap();
    let cfg = entry::config(s.as_object());
    assert_eq!(cfg.shard_count, friends_presence::core::Config::default().shard_count);
    assert_eq!(cfg.debounce_ms, 5_000);
    assert_eq!(cfg.budget, friends_presence::host::OpBudget::LEGACY);
    let s = Json::parse(r#"{"shardCount":20000,"debounceMs":2000}"#).unwrap();
    let cfg = entry::config(s.as_object());
    assert_eq!((cfg.shard_count, cfg.debounce_ms), (20_000, 2_000));
}
