//! The view's containers: a list kept in order per user (`Listing`), a map that forgets its
//! oldest entries past a bound (`Bounded`), and a small heapsort (no `core::fmt` in the package).

#[allow(unused_imports)]
use crate::prelude::*;

use super::*;

/// Sorts `list` in place by `less` (heapsort, O(n log n)): core's sort puts ~3 KB of wasm in
/// the web package for its one use here.
pub(super) fn heap_sort<T>(list: &mut [T], less: impl Fn(&T, &T) -> bool) {
    // Moves the item at `root` down until it is not less than its children, within `..end`.
    let sift = |list: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(&list[child], &list[child + 1]) {
            child += 1;
        }
        if !less(&list[root], &list[child]) {
            break;
        }
        list.swap(root, child);
        root = child;
    };
    for root in (0..list.len() / 2).rev() {
        sift(list, root, list.len());
    }
    for end in (1..list.len()).rev() {
        list.swap(0, end);
        sift(list, 0, end);
    }
}

pub(super) trait Listed {
    fn user(&self) -> &str;
    /// The listed request's id (requests only).
    fn request(&self) -> Option<&str> {
        None
    }
    /// When the listed request was made (ISO-8601, one format: compares as text).
    fn made(&self) -> Option<&str> {
        None
    }
}

impl Listed for FriendRequest {
    fn user(&self) -> &str {
        &self.user_id
    }
    fn request(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    fn made(&self) -> Option<&str> {
        self.requested_at.as_deref()
    }
}

impl Listed for String {
    fn user(&self) -> &str {
        self
    }
}

/// Users listed beside the friends (requests each way, blocked users), each with the time of
/// the information held, and a bounded memory of when each one left the list: an older
/// snapshot or a late notice cannot bring back an entry taken off since. Requests with an id
/// are ordered by it (docs/design.md §4): a closed id is remembered and never listed again.
#[derive(Clone, Debug)]
pub(super) struct Listing<T> {
    pub(super) items: Vec<(u64, T)>,
    pub(super) gone: Bounded<u64>,
    pub(super) closed: Bounded<()>,
    pub(super) cap: usize,
}

impl<T: Listed> Listing<T> {
    pub(super) fn new(cap: usize) -> Self {
        Listing { items: Vec::new(), gone: Bounded::new(cap), closed: Bounded::new(cap), cap }
    }

    pub(super) fn contains(&self, user: &str) -> bool {
        self.items.iter().any(|(_, i)| i.user() == user)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, i)| i)
    }

    pub(super) fn is_closed(&self, item: &T) -> bool {
        item.request().is_some_and(|id| self.closed.get(id).is_some())
    }

    /// Lists `item` as of `ts`; false (stale) when its request is closed or the list holds
    /// newer news of that user. Of two requests of one user (only one can be pending), the
    /// later made stays and the other is closed.
    pub(super) fn put(&mut self, ts: u64, item: T) -> bool {
        if self.is_closed(&item) || self.gone.get(item.user()).is_some_and(|at| *at > ts) {
            return false;
        }
        let user = item.user().to_owned();
        if let Some((at, held)) = self.items.iter().find(|(_, i)| i.user() == user) {
            let (newer, loser) = match (held.request(), item.request()) {
                (Some(h), Some(id)) if h == id => (true, None),
                (Some(h), Some(_)) if item.made() >= held.made() => (true, Some(h.to_owned())),
                (Some(_), Some(id)) => (false, Some(id.to_owned())),
                _ => (*at <= ts, None),
            };
            if let Some(id) = loser {
                self.closed.insert(&id, ());
            }
            if !newer {
                return false;
            }
        }
        self.items.retain(|(_, i)| i.user() != user);
        self.items.push((ts, item));
        if self.items.len() > self.cap {
            self.items.remove(0);
        }
        true
    }

    /// Takes `user` off as of `ts` (an entry newer than that stays); whether it was listed.
    /// The requests taken off are closed.
    pub(super) fn take(&mut self, user: &str, ts: u64) -> bool {
        let at = self.gone.get(user).copied().unwrap_or(0).max(ts);
        self.gone.insert(user, at);
        self.remove(|t, i| i.user() == user && *t <= ts)
    }

    /// Closes the request `id` of `user` (taken off whatever the times, never listed again);
    /// without an id (older servers), takes `user` off as of `ts`.
    pub(super) fn close(&mut self, user: &str, id: Option<&str>, ts: u64) -> bool {
        match id {
            Some(id) => {
                self.closed.insert(id, ());
                self.remove(|t, i| i.user() == user && (i.request() == Some(id) || (i.request().is_none() && *t <= ts)))
            }
            None => self.take(user, ts),
        }
    }

    pub(super) fn remove(&mut self, mut gone: impl FnMut(&u64, &T) -> bool) -> bool {
        let before = self.items.len();
        let mut closed = Vec::new();
        self.items.retain(|(t, i)| {
            let off = gone(t, i);
            if off {
                closed.extend(i.request().map(str::to_owned));
            }
            !off
        });
        for id in closed {
            self.closed.insert(&id, ());
        }
        self.items.len() != before
    }

    /// Forgets `user` without ordering anything after it (a local dismissal).
    pub(super) fn forget(&mut self, user: &str) -> bool {
        let before = self.items.len();
        self.items.retain(|(_, i)| i.user() != user);
        self.items.len() != before
    }

    /// The list as a snapshot taken at `ts` has it, plus what was listed after `ts`; minus
    /// what was taken off after `ts` and every closed request.
    pub(super) fn snapshot(&mut self, ts: u64, listed: Vec<T>) {
        let newer: Vec<(u64, T)> = core::mem::take(&mut self.items).into_iter().filter(|(at, _)| *at > ts).collect();
        for item in listed {
            let user = item.user();
            if self.is_closed(&item) || newer.iter().any(|(_, i)| i.user() == user) || self.gone.get(user).is_some_and(|at| *at > ts) {
                continue;
            }
            if !self.items.iter().any(|(_, i)| i.user() == user) {
                self.items.push((ts, item));
            }
        }
        self.items.extend(newer);
        let over = self.items.len().saturating_sub(self.cap);
        self.items.drain(..over);
    }
}

