//! The initial load as the view sees it: the chains of `friends.sync` pages it asked for, what
//! arrived, what is missing and asked again, and the snapshot a complete load reconciles.

#[allow(unused_imports)]
use crate::prelude::*;

use super::*;

/// An initial load in progress: which friends its pages listed, and where each chain of it
/// (`core::sync`) stands.
#[derive(Clone, Debug, Default)]
pub(super) struct SyncRun {
    pub(super) seen: HashSet<String>,
    pub(super) first_ts: Option<u64>,
    /// The first request (no cursor) until its head arrives: the head lists the chains.
    pub(super) first: Option<Ask>,
    /// Every request of this load: pages answering others (the same user in another tab)
    /// are applied but do not move the chains.
    pub(super) asked: HashSet<String>,
    pub(super) chains: Vec<Chain>,
    /// Requests made so far: each gets an id of its own.
    pub(super) asks: u64,
}

/// One chain of a load: pages `0..got` arrived; `cursor` reads page `got`.
#[derive(Clone, Debug, Default)]
pub(super) struct Chain {
    pub(super) got: u32,
    pub(super) cursor: Option<String>,
    /// Pages that arrived past a missing one: their place and the cursor after them.
    pub(super) ahead: Vec<(u32, Option<String>)>,
    pub(super) done: bool,
    pub(super) ask: Option<Ask>,
}

/// A request waiting for its answer: its id, the pages it asked for and those arrived.
#[derive(Clone, Debug)]
pub(super) struct Ask {
    pub(super) id: String,
    pub(super) pages: u32,
    pub(super) got: u32,
    pub(super) at_ms: u64,
}

impl Chain {
    /// Page `seq` arrived with `next` after it: the chain moves on past every page in order.
    fn arrived(&mut self, seq: u32, next: Option<String>) {
        if seq > self.got {
            self.ahead.push((seq, next));
            return;
        }
        if seq < self.got || self.done {
            return;
        }
        let mut next = next;
        loop {
            self.got += 1;
            self.done = next.is_none();
            self.cursor = next;
            match self.ahead.iter().position(|(s, _)| *s == self.got) {
                Some(i) if !self.done => next = self.ahead.swap_remove(i).1,
                _ => break,
            }
        }
        let got = self.got;
        self.ahead.retain(|(s, _)| *s > got);
    }
}

/// A `friends.sync.request` for `pages` pages from `cursor` (`None`: the first request), and
/// what the run waits for.
pub(super) fn sync_request(me: &UserId, run: &mut SyncRun, cursor: Option<&str>, pages: u32, now_ms: u64, nonce: u64) -> (Json, Ask) {
    run.asks += 1;
    let mut id = String::from("sync-");
    id.push_str(me.as_str());
    for n in [now_ms, nonce, run.asks] {
        id.push('-');
        push_u64(&mut id, n);
    }
    run.asked.insert(id.clone());
    let mut payload = JsonObject::default();
    payload.set("userA", Json::str(me.as_str()));
    payload.set("page", cursor.map_or(Json::Null, Json::str));
    payload.set("pages", Json::num(pages as u64));
    let mut msg = JsonObject::default();
    msg.set("type", Json::str(event::FRIENDS_SYNC_REQUEST));
    msg.set("schemaVersion", Json::str(SCHEMA_VERSION));
    msg.set("eventId", Json::Str(id.clone()));
    msg.set("ts", Json::Str(iso8601(now_ms)));
    msg.set("payload", Json::Obj(payload));
    (Json::Obj(msg), Ask { id, pages, got: 0, at_ms: now_ms })
}

impl FriendsView {
    /// `totalFriends` / `totalOnline` of the newest sync page.
    pub fn sync_totals(&self) -> (Option<u64>, Option<u64>) {
        (self.total_friends, self.total_online)
    }

    /// True once a complete initial load has been applied.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Starts an initial load: the pages applied until one without `next` form one snapshot,
    /// and friends it does not list (and not added since) are dropped at its end.
    pub fn begin_sync(&mut self) {
        self.run = Some(SyncRun::default());
    }

