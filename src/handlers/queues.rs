//! Writing to the KV queues (`core::settle`): never a read-modify-write, two KV ops per
//! write whatever its size — an atomic index, then one value under it.

#[allow(unused_imports)]
use crate::prelude::*;
use serde::Serialize;

use crate::core::settle::{self, JobQueue, SettleChunk};
use crate::host::{HostError, KvStore};

/// Deferred observations, due at `due_ms`, into a slot the settler has not passed yet;
/// returns that slot.
pub(crate) async fn enqueue_chunk<H: KvStore>(host: &H, chunk: &SettleChunk, due_ms: u64, now_ms: u64) -> Result<u64, HostError> {
    let slot = settle::slot_for(due_ms, now_ms);
    let index = host.incr_counter(&settle::counter_key(slot), 1).await?;
    host.set(&settle::chunk_key(slot, index), chunk, settle::QUEUE_TTL_MINUTES).await?;
    Ok(slot)
}

/// A job at the back of a FIFO queue; the settler hands it out on its next run.
pub(crate) async fn push_job<H: KvStore, T: Serialize>(host: &H, queue: JobQueue, job: &T) -> Result<(), HostError> {
    let index = host.incr_counter(queue.counter_key(), 1).await?;
    host.set(&queue.job_key(index), job, settle::QUEUE_TTL_MINUTES).await
}
