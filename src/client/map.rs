//! The view's maps: hashbrown's (the same tables as std's), so the web package can be built
//! `no_std`, with a small hasher of our own. The default hasher would bring its random seed
//! set-up and, through its `unwrap`s, `core::fmt` into the package (~10 KB of wasm).
//!
//! Keys are user ids and eventIds from our own channels; the hash only has to spread them.

use core::borrow::Borrow;
use core::hash::{BuildHasherDefault, Hash, Hasher};

pub type HashMap<K, V> = hashbrown::HashMap<K, V, BuildHasherDefault<Fnv1a>>;

/// A set over a `HashMap<K, usize>`: for strings, the same table type as the view's bounded
/// maps' index, so the package carries one copy of hashbrown's code for both.
#[derive(Clone, Debug)]
pub struct HashSet<K>(HashMap<K, usize>);

impl<K> Default for HashSet<K> {
    fn default() -> Self {
        HashSet(HashMap::default())
    }
}

impl<K: Hash + Eq> HashSet<K> {
    pub fn contains<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.0.contains_key(key)
    }

    /// Adds `key`; whether it was new.
    pub fn insert(&mut self, key: K) -> bool {
        self.0.insert(key, 0).is_none()
    }
}

impl<K: Hash + Eq> Extend<K> for HashSet<K> {
    fn extend<I: IntoIterator<Item = K>>(&mut self, keys: I) {
        self.0.extend(keys.into_iter().map(|k| (k, 0)));
    }
}

impl<K: Hash + Eq> FromIterator<K> for HashSet<K> {
    fn from_iter<I: IntoIterator<Item = K>>(keys: I) -> Self {
        let mut set = HashSet::default();
        set.extend(keys);
        set
    }
}

/// 64-bit FNV-1a over the bytes, with a multiply-xorshift finish so that the top bits
/// (hashbrown's control bytes) depend on every byte.
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        let h = (self.0 ^ (self.0 >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^ (h >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::hash::BuildHasher;

    #[test]
    fn spreads_similar_keys_over_the_control_bits() {
        let build = BuildHasherDefault::<Fnv1a>::default();
        let tops: HashMap<u64, ()> = (0..64).map(|i| (build.hash_one(format!("user-{i}")) >> 57, ())).collect();
        assert!(tops.len() > 32, "{} distinct top-7-bit values of 64", tops.len());
    }

    #[test]
    fn a_set_holds_what_it_was_given() {
        let mut set: HashSet<String> = ["a", "b"].into_iter().map(String::from).collect();
        set.extend([String::from("c"), String::from("a")]);
        assert!(["a", "b", "c"].iter().all(|k| set.contains(*k)) && !set.contains("d"));
    }
}
