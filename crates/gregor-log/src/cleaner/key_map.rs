//! The key -> latest offset map of a clean (Kafka's `SkimpyOffsetMap`):
//! keys are stored as a 128-bit hash, not their bytes, so its memory is
//! bounded by `log.cleaner.dedupe.buffer.size` whatever the key sizes.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// Bytes Kafka counts per entry: a 16-byte hash and an 8-byte offset.
const BYTES_PER_ENTRY: usize = 24;
/// Kafka's `log.cleaner.io.buffer.load.factor` default.
const LOAD_FACTOR: f64 = 0.9;

pub struct KeyMap {
    map: HashMap<u128, i64>,
    capacity: usize,
    /// Largest offset put in the map, -1 when empty.
    latest_offset: i64,
}

/// A 128-bit hash from two differently seeded 64-bit SipHashes. The seeds
/// are fixed: only the equality of hashes within one clean matters.
fn hash(key: &[u8]) -> u128 {
    let mut a =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    a.write(key);
    let mut b =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
            .build_hasher();
    b.write_u8(0x5a);
    b.write(key);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

impl KeyMap {
    /// A map for `buffer_bytes` of dedupe buffer (at least one entry).
    pub fn with_buffer(buffer_bytes: usize) -> KeyMap {
        let capacity = ((buffer_bytes / BYTES_PER_ENTRY) as f64 * LOAD_FACTOR) as usize;
        KeyMap {
            map: HashMap::new(),
            capacity: capacity.max(1),
            latest_offset: -1,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `more` new keys might not fit.
    pub fn would_overflow(&self, more: usize) -> bool {
        self.map.len() + more > self.capacity
    }

    pub fn put(&mut self, key: &[u8], offset: i64) {
        self.map.insert(hash(key), offset);
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// The latest offset of `key` in the mapped range, if it was seen.
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&hash(key)).copied()
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_per_key_and_sizes_from_the_buffer() {
        let mut m = KeyMap::with_buffer(24 * 100);
        assert_eq!(m.capacity(), 90);
        m.put(b"a", 1);
        m.put(b"b", 2);
        m.put(b"a", 3);
        assert_eq!(m.get(b"a"), Some(3));
        assert_eq!(m.get(b"b"), Some(2));
        assert_eq!(m.get(b"c"), None);
        assert_eq!(m.len(), 2);
        assert_eq!(m.latest_offset(), 3);
        assert!(m.would_overflow(89));
        assert!(!m.would_overflow(88));
    }
}