    /// Whether a load is in progress (begun, last page not applied yet).
    pub fn syncing(&self) -> bool {
        self.run.is_some()
    }

    /// Whether a request of the load in progress waits for (more of) its answer.
    pub fn sync_awaiting(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.first.is_some() || r.chains.iter().any(|c| c.ask.is_some()))
    }

    /// The `friends.sync.request`s to publish now on `friend-management.{userId}` (begins a
    /// load if none is in progress): the first one until its head arrives, then one per chain
    /// that is not complete and waits for nothing, while the pages asked for and not arrived
    /// stay within `max_pages` (below the ~100 messages a subscriber's queue holds, so a
    /// slow client loses none). A request unanswered after `timeout_ms`, or answered with a
    /// page missing, is asked again from the chain's last page in order. `nonce` makes the
    /// ids unique across views (a random number); an id is 1–128 characters without `:`.
    pub fn sync_asks(&mut self, now_ms: u64, nonce: u64, max_pages: u32, timeout_ms: u64) -> Vec<Json> {
        let me = self.me.clone();
        let run = self.run.get_or_insert_with(SyncRun::default);
        let stale = |a: &Option<Ask>| a.as_ref().is_some_and(|a| now_ms.saturating_sub(a.at_ms) >= timeout_ms);
        let mut out = Vec::new();
        if run.chains.is_empty() {
            if run.first.is_none() || stale(&run.first) {
                let pages = crate::core::sync::SYNC_FIRST_PAGES_MAX as u32;
                let (msg, ask) = sync_request(&me, run, None, pages, now_ms, nonce);
                run.first = Some(ask);
                out.push(msg);
            }
            return out;
        }
        let mut in_flight: u32 = 0;
        for c in run.chains.iter_mut() {
            if stale(&c.ask) || c.done {
                c.ask = None;
            }
            in_flight += c.ask.as_ref().map_or(0, |a| a.pages.saturating_sub(a.got));
        }
        for i in 0..run.chains.len() {
            let c = &run.chains[i];
            let room = max_pages.saturating_sub(in_flight).min(crate::core::sync::SYNC_PAGES_MAX as u32);
            if c.done || c.ask.is_some() || room == 0 {
                continue;
            }
            let cursor = c.cursor.clone();
            let (msg, ask) = sync_request(&me, run, cursor.as_deref(), room, now_ms, nonce);
            run.chains[i].ask = Some(ask);
            in_flight += room;
            out.push(msg);
        }
        out
    }

    // Long on purpose: one page's whole effect in order (its chain's bookkeeping, every friend it
    // lists, the lists of the first page, the end of the load); the steps share the page's state.
    pub(super) fn sync_page(&mut self, ts: u64, page: SyncPage) -> Outcome {
        if page.user_id != self.me.as_str() {
            return rejected("friends.sync is for another user");
        }
        let mut listed: Vec<String> = Vec::with_capacity(page.friends.len());
        for entry in page.friends {
            if entry.user == self.me {
                continue;
            }
            let key = entry.user.as_str().to_owned();
            if self.removed.get(&key).is_some_and(|at| *at > ts) {
                continue; // removed after this snapshot was taken
            }
            self.removed.remove(&key);
            let note = self.strangers.remove(&key);
            let f = self.friends.entry(key.clone()).or_insert_with(|| Friend::new(&entry.user, ts));
            f.member_ts = f.member_ts.max(ts);
            f.set_profile(&entry.name, &entry.profile_url);
            // The page's status message (or its absence: cleared) unless a newer one is held.
            let status_at = Order::new(entry.version, ts);
            if status_at.not_before(&f.status_at) {
                f.status_message = entry.status_message;
                f.status_at = status_at;
            }
            // The entry's state is the friend's version; without one (an older server) it
            // dates from the friend's last change (`lastSeen`), unknown = oldest.
            let entry_at = Order::new(entry.version, entry.last_seen_ms.unwrap_or(0));
            if entry_at.not_before(&f.presence_at) {
                f.set_presence(entry.online, entry_at, entry.last_seen_ms);
            }
            if let Some(n) = note.filter(|n| n.at.not_before(&f.presence_at)) {
                f.set_presence(n.online, n.at, n.last_seen_ms);
            }
            listed.push(key);
        }
        // The first page carries the pending requests and the block list: their snapshot.
        if let Some(incoming) = page.incoming {
            let blocked = page.blocked.as_deref().unwrap_or_default();
            let listed = incoming.into_iter().filter(|e| e.user != self.me && !blocked.contains(&e.user)).map(FriendRequest::of);
            self.incoming.snapshot(ts, listed.collect());
        }
        if let Some(outgoing) = page.outgoing {
            self.outgoing.snapshot(ts, outgoing.into_iter().filter(|e| e.user != self.me).map(FriendRequest::of).collect());
        }
        if let Some(blocked) = page.blocked {
            self.blocked.snapshot(ts, blocked.into_iter().map(UserId::into_string).collect());
        }
        let newest_totals = self.run.as_ref().is_none_or(|r| r.first_ts.is_none_or(|t| ts >= t));
        if newest_totals {
            self.total_friends = page.total_friends.or(self.total_friends);
            self.total_online = page.total_online.or(self.total_online);
        }
        let complete_alone =
            page.next.is_none() && page.chain.is_none() && page.total_friends == Some((listed.len() + page.skipped) as u64);
        let ours = |run: &SyncRun| page.request_id.as_ref().is_some_and(|id| run.asked.contains(id));
        match self.run.as_mut().filter(|run| ours(run)) {
            Some(run) => {
                run.first_ts = Some(run.first_ts.map_or(ts, |t| t.min(ts)));
                run.seen.extend(listed);
                let id = page.request_id.as_deref();
                let mine = |a: &Option<Ask>| a.as_ref().is_some_and(|a| Some(a.id.as_str()) == id);
                if let Some(cursors) = page.chains.filter(|_| run.chains.is_empty()) {
                    // The head: the first chain's pages follow in the same answer.
                    run.chains = cursors.into_iter().map(|c| Chain { done: c.is_none(), cursor: c, ..Chain::default() }).collect();
                    if let Some(first) = run.first.take().filter(|a| Some(a.id.as_str()) == id) {
                        for c in run.chains.iter_mut().take(page.serves.unwrap_or(1) as usize).filter(|c| !c.done) {
                            c.ask = Some(first.clone());
                        }
                    }
                }
                if let Some(c) = page.chain.and_then(|i| run.chains.get_mut(i as usize)) {
                    if mine(&c.ask) {
                        let ask = c.ask.as_mut().filter(|_| page.more);
                        match ask {
                            Some(a) => a.got += 1,
                            // The answer's last page: whatever it left missing is asked again.
                            None => c.ask = None,
                        }
                    }
                    c.arrived(page.seq.unwrap_or(0), page.next);
                }
                if !run.chains.is_empty() && run.chains.iter().all(|c| c.done) {
                    let (seen, first) = (core::mem::take(&mut run.seen), run.first_ts.unwrap_or(ts));
                    self.run = None;
                    self.reconcile(&seen, first);
                }
            }
            // A page outside a load (a push) is a whole snapshot only if it says so.
            None if complete_alone => {
                let seen: HashSet<String> = listed.into_iter().collect();
                self.reconcile(&seen, ts);
            }
            None => {}
        }
        Outcome::Applied
    }

    /// End of a snapshot: friends it did not list, and not (re)added after it, are gone.
    pub(super) fn reconcile(&mut self, seen: &HashSet<String>, snapshot_ts: u64) {
        self.friends.retain(|id, f| seen.contains(id) || f.member_ts > snapshot_ts);
        self.synced = true;
    }
}
