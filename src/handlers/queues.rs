//! Handing work on, for the presence and reconcile shells: `fire`d work items, and the KV
//! queues (`core::settle`) — never a read-modify-write there, two KV ops per write whatever
//! its size: an atomic index, then one value under it.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use super::{cat, num, Report};
use crate::core::keys::{self, JobQueue};
use crate::core::presence::Observation;
use crate::core::settle::{self, SettleChunk};
use crate::core::work::{work_channel, WorkItem};
use crate::host::{HostError, KvStore, PubNub};

/// Deferred observations, due at `due_ms`, into a slot the settler has not passed yet;
/// returns that slot.
pub(crate) async fn enqueue_chunk<H: KvStore>(host: &H, chunk: &SettleChunk, due_ms: u64, now_ms: u64) -> Result<u64, HostError> {
    let slot = settle::slot_for(due_ms, now_ms);
    let index = host.incr_counter(&keys::slot_key(slot), 1).await?;
    host.set(&keys::chunk_key(slot, index), chunk, keys::QUEUE_TTL_MINUTES).await?;
    Ok(slot)
}

/// A job at the back of a FIFO queue; the settler hands it out on its next run.
pub(crate) async fn push_job<H: KvStore, T: Serialize>(host: &H, queue: JobQueue, job: &T) -> Result<(), HostError> {
    let index = host.incr_counter(queue.counter_key(), 1).await?;
    host.set(&queue.job_key(index), job, queue.ttl_minutes()).await
}

/// Fires `observations` to presence workers at `hop` in parts of `size`; returns what could
/// not be fired (the caller queues it).
pub(crate) async fn fire_work<H: PubNub>(
    host: &H,
    shard: u32,
    hop: u8,
    observations: &[Observation],
    size: usize,
    report: &mut Report,
) -> Vec<Observation> {
    let channel = work_channel(shard);
    let mut unsent = Vec::new();
    for part in observations.chunks(size.max(1)) {
        let item = WorkItem::presence(shard, hop, part.to_vec());
        if let Err(e) = host.fire(&channel, &item).await {
            report.error(cat(&["fire to ", &channel, " failed: ", &e.describe()]));
            unsent.extend(item.observations);
        }
    }
    unsent
}

/// Two KV ops, whatever the batch size (≤ 250 observations keep a chunk under KV's 32,000 chars).
pub(crate) async fn enqueue_at<H: KvStore>(host: &H, entries: Vec<Observation>, due_ms: u64, now_ms: u64, report: &mut Report) {
    let n = entries.len() as u64;
    match enqueue_chunk(host, &SettleChunk { entries }, due_ms, now_ms).await {
        Ok(slot) => report.info(cat(&["deferred ", &num(n), " to slot ", &num(slot)])),
        Err(e) => report.error(cat(&["could not queue ", &num(n), " deferred status changes: ", &e.describe()])),
    }
}
