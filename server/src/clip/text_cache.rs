//! A small least-recently-used cache of text embeddings: popular poem lines are searched again
//! and again, and a text-tower run (tens of milliseconds on a CPU) becomes a hash lookup.
//! Keyed by the exact query string; safe to share between threads. Capacity 0 disables it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One cached result: the normalised vector and whether the text was cut at the context length.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedText {
    pub vector: Arc<[f32]>,
    pub truncated: bool,
}

struct Slot {
    value: CachedText,
    last_used: u64,
}

struct Inner {
    map: HashMap<String, Slot>,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// The cache. Lookups and inserts take one short lock; eviction scans for the least recently
/// used entry, which is cheap at the few hundred entries this is meant for.
pub struct TextCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl TextCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(Inner {
                map: HashMap::with_capacity(capacity.min(4096)),
                tick: 0,
                hits: 0,
                misses: 0,
            }),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached embedding of `text`, marking it most recently used.
    pub fn get(&self, text: &str) -> Option<CachedText> {
        if !self.enabled() {
            return None;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let found = inner.map.get_mut(text).map(|slot| {
            slot.last_used = tick;
            slot.value.clone()
        });
        if found.is_some() {
            inner.hits += 1;
        } else {
            inner.misses += 1;
        }
        found
    }

    /// Remember `text`'s embedding, evicting the least recently used entry when full.
    pub fn put(&self, text: &str, value: CachedText) {
        if !self.enabled() {
            return;
        }
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(slot) = inner.map.get_mut(text) {
            slot.value = value;
            slot.last_used = tick;
            return;
        }
        if inner.map.len() >= self.capacity {
            let oldest = inner
                .map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.map.remove(&k);
            }
        }
        inner.map.insert(
            text.to_owned(),
            Slot {
                value,
                last_used: tick,
            },
        );
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (hits, misses) since start.
    pub fn stats(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.hits, inner.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f32) -> CachedText {
        CachedText {
            vector: Arc::from(vec![x, 1.0 - x]),
            truncated: false,
        }
    }

    #[test]
    fn a_hit_returns_the_stored_vector() {
        let c = TextCache::new(4);
        assert!(c.get("夕阳西下").is_none());
        c.put("夕阳西下", v(0.25));
        assert_eq!(c.get("夕阳西下"), Some(v(0.25)));
        assert_eq!(c.stats(), (1, 1));
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let c = TextCache::new(2);
        c.put("a", v(0.1));
        c.put("b", v(0.2));
        assert!(c.get("a").is_some()); // b is now the least recently used
        c.put("c", v(0.3));
        assert_eq!(c.len(), 2);
        assert!(c.get("b").is_none());
        assert_eq!(c.get("a"), Some(v(0.1)));
        assert_eq!(c.get("c"), Some(v(0.3)));
    }

    #[test]
    fn putting_an_existing_key_replaces_it_without_evicting() {
        let c = TextCache::new(2);
        c.put("a", v(0.1));
        c.put("b", v(0.2));
        c.put("a", v(0.5));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a"), Some(v(0.5)));
        assert!(c.get("b").is_some());
    }

    #[test]
    fn capacity_zero_caches_nothing() {
        let c = TextCache::new(0);
        c.put("a", v(0.1));
        assert!(c.get("a").is_none());
        assert!(c.is_empty());
    }
}