/// A map that forgets its oldest entries past `cap`. The values sit in a slab indexed by one
/// table type (`HashMap<String, usize>`) whatever `V` is: a table per value type would put
/// another copy of hashbrown's code in the web package for each.
#[derive(Clone, Debug)]
pub(super) struct Bounded<V> {
    pub(super) cap: usize,
    pub(super) index: HashMap<String, usize>,
    /// `(seq, value)`; `None`: a free slot, listed in `free`.
    pub(super) slots: Vec<Option<(u64, V)>>,
    pub(super) free: Vec<usize>,
    pub(super) order: VecDeque<(String, u64)>,
    pub(super) seq: u64,
}

impl<V> Bounded<V> {
    pub(super) fn new(cap: usize) -> Self {
        Bounded { cap, index: HashMap::default(), slots: Vec::new(), free: Vec::new(), order: VecDeque::new(), seq: 0 }
    }

    pub(super) fn slot(&self, key: &str) -> Option<&(u64, V)> {
        self.index.get(key).and_then(|&i| self.slots.get(i)).and_then(Option::as_ref)
    }

    pub(super) fn get(&self, key: &str) -> Option<&V> {
        self.slot(key).map(|(_, v)| v)
    }

    pub(super) fn insert(&mut self, key: &str, value: V) {
        self.seq += 1;
        let entry = Some((self.seq, value));
        match self.index.get(key).copied() {
            Some(i) => {
                if let Some(slot) = self.slots.get_mut(i) {
                    *slot = entry;
                }
            }
            None => {
                let i = match self.free.pop() {
                    Some(i) => {
                        if let Some(slot) = self.slots.get_mut(i) {
                            *slot = entry;
                        }
                        i
                    }
                    None => {
                        self.slots.push(entry);
                        self.slots.len() - 1
                    }
                };
                self.index.insert(key.to_owned(), i);
            }
        }
        self.order.push_back((key.to_owned(), self.seq));
        while self.index.len() > self.cap || self.order.len() > self.cap.saturating_mul(2) {
            let Some((old, seq)) = self.order.pop_front() else { break };
            // Re-inserted keys leave older order entries behind: only the newest one evicts.
            if self.slot(&old).is_some_and(|(s, _)| *s == seq) {
                self.remove(&old);
            }
        }
    }

    pub(super) fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.index.remove(key)?;
        let (_, value) = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn keys(b: &Bounded<u64>, all: &[&str]) -> Vec<(String, u64)> {
        all.iter().filter_map(|k| b.get(k).map(|v| ((*k).to_owned(), *v))).collect()
    }

    #[test]
    pub(super) fn heap_sort_sorts_like_the_standard_sort() {
        // Every length up to 9, with repeated values, and a longer pseudo-random list.
        let mut seed = 7u64;
        let mut lists: Vec<Vec<u64>> = (0..10).map(|n| (0..n).map(|i| (i * 7919 + n) % 5).collect()).collect();
        lists.push(
            (0..2_000)
                .map(|_| {
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    seed >> 40
                })
                .collect(),
        );
        for list in lists {
            let (mut ours, mut std) = (list.clone(), list);
            heap_sort(&mut ours, |a, b| a < b);
            std.sort();
            assert_eq!(ours, std);
        }
    }

    #[test]
    pub(super) fn a_bounded_map_forgets_its_oldest_insertion_first() {
        let mut b = Bounded::new(3);
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            b.insert(k, i as u64);
        }
        b.insert("a", 10); // refreshed: now the newest
        b.insert("d", 3);
        assert_eq!(keys(&b, &["a", "b", "c", "d"]), [("a".into(), 10), ("c".into(), 2), ("d".into(), 3)]);
        assert_eq!(b.remove("c"), Some(2));
        assert_eq!(b.remove("c"), None);
        b.insert("e", 4); // takes the freed slot; nothing else is forgotten
        assert_eq!(keys(&b, &["a", "c", "d", "e"]), [("a".into(), 10), ("d".into(), 3), ("e".into(), 4)]);
        b.insert("f", 5);
        assert_eq!(keys(&b, &["a", "d", "e", "f"]), [("d".into(), 3), ("e".into(), 4), ("f".into(), 5)]);
        // Re-inserting one key over and over keeps the order queue within twice the bound; the
        // entries inserted before them are the oldest and go; the slots are reused.
        for i in 0..100 {
            b.insert("d", i);
        }
        assert!(b.order.len() <= 6 && b.slots.len() <= 4, "{} order entries, {} slots", b.order.len(), b.slots.len());
        assert_eq!(keys(&b, &["d", "e", "f"]), [("d".into(), 99)]);
        b.insert("g", 6);
        assert_eq!(keys(&b, &["d", "g"]), [("d".into(), 99), ("g".into(), 6)]);
        assert!(b.slots.len() <= 4);
    }
}
