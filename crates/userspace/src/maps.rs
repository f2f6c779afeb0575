//! Maps in shared memory: hash and array maps, each optionally with one
//! value per thread slot (the user-space stand-in for per-CPU values).
//!
//! Lock-free on the hot path: a hash entry is claimed with one
//! compare-and-swap and published with a release store; lookups of live
//! entries are plain loads. Deleted entries keep their key and are
//! revived by the next insert of that key (no reuse by other keys, so a
//! reader never sees an entry change its key).

use std::sync::atomic::{AtomicU32, Ordering};

use crate::region::MapSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MapKind {
    /// Not usable from user space (the program is refused).
    Other = 0,
    Hash = 1,
    PercpuHash = 2,
    Array = 3,
    PercpuArray = 4,
    RingBuf = 5,
    /// Stacks by id (`bpf_get_stackid`): a hash word, then the frames.
    StackTrace = 6,
}

impl MapKind {
    pub fn per_slot(self) -> bool {
        matches!(self, MapKind::PercpuHash | MapKind::PercpuArray)
    }
}

/// Set in a stack id the agent made (its stack map, not the kernel's).
pub const AGENT_STACK: u64 = 1 << 30;

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const LIVE: u32 = 2;
const DELETED: u32 = 3;

// The kernel's map update flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

const ENOENT: i64 = -2;
const E2BIG: i64 = -7;
const EEXIST: i64 = -17;
const EINVAL: i64 = -22;

#[repr(C)]
pub struct MapDesc {
    pub kind: MapKind,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// Hash buckets (a power of two), or the array's length.
    pub buckets: u32,
    /// Values per entry: SLOTS for per-slot maps, else 1.
    pub slots: u32,
    pub data_off: u64,
    pub data_size: u64,
    /// Live entries of a hash map.
    pub count: AtomicU32,
    pub _pad: u32,
}

impl MapDesc {
    pub fn new(m: &MapSpec, slots: u32) -> MapDesc {
        let slots = if m.kind.per_slot() { slots } else { 1 };
        let buckets = match m.kind {
            MapKind::Hash | MapKind::PercpuHash => (m.max_entries.max(1) * 2).next_power_of_two(),
            MapKind::Array | MapKind::PercpuArray | MapKind::StackTrace => m.max_entries,
            _ => 0,
        };
        let mut d = MapDesc {
            kind: m.kind,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            buckets,
            slots,
            data_off: 0,
            data_size: 0,
            count: AtomicU32::new(0),
            _pad: 0,
        };
        d.data_size = u64::from(buckets) * d.entry_size() as u64;
        d
    }

    fn is_hash(&self) -> bool {
        matches!(self.kind, MapKind::Hash | MapKind::PercpuHash)
    }

    /// The distance between two slots' values (the kernel's per-CPU
    /// stride: the value rounded up to 8 bytes).
    pub fn stride(&self) -> usize {
        (self.value_size as usize).next_multiple_of(8)
    }

    fn key_bytes(&self) -> usize {
        (self.key_size as usize).next_multiple_of(8)
    }

    /// Hash entries: state word, hash, key, values; array entries: values.
    pub fn entry_size(&self) -> usize {
        let values = self.stride() * self.slots as usize;
        match self.kind {
            MapKind::StackTrace => 8 + values,
            _ if self.is_hash() => 8 + self.key_bytes() + values,
            _ => values,
        }
    }
}

/// One map's entries in shared memory.
pub struct Map<'r> {
    pub desc: &'r MapDesc,
    pub data: *mut u8,
}

// SAFETY: the data is shared memory used through atomics and the
// protocol above, valid while the region is mapped.
unsafe impl Send for Map<'_> {}
// SAFETY: as above.
unsafe impl Sync for Map<'_> {}

