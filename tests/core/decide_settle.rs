//! The settler's plan, input → output, without a host: `core::settle::SettlePlan`.

use friends_presence::core::settle::{last_complete_slot, Cursor, SettleFire, SettlePlan, SLOTS_PER_RUN};

use super::T0;

const FAN_OUT: usize = 10;

fn chunk_fires(fires: &[SettleFire]) -> Vec<Vec<(u64, i64)>> {
    fires
        .iter()
        .filter_map(|f| match f {
            SettleFire::Chunks(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_first_run_looks_back_four_slots_and_hands_out_their_chunks_six_per_worker() {
    let last = last_complete_slot(T0);
    let mut plan = SettlePlan::new(None, T0, 0, 0, FAN_OUT);
    assert_eq!(plan.slots(), last - 4..=last);
    for slot in plan.slots() {
        let written = if slot == last - 1 { 8 } else { 0 };
        assert!(plan.add_slot(slot, written), "room left");
    }
    let handout = plan.finish();
    assert_eq!(handout.chunks, 8);
    let parts = chunk_fires(&handout.fires);
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0], (1..=6).map(|i| (last - 1, i)).collect::<Vec<_>>());
    assert_eq!(parts[1], vec![(last - 1, 7), (last - 1, 8)]);
    let all = handout.cursor_after(handout.fires.len());
    assert_eq!(all, Cursor { done: last, partial: 0, scans: 0, recounts: 0 });
}

#[test]
fn a_run_reads_at_most_six_slots_from_its_cursor() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 20, ..Cursor::default() };
    let plan = SettlePlan::new(Some(cursor), T0, 0, 0, FAN_OUT);
    assert_eq!(plan.slots(), last - 19..=last - 20 + SLOTS_PER_RUN);
}

#[test]
fn a_slot_too_big_for_one_run_is_continued_inside_it_by_the_next() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 1, ..Cursor::default() };
    let mut plan = SettlePlan::new(Some(cursor), T0, 0, 0, FAN_OUT);
    assert!(!plan.add_slot(last, 70), "60 chunks fill ten workers");
    assert!(!plan.add_slot(last, 70), "full: no more slots");
    let handout = plan.finish();
    assert_eq!((handout.chunks, handout.fires.len()), (60, 10));
    let next = handout.cursor_after(10);
    assert_eq!((next.done, next.partial), (last - 1, 60));

    let mut plan = SettlePlan::new(Some(next), T0, 0, 0, FAN_OUT);
    assert!(plan.add_slot(last, 70));
    let handout = plan.finish();
    assert_eq!(chunk_fires(&handout.fires).concat(), (61..=70).map(|i| (last, i)).collect::<Vec<_>>());
    assert_eq!(handout.cursor_after(2), Cursor { done: last, partial: 0, scans: 0, recounts: 0 });
}

#[test]
fn queued_jobs_keep_fires_for_themselves_in_order_within_the_fan_out() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 1, partial: 0, scans: 10, recounts: 3 };
    // 5 scans (#11–#15) and 9 recounts (#4–#12) wait: 3 fires held for scans, 1 for recounts.
    let mut plan = SettlePlan::new(Some(cursor), T0, 15, 12, FAN_OUT);
    assert!(!plan.add_slot(last, 100));
    let handout = plan.finish();
    assert_eq!(handout.chunks, 36, "six workers' worth");
    let kinds: Vec<&str> = handout
        .fires
        .iter()
        .map(|f| match f {
            SettleFire::Chunks(_) => "chunks",
            SettleFire::Scan(_) => "scan",
            SettleFire::Recounts(_) => "recounts",
        })
        .collect();
    assert_eq!(kinds, ["chunks", "chunks", "chunks", "chunks", "chunks", "chunks", "scan", "scan", "scan", "scan"]);
    assert_eq!(handout.fires[6], SettleFire::Scan(11));
    let next = handout.cursor_after(10);
    assert_eq!(next, Cursor { done: last - 1, partial: 36, scans: 14, recounts: 3 }, "scan #15 and the recounts wait");

    // No statuses waiting: recounts go four per worker after the scans.
    let mut plan = SettlePlan::new(Some(cursor), T0, 15, 12, FAN_OUT);
    assert!(plan.add_slot(last, 0));
    let handout = plan.finish();
    assert_eq!(handout.fires[5], SettleFire::Recounts(vec![4, 5, 6, 7]));
    assert_eq!(handout.fires[7], SettleFire::Recounts(vec![12]));
    assert_eq!(handout.cursor_after(8), Cursor { done: last, partial: 0, scans: 15, recounts: 12 });
}

#[test]
fn a_failed_fire_stops_the_cursor_before_the_work_nobody_took() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 2, partial: 0, scans: 0, recounts: 0 };
    let mut plan = SettlePlan::new(Some(cursor), T0, 2, 0, FAN_OUT);
    assert!(plan.add_slot(last - 1, 4));
    assert!(plan.add_slot(last, 9));
    let handout = plan.finish();
    // Parts: [(last-1, 1..4), (last, 1..2)], [(last, 3..8)], [(last, 9)], then scans #1, #2.
    assert_eq!(handout.fires.len(), 5);
    assert_eq!(handout.cursor_after(0), Cursor { done: last - 2, partial: 0, scans: 0, recounts: 0 });
    assert_eq!(handout.cursor_after(1), Cursor { done: last - 1, partial: 2, scans: 0, recounts: 0 });
    assert_eq!(handout.cursor_after(3), Cursor { done: last, partial: 0, scans: 0, recounts: 0 }, "the scans were not fired");
    assert_eq!(handout.cursor_after(4), Cursor { done: last, partial: 0, scans: 1, recounts: 0 });
}
