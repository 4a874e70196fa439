//! The initial load (`friends.sync.request` on `friend-management.{me}`), answered by the
//! user-settings Function: reads only, so a failed read or publish changes nothing and the
//! client asks again. The decisions are `core::sync`'s.

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use super::{cat, num, Report};
use crate::core::friends::{self as fr, Binding, Command};
use crate::core::sync;
use crate::core::{Config, Rejection};
use crate::domain::channels::{blocked, friends, requests_in, REQUESTS_IN_PREFIX};
use crate::domain::Json;
use crate::host::{HostError, KvStore, MemberFilter, PubNub};
#[allow(unused_imports)]
use crate::prelude::*;

/// user-settings' entry (the table of Functions): the initial load shares its channels,
/// `friend-management.{me}`, so a `friends.sync.request` is answered here and anything else is
/// `user.settings`' (or ignored there: friend-removal's).
pub async fn settings_or_sync<H: PubNub + KvStore>(
    host: &H,
    cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    if message.as_object().and_then(|m| m.str("type")) == Some(crate::domain::contract::FRIENDS_SYNC_REQUEST) {
        return friends_sync(host, cfg, channel, publisher, message, now_ms).await;
    }
    super::friends::user_settings(host, cfg, channel, publisher, message, now_ms).await
}

pub async fn friends_sync<H: PubNub + KvStore>(
    host: &H,
    _cfg: &Config,
    channel: &str,
    publisher: Option<&str>,
    message: &Json,
    now_ms: u64,
) -> Report {
    let mut report = Report::new("user-settings");
    match fr::parse_command(Binding::FriendManagement, channel, publisher, message) {
        Ok(cmd) => {
            if let Err(reason) = answer(host, &cmd, sync::sync_pages(message), now_ms, &mut report).await {
                report.reject(reason);
            }
        }
        Err(refused) => super::friends::refuse_unparsed(host, publisher, message, refused, now_ms, &mut report).await,
    }
    report
}

/// Both futures, polled together: the host calls they make go out in one step (`Step::Calls`).
pub(crate) async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(move |cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        match (ra.take(), rb.take()) {
            (Some(x), Some(y)) => Poll::Ready((x, y)),
            (x, y) => {
                (ra, rb) = (x, y);
                Poll::Pending
            }
        }
    })
    .await
}

/// The answer to one request: without a cursor, the head (five reads at once: the count, the
/// online count, the three lists) and then the first chain; with one, up to `pages` pages of
/// its chain. Each page's publish goes out with the next page's read.
/// Ops: ≤ 10 API (first: 5 + ≤ 5 pages), ≤ 10 publishes, no KV.
// Long on purpose: the first request's two read steps and then the pages, each page's publish going
// out with the next read (`Step::Calls`), within one execution's budget.
async fn answer<H: PubNub + KvStore>(host: &H, cmd: &Command, pages: u64, now_ms: u64, report: &mut Report) -> Result<(), Rejection> {
    let failed = |what: &str, e: HostError| Rejection(cat(&[what, " failed: ", &e.describe()]));
    let me = &cmd.user_a;
    let list = friends(me);
    // The chains this answer reads, last first.
    let (mut chains, pages, mut pending) = match &cmd.page {
        Some(c) => (vec![c.clone()], pages, None),
        None => {
            // The counts, which decide the chains, then the three lists: two steps (a join is
            // code per pair of future types, and the bundle's room is small).
            let (all, online) =
                both(host.get_members(&list, MemberFilter::All, 1, None), host.get_members(&list, MemberFilter::Online, 1, None)).await;
            let ((incoming, blocks), outgoing) = both(
                both(
                    host.get_members(&requests_in(me), MemberFilter::All, 100, None),
                    host.get_members(&blocked(me), MemberFilter::All, 100, None),
                ),
                host.get_memberships(me, REQUESTS_IN_PREFIX),
            )
            .await;
            let total = all.map_err(|e| failed("friend count read", e))?.total;
            let total = total.ok_or_else(|| Rejection::new("friend count read failed: no totalCount"))?;
            let lists = sync::PendingRead {
                incoming: incoming.map_err(|e| failed("incoming requests read", e))?.members,
                outgoing: outgoing.map_err(|e| failed("outgoing requests read", e))?,
                blocked: blocks.map_err(|e| failed("block list read", e))?.members,
            };
            let pages = pages.min(sync::SYNC_FIRST_PAGES_MAX);
            // The online count only informs the totals: without it the load goes on.
            let (head, mut served) = sync::head(cmd, total, online.ok().and_then(|p| p.total), lists, pages, now_ms);
            served.reverse();
            (served, pages, Some(head))
        }
    };
    let mut index = pending.is_some() as u64;
    let mut sent = 0u64;
    let mut read_pages = 0;
    while let Some(at) = chains.pop().filter(|_| read_pages < pages) {
        let (filter, token) = at.read();
        let publish = async {
            match &pending {
                Some(n) => host.publish(&n.channel, &n.message).await,
                None => Ok(()),
            }
        };
        let (published, read) = both(publish, host.get_members(&list, filter, sync::PAGE_SIZE as u32, token)).await;
        published.map_err(|e| failed("friends.sync publish", e))?;
        read_pages += 1;
        let (mut reply, next) = sync::page(cmd, &at, read.map_err(|e| failed("friends list read", e))?, index, read_pages == pages, now_ms);
        index += 1;
        if let Some(n) = next.filter(|_| read_pages < pages) {
            chains.push(n);
        }
        // Another chain of this answer follows.
        reply.message.payload.more |= !chains.is_empty() && read_pages < pages;
        sent += reply.message.payload.friends.len() as u64;
        pending = Some(reply);
    }
    if let Some(n) = &pending {
        host.publish(&n.channel, &n.message).await.map_err(|e| failed("friends.sync publish", e))?;
    }
    report.info(cat(&["friends.sync to ", me.as_str(), ": ", &num(sent), " friends"]));
    Ok(())
}
