//! The settler's plan, input → output, without a host: `core::settle::SettlePlan`.

use friends_presence::core::settle::{lane_chunks, last_complete_slot, Cursor, SettleFire, SettlePlan, SLOTS_PER_RUN, SLOT_MS};

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
fn a_first_run_looks_back_four_slots_and_spreads_their_chunks_over_the_fires() {
    let last = last_complete_slot(T0);
    let mut plan = SettlePlan::new(None, T0, 0, 0, FAN_OUT);
    assert_eq!(plan.slots(), last - 4..=last);
    for slot in plan.slots() {
        let written = if slot == last - 1 { 12 } else { 0 };
        assert!(plan.add_slot(slot, written), "room left");
    }
    let handout = plan.finish();
    assert_eq!(handout.chunks, 12);
    // Twelve chunks over ten fires: two each, so every worker reads its chunks itself.
    let parts = chunk_fires(&handout.fires);
    assert_eq!(parts.len(), 6);
    assert_eq!(parts[0], vec![(last - 1, 1), (last - 1, 2)]);
    assert_eq!(parts[5], vec![(last - 1, 11), (last - 1, 12)]);
    let all = handout.cursor_after(handout.fires.len());
    assert_eq!(all, Cursor { done: last, partial: 0, scans: 0, recounts: 0, heal: None });
}

#[test]
fn a_slot_is_handed_out_only_once_a_herenow_read_cannot_predate_its_last_entry() {
    // Slot s ends at s · 2.5 s; writers may be 1 s late (grace) and hereNow answers 3 s old.
    let s = 1_000_000u64;
    assert_eq!(last_complete_slot(s * SLOT_MS + 3_999), s - 1);
    assert_eq!(last_complete_slot(s * SLOT_MS + 4_000), s);
}

#[test]
fn a_run_reads_at_most_six_slots_from_its_cursor() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 20, ..Cursor::default() };
    let plan = SettlePlan::new(Some(cursor), T0, 0, 0, FAN_OUT);
    assert_eq!(plan.slots(), last - 19..=last - 20 + SLOTS_PER_RUN);
}

#[test]
fn a_run_hands_out_600_chunks_in_ten_lanes_and_the_next_continues_inside_the_slot() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 1, ..Cursor::default() };
    let mut plan = SettlePlan::new(Some(cursor), T0, 0, 0, FAN_OUT);
    assert!(!plan.add_slot(last, 900), "600 chunks fill ten lanes");
    assert!(!plan.add_slot(last, 900), "full: no more slots");
    let handout = plan.finish();
    assert_eq!((handout.chunks, handout.fires.len()), (600, 10));
    assert!(chunk_fires(&handout.fires).iter().all(|p| p.len() == lane_chunks(FAN_OUT)), "60 chunks per lane: 10 workers of 6");
    let next = handout.cursor_after(10);
    assert_eq!((next.done, next.partial), (last - 1, 600));

    let mut plan = SettlePlan::new(Some(next), T0, 0, 0, FAN_OUT);
    assert!(plan.add_slot(last, 900));
    let handout = plan.finish();
    assert_eq!(chunk_fires(&handout.fires).concat(), (601..=900).map(|i| (last, i)).collect::<Vec<_>>());
    assert_eq!(handout.cursor_after(handout.fires.len()), Cursor { done: last, partial: 0, scans: 0, recounts: 0, heal: None });
}

#[test]
fn queued_jobs_keep_fires_for_themselves_in_order_within_the_fan_out() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 1, partial: 0, scans: 10, recounts: 3, heal: None };
    // 5 scans (#11–#15) and 9 recounts (#4–#12) wait: 3 fires held for scans, 1 for recounts.
    let mut plan = SettlePlan::new(Some(cursor), T0, 15, 12, FAN_OUT);
    assert!(!plan.add_slot(last, 1000));
    let handout = plan.finish();
    assert_eq!(handout.chunks, 360, "six lanes' worth");
    let kinds: Vec<&str> = handout
        .fires
        .iter()
        .map(|f| match f {
            SettleFire::Chunks(_) => "chunks",
            SettleFire::Scan(_) => "scan",
            SettleFire::Recounts(_) => "recounts",
            SettleFire::Heal(..) => "heal",
        })
        .collect();
    assert_eq!(kinds, ["chunks", "chunks", "chunks", "chunks", "chunks", "chunks", "scan", "scan", "scan", "scan"]);
    assert_eq!(handout.fires[6], SettleFire::Scan(11));
    let next = handout.cursor_after(10);
    assert_eq!(next, Cursor { done: last - 1, partial: 360, scans: 14, recounts: 3, heal: None }, "scan #15 and the recounts wait");

    // No statuses waiting: recounts go four per worker after the scans.
    let mut plan = SettlePlan::new(Some(cursor), T0, 15, 12, FAN_OUT);
    assert!(plan.add_slot(last, 0));
    let handout = plan.finish();
    assert_eq!(handout.fires[5], SettleFire::Recounts(vec![4, 5, 6, 7]));
    assert_eq!(handout.fires[7], SettleFire::Recounts(vec![12]));
    assert_eq!(handout.cursor_after(8), Cursor { done: last, partial: 0, scans: 15, recounts: 12, heal: None });
}

#[test]
fn a_failed_fire_stops_the_cursor_before_the_work_nobody_took() {
    let last = last_complete_slot(T0);
    let cursor = Cursor { done: last - 2, partial: 0, scans: 0, recounts: 0, heal: None };
    let mut plan = SettlePlan::new(Some(cursor), T0, 2, 0, FAN_OUT);
    assert!(plan.add_slot(last - 1, 4));
    assert!(plan.add_slot(last, 9));
    let handout = plan.finish();
    // 13 chunks over the 8 fires left beside two scans: two each, [(last-1, 1..2)], [(last-1, 3..4)],
    // [(last, 1..2)] … [(last, 9)], then scans #1, #2.
    assert_eq!(handout.fires.len(), 9);
    assert_eq!(handout.cursor_after(0), Cursor { done: last - 2, partial: 0, scans: 0, recounts: 0, heal: None });
    assert_eq!(handout.cursor_after(1), Cursor { done: last - 2, partial: 2, scans: 0, recounts: 0, heal: None });
    assert_eq!(handout.cursor_after(2), Cursor { done: last - 1, partial: 0, scans: 0, recounts: 0, heal: None });
    assert_eq!(handout.cursor_after(7), Cursor { done: last, partial: 0, scans: 0, recounts: 0, heal: None }, "the scans were not fired");
    assert_eq!(handout.cursor_after(8), Cursor { done: last, partial: 0, scans: 1, recounts: 0, heal: None });
}