/// Whether two keys are equal, compared a word at a time here rather than
/// by the C library's memcmp: on the hot path of every lookup, and the
/// C library's may use AVX-512, whose state the trampoline must then save
/// and restore at more cost.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let words = a.len() / 8;
    let word = |s: &[u8], i: usize| u64::from_ne_bytes(s[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    (0..words).all(|i| word(a, i) == word(b, i)) && a[words * 8..].iter().zip(&b[words * 8..]).all(|(x, y)| x == y)
}

fn hash(key: &[u8]) -> u64 {
    // FNV-1a: keys are a few words.
    key.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

impl<'r> Map<'r> {
    fn entry(&self, i: usize) -> *mut u8 {
        // SAFETY: i < buckets, inside the map's data.
        unsafe { self.data.add(i * self.desc.entry_size()) }
    }

    fn state(&self, e: *mut u8) -> &AtomicU32 {
        // SAFETY: every hash entry starts with its state word, 8-aligned.
        unsafe { &*(e as *const AtomicU32) }
    }

    fn key_of(&self, e: *mut u8) -> &[u8] {
        // SAFETY: the key follows the state and hash words.
        unsafe { std::slice::from_raw_parts(e.add(8), self.desc.key_size as usize) }
    }

    fn values_of(&self, e: *mut u8) -> *mut u8 {
        if self.desc.is_hash() {
            // SAFETY: the values follow the key.
            unsafe { e.add(8 + self.desc.key_bytes()) }
        } else {
            e
        }
    }

    /// The value of `slot` in an entry's values.
    fn slot_value(&self, values: *mut u8, slot: u32) -> *mut u8 {
        let slot = if self.desc.slots > 1 { slot % self.desc.slots } else { 0 };
        // SAFETY: slot < slots.
        unsafe { values.add(slot as usize * self.desc.stride()) }
    }

    /// The entry of `key`: for a hash map, found by probing from its hash
    /// bucket (`Ok`), else the first empty bucket on the way (`Err`).
    fn find(&self, key: &[u8]) -> Result<*mut u8, Option<usize>> {
        let mask = self.desc.buckets as usize - 1;
        let start = hash(key) as usize & mask;
        for n in 0..self.desc.buckets as usize {
            let i = (start + n) & mask;
            let e = self.entry(i);
            loop {
                match self.state(e).load(Ordering::Acquire) {
                    EMPTY => return Err(Some(i)),
                    // Another thread is writing this entry's key.
                    WRITING => std::hint::spin_loop(),
                    _ => break,
                }
            }
            if same_bytes(self.key_of(e), key) {
                return Ok(e);
            }
        }
        Err(None)
    }

    fn array_entry(&self, key: &[u8]) -> Option<*mut u8> {
        let index = u32::from_le_bytes(key.get(..4)?.try_into().ok()?);
        (index < self.desc.buckets).then(|| self.entry(index as usize))
    }

    /// `bpf_map_lookup_elem`: the value (this slot's, per slot), or null.
    pub fn lookup(&self, key: &[u8], slot: u32) -> *mut u8 {
        let e = if self.desc.is_hash() {
            match self.find(key) {
                Ok(e) if self.state(e).load(Ordering::Acquire) == LIVE => e,
                _ => return std::ptr::null_mut(),
            }
        } else {
            match self.array_entry(key) {
                Some(e) => e,
                None => return std::ptr::null_mut(),
            }
        };
        self.slot_value(self.values_of(e), slot)
    }

    /// `bpf_map_update_elem`: 0 or a negative errno, as the kernel's.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64, slot: u32) -> i64 {
        if flags > BPF_EXIST {
            return EINVAL;
        }
        if !self.desc.is_hash() {
            let Some(e) = self.array_entry(key) else { return E2BIG };
            if flags == BPF_NOEXIST {
                return EEXIST;
            }
            self.write_value(self.values_of(e), value, slot, false);
            return 0;
        }
        loop {
            match self.find(key) {
                Ok(e) => {
                    let state = self.state(e);
                    match state.load(Ordering::Acquire) {
                        LIVE => {
                            if flags == BPF_NOEXIST {
                                return EEXIST;
                            }
                            self.write_value(self.values_of(e), value, slot, false);
                            return 0;
                        }
                        DELETED => {
                            if flags == BPF_EXIST {
                                return ENOENT;
                            }
                            if !self.reserve() {
                                return E2BIG;
                            }
                            if state.compare_exchange(DELETED, WRITING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                                self.desc.count.fetch_sub(1, Ordering::Relaxed);
                                continue;
                            }
                            self.write_value(self.values_of(e), value, slot, true);
                            state.store(LIVE, Ordering::Release);
                            return 0;
                        }
                        _ => continue,
                    }
                }
                Err(None) => return E2BIG,
                Err(Some(i)) => {
                    if flags == BPF_EXIST {
                        return ENOENT;
                    }
                    if !self.reserve() {
                        return E2BIG;
                    }
                    let e = self.entry(i);
                    let state = self.state(e);
                    if state.compare_exchange(EMPTY, WRITING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                        // Taken meanwhile (maybe by this very key): look again.
                        self.desc.count.fetch_sub(1, Ordering::Relaxed);
                        continue;
                    }
                    // SAFETY: the entry is ours while WRITING: its hash word and key.
                    unsafe {
                        std::ptr::write(e.add(4).cast::<u32>(), hash(key) as u32);
                        std::ptr::copy_nonoverlapping(key.as_ptr(), e.add(8), key.len());
                    }
                    self.write_value(self.values_of(e), value, slot, true);
                    state.store(LIVE, Ordering::Release);
                    return 0;
                }
            }
        }
    }

    /// Counts one more live entry, unless the map is full.
    fn reserve(&self) -> bool {
        let n = self.desc.count.fetch_add(1, Ordering::Relaxed);
        if n >= self.desc.max_entries {
            self.desc.count.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Writes `value` into `slot` (clearing the other slots of a new
    /// entry, as the kernel zeroes the other CPUs' values).
    fn write_value(&self, values: *mut u8, value: &[u8], slot: u32, new: bool) {
        let size = (self.desc.value_size as usize).min(value.len());
        if new {
            // SAFETY: all the entry's values.
            unsafe { std::ptr::write_bytes(values, 0, self.desc.stride() * self.desc.slots as usize) };
        }
        // SAFETY: one slot's value.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), self.slot_value(values, slot), size) };
    }

    /// `bpf_map_delete_elem`.
    pub fn delete(&self, key: &[u8]) -> i64 {
        if !self.desc.is_hash() {
            return EINVAL;
        }
        match self.find(key) {
            Ok(e) if self.state(e).compare_exchange(LIVE, DELETED, Ordering::AcqRel, Ordering::Acquire).is_ok() => {
                self.desc.count.fetch_sub(1, Ordering::Relaxed);
                0
            }
            _ => ENOENT,
        }
    }

    /// Every live entry: its key and all its slots' values (each
    /// [`MapDesc::stride`] bytes apart, as the kernel lays out per-CPU
    /// values).
    pub fn for_each(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let values_len = self.desc.stride() * self.desc.slots as usize;
        for i in 0..self.desc.buckets as usize {
            let e = self.entry(i);
            let key_buf;
            let key: &[u8] = if self.desc.is_hash() {
                if self.state(e).load(Ordering::Acquire) != LIVE {
                    continue;
                }
                self.key_of(e)
            } else {
                key_buf = (i as u32).to_le_bytes();
                &key_buf
            };
            // SAFETY: the entry's values.
            let values = unsafe { std::slice::from_raw_parts(self.values_of(e), values_len) };
            f(key, values);
        }
    }

    /// `bpf_get_stackid`'s store: the id of `frames` (its hash's bucket),
    /// or -EEXIST where another stack has that bucket (the kernel's
    /// answer without BPF_F_REUSE_STACKID).
    pub fn stack_id(&self, frames: &[u64]) -> i64 {
        if self.desc.kind != MapKind::StackTrace || self.desc.buckets == 0 {
            return EINVAL;
        }
        let bytes: Vec<u8> = frames.iter().flat_map(|f| f.to_le_bytes()).collect();
        // Never 0: 0 marks an empty bucket.
        let h = hash(&bytes) | 1;
        let id = (h % u64::from(self.desc.buckets)) as usize;
        let e = self.entry(id);
        // SAFETY: each stack entry starts with its 8-aligned hash word.
        let word = unsafe { &*(e as *const std::sync::atomic::AtomicU64) };
        match word.compare_exchange(0, h, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let size = (self.desc.value_size as usize).min(bytes.len());
                // SAFETY: the entry's frames, claimed by the exchange.
                unsafe {
                    std::ptr::write_bytes(e.add(8), 0, self.desc.value_size as usize);
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), e.add(8), size);
                }
                id as i64
            }
            Err(seen) if seen == h => id as i64,
            Err(_) => EEXIST,
        }
    }

    /// The frames of stack `id`, as the kernel's stack map value.
    pub fn stack(&self, id: u32) -> Option<Vec<u8>> {
        if self.desc.kind != MapKind::StackTrace || id >= self.desc.buckets {
            return None;
        }
        let e = self.entry(id as usize);
        // SAFETY: as in stack_id.
        if unsafe { &*(e as *const std::sync::atomic::AtomicU64) }.load(Ordering::Acquire) == 0 {
            return None;
        }
        // SAFETY: the entry's frames.
        Some(unsafe { std::slice::from_raw_parts(e.add(8), self.desc.value_size as usize) }.to_vec())
    }

    /// Sets every value of every entry to zero, keeping the keys.
    pub fn zero(&self) {
        let size = self.desc.stride() * self.desc.slots as usize;
        for i in 0..self.desc.buckets as usize {
            let e = self.entry(i);
            if !self.desc.is_hash() || self.state(e).load(Ordering::Acquire) == LIVE {
                // SAFETY: the entry's values.
                unsafe { std::ptr::write_bytes(self.values_of(e), 0, size) };
            }
        }
    }

    /// Deletes every entry (hash), or zeroes every value (array).
    pub fn clear(&self) {
        if self.desc.is_hash() {
            let mut keys = Vec::new();
            self.for_each(|k, _| keys.push(k.to_vec()));
            for k in keys {
                self.delete(&k);
            }
        } else {
            // SAFETY: the array's data.
            unsafe { std::ptr::write_bytes(self.data, 0, self.desc.data_size as usize) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kind: MapKind, key_size: u32, value_size: u32, max_entries: u32) -> (Box<MapDesc>, Vec<u64>) {
        let d = Box::new(MapDesc::new(&MapSpec { kind, key_size, value_size, max_entries }, 4));
        let words = vec![0u64; d.data_size as usize / 8 + 1];
        (d, words)
    }

    #[test]
    fn a_hash_map_inserts_finds_updates_and_deletes() {
        let (d, mut words) = map(MapKind::Hash, 4, 8, 3);
        let m = Map { desc: &d, data: words.as_mut_ptr().cast() };
        assert!(m.lookup(&1u32.to_le_bytes(), 0).is_null());
        assert_eq!(m.update(&1u32.to_le_bytes(), &7u64.to_le_bytes(), BPF_ANY, 0), 0);
        assert_eq!(m.update(&1u32.to_le_bytes(), &8u64.to_le_bytes(), BPF_NOEXIST, 0), EEXIST);
        assert_eq!(m.update(&2u32.to_le_bytes(), &9u64.to_le_bytes(), BPF_EXIST, 0), ENOENT);
        // SAFETY: lookup returned the live value.
        assert_eq!(unsafe { *(m.lookup(&1u32.to_le_bytes(), 0) as *const u64) }, 7);
        assert_eq!(m.update(&2u32.to_le_bytes(), &9u64.to_le_bytes(), BPF_ANY, 0), 0);
        assert_eq!(m.update(&3u32.to_le_bytes(), &9u64.to_le_bytes(), BPF_ANY, 0), 0);
        // Full at max_entries, as the kernel's.
        assert_eq!(m.update(&4u32.to_le_bytes(), &9u64.to_le_bytes(), BPF_ANY, 0), E2BIG);
        assert_eq!(m.delete(&2u32.to_le_bytes()), 0);
        assert_eq!(m.delete(&2u32.to_le_bytes()), ENOENT);
        assert_eq!(m.update(&4u32.to_le_bytes(), &10u64.to_le_bytes(), BPF_ANY, 0), 0);
        let mut seen = Vec::new();
        m.for_each(|k, v| seen.push((k.to_vec(), v.to_vec())));
        seen.sort();
        let entry = |k: u32, v: u64| (k.to_le_bytes().to_vec(), v.to_le_bytes().to_vec());
        assert_eq!(seen, vec![entry(1, 7), entry(3, 9), entry(4, 10)]);
    }

    #[test]
    fn per_slot_values_are_apart_and_a_new_entry_clears_the_others() {
        let (d, mut words) = map(MapKind::PercpuHash, 8, 8, 16);
        let m = Map { desc: &d, data: words.as_mut_ptr().cast() };
        let key = 42u64.to_le_bytes();
        assert_eq!(m.update(&key, &5u64.to_le_bytes(), BPF_ANY, 2), 0);
        assert_eq!(m.update(&key, &6u64.to_le_bytes(), BPF_ANY, 1), 0);
        let mut all = Vec::new();
        m.for_each(|_, v| all = v.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect());
        assert_eq!(all, vec![0, 6, 5, 0]);
    }

    #[test]
    fn threads_inserting_the_same_keys_make_one_entry_each() {
        let (d, mut words) = map(MapKind::PercpuHash, 8, 8, 64);
        let data = words.as_mut_ptr() as usize;
        let desc: &MapDesc = &d;
        std::thread::scope(|s| {
            for t in 0..4u32 {
                s.spawn(move || {
                    let m = Map { desc, data: data as *mut u8 };
                    for n in 0..10_000u64 {
                        let key = (n % 50).to_le_bytes();
                        let v = m.lookup(&key, t);
                        if v.is_null() {
                            // Another thread may have inserted it first.
                            if m.update(&key, &1u64.to_le_bytes(), BPF_NOEXIST, t) != 0 {
                                // SAFETY: this thread's slot of a live entry.
                                unsafe { *(m.lookup(&key, t) as *mut u64) += 1 };
                            }
                        } else {
                            // SAFETY: as above.
                            unsafe { *(v as *mut u64) += 1 };
                        }
                    }
                });
            }
        });
        let m = Map { desc, data: data as *mut u8 };
        let (mut keys, mut total) = (0, 0u64);
        m.for_each(|_, v| {
            keys += 1;
            total += v.chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).sum::<u64>();
        });
        assert_eq!(keys, 50);
        assert_eq!(total, 40_000);
    }
}
