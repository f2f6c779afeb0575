//! Reading every entry of a map from the kernel: thousands of entries a
//! system call (`BPF_MAP_LOOKUP_BATCH`) where the kernel and the map type
//! allow it, else key by key (two system calls an entry).

use std::os::fd::{AsFd, AsRawFd};

use libbpf_rs::{MapCore, MapFlags, MapHandle};

/// The bytes of entries one batch call may return: a million small
/// entries take a few dozen calls, and the buffers stay a small part of
/// the peak memory.
const BATCH_BYTES: usize = 1 << 20;

/// One entry's value as the kernel gives it: for a per-CPU map, every
/// possible CPU's value, each `stride` bytes from the last.
#[derive(Clone, Copy)]
pub struct Values<'a> {
    bytes: &'a [u8],
    stride: usize,
    size: usize,
}

impl<'a> Values<'a> {
    /// Values `stride` bytes apart, each `size` bytes.
    pub fn new(bytes: &'a [u8], stride: usize, size: usize) -> Values<'a> {
        Values { bytes, stride, size }
    }

    /// All the bytes, as the kernel gave them.
    pub fn raw(&self) -> &'a [u8] {
        self.bytes
    }

    /// The value (the first CPU's, in a per-CPU map).
    pub fn first(&self) -> &'a [u8] {
        &self.bytes[..self.size.min(self.bytes.len())]
    }

    /// Each CPU's value (the value alone, in a map not per CPU).
    pub fn cpus(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let size = self.size;
        self.bytes.chunks(self.stride.max(1)).map(move |c| &c[..size.min(c.len())])
    }
}

/// How a map's keys and values lie in the buffers the kernel fills.
#[derive(Clone, Copy)]
struct Layout {
    key_size: usize,
    value_size: usize,
    /// Per-CPU values are padded to 8 bytes each, one per possible CPU.
    stride: usize,
    cpus: usize,
}

impl Layout {
    fn of(handle: &MapHandle, per_cpu: bool) -> Option<Layout> {
        let key_size = handle.key_size() as usize;
        let value_size = handle.value_size() as usize;
        if !per_cpu {
            return Some(Layout { key_size, value_size, stride: value_size, cpus: 1 });
        }
        let cpus = libbpf_rs::num_possible_cpus().ok()?.max(1);
        Some(Layout { key_size, value_size, stride: value_size.next_multiple_of(8), cpus })
    }

    /// The bytes of one entry's values, as the kernel writes them.
    fn value_bytes(&self) -> usize {
        self.stride * self.cpus
    }

    fn values<'a>(&self, bytes: &'a [u8]) -> Values<'a> {
        Values { bytes, stride: self.stride, size: self.value_size }
    }
}

/// Hands every entry to `f`, read in batches. `Err` (an errno) where the
/// kernel refuses batches for this map (`EINVAL`, `ENOTSUP`, ...) or a
/// call fails part-way: `f` may have seen some entries by then, so the
/// caller starts again with `for_each_by_key`.
pub fn for_each_batched(handle: &MapHandle, per_cpu: bool, f: &mut dyn FnMut(&[u8], Values<'_>)) -> Result<(), i32> {
    read_batches(handle, per_cpu, BATCH_BYTES, f)
}

/// `for_each_batched` with batches of about `batch_bytes` to start with.
fn read_batches(
    handle: &MapHandle,
    per_cpu: bool,
    batch_bytes: usize,
    f: &mut dyn FnMut(&[u8], Values<'_>),
) -> Result<(), i32> {
    let layout = Layout::of(handle, per_cpu).ok_or(libc::EINVAL)?;
    let entry_bytes = (layout.key_size + layout.value_bytes()).max(1);
    let max_entries = (handle.max_entries() as usize).max(1);
    let mut count = (batch_bytes / entry_bytes).clamp(1, max_entries);
    let mut keys = vec![0u8; count * layout.key_size];
    let mut values = vec![0u8; count * layout.value_bytes()];
    // Where the next batch starts: a hash map's bucket number (4 bytes),
    // an array's key; opaque to us, and only ever copied back.
    let token_size = layout.key_size.max(8);
    let (mut resume, mut next) = (vec![0u8; token_size], vec![0u8; token_size]);
    let mut started = false;
    let fd = handle.as_fd().as_raw_fd();
    let opts = batch_opts();
    loop {
        let mut n = count as u32;
        let resume_ptr = if started { resume.as_mut_ptr().cast() } else { std::ptr::null_mut() };
        // SAFETY: the key and value buffers hold `count` entries of the
        // sizes the kernel writes for this map (per-CPU values included);
        // the tokens are at least as large as the kernel's (a key, or 4
        // bytes); `n` says how many entries there is room for.
        let rc = unsafe {
            libbpf_sys::bpf_map_lookup_batch(
                fd,
                resume_ptr,
                next.as_mut_ptr().cast(),
                keys.as_mut_ptr().cast(),
                values.as_mut_ptr().cast(),
                &mut n,
                &opts,
            )
        };
        match -rc {
            0 | libc::ENOENT => {
                let got = (n as usize).min(count);
                let entries = keys.chunks_exact(layout.key_size.max(1)).zip(values.chunks_exact(entry_values(&layout)));
                for (key, value) in entries.take(got) {
                    f(key, layout.values(value));
                }
                // ENOENT: that was the last batch.
                if rc != 0 {
                    return Ok(());
                }
                std::mem::swap(&mut resume, &mut next);
                started = true;
            }
            libc::EINTR => {}
            // One hash bucket holds more entries than the batch has room
            // for: the same call again, with room for twice as many.
            libc::ENOSPC if count < max_entries => {
                count = (count * 2).min(max_entries);
                keys.resize(count * layout.key_size, 0);
                values.resize(count * layout.value_bytes(), 0);
            }
            errno => return Err(errno),
        }
    }
}

/// A chunk size for the values buffer that is never zero (`chunks_exact`
/// refuses 0; a map's values are never empty, but the kernel decides).
fn entry_values(layout: &Layout) -> usize {
    layout.value_bytes().max(1)
}

fn batch_opts() -> libbpf_sys::bpf_map_batch_opts {
    // Flags zero: no lock taken for the values, and no others exist. Built
    // from the default, as some targets add padding fields to the struct.
    libbpf_sys::bpf_map_batch_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
        ..libbpf_sys::bpf_map_batch_opts::default()
    }
}

/// Hands every entry to `f`, looked up key by key: for kernels or map
/// types without batch lookups. Entries deleted while the walk goes on
/// are left out.
pub fn for_each_by_key(handle: &MapHandle, per_cpu: bool, f: &mut dyn FnMut(&[u8], Values<'_>)) {
    let Some(layout) = Layout::of(handle, per_cpu) else { return };
    let mut value = vec![0u8; layout.value_bytes()];
    for key in handle.keys() {
        if per_cpu {
            let Ok(Some(cpus)) = handle.lookup_percpu(&key, MapFlags::ANY) else { continue };
            // Laid out as a batch lays them out, so one reader fits both.
            value.clear();
            for cpu in cpus {
                let start = value.len();
                value.extend_from_slice(&cpu);
                value.resize(start + layout.stride, 0);
            }
        } else if !matches!(handle.lookup_into(&key, &mut value, MapFlags::ANY), Ok(true)) {
            continue;
        }
        f(&key, layout.values(&value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libbpf_rs::MapType;

    /// Every entry, sorted: read in batches of about `batch_bytes`, or
    /// (for `None`) key by key.
    fn entries(handle: &MapHandle, per_cpu: bool, batch_bytes: Option<usize>) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        let mut add = |k: &[u8], v: Values<'_>| out.push((k.to_vec(), v.cpus().map(<[u8]>::to_vec).collect()));
        match batch_bytes {
            Some(bytes) => read_batches(handle, per_cpu, bytes, &mut add)
                .expect("this kernel reads hash maps and arrays in batches"),
            None => for_each_by_key(handle, per_cpu, &mut add),
        }
        out.sort();
        out
    }

    /// Both ways of reading give the same entries, for every map type
    /// programs use, per-CPU ones included (whose values are padded to 8
    /// bytes per CPU), with more entries than one batch holds, and with
    /// batches too small for a hash bucket.
    #[test]
    fn batches_and_key_walk_agree() {
        if !is_root() {
            eprintln!("skipped: creating maps needs root");
            return;
        }
        let cpus = libbpf_rs::num_possible_cpus().expect("possible CPUs");
        for (ty, per_cpu, n) in [
            (MapType::Hash, false, 100_000u32),
            (MapType::PercpuHash, true, 70_000),
            (MapType::Array, false, 50),
            (MapType::PercpuArray, true, 50),
        ] {
            let opts = libbpf_sys::bpf_map_create_opts {
                sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
                ..Default::default()
            };
            // A 12-byte value: per-CPU values are padded to 16.
            let map = MapHandle::create(ty, Some("t"), 4, 12, n, &opts).expect("creates the map");
            for i in 0..n {
                let value: Vec<u8> = [i.to_le_bytes(), (!i).to_le_bytes(), 7u32.to_le_bytes()].concat();
                if per_cpu {
                    let per: Vec<Vec<u8>> =
                        (0..cpus).map(|c| [&value[..8], &(c as u32).to_le_bytes()].concat()).collect();
                    map.update_percpu(&i.to_le_bytes(), &per, MapFlags::ANY).expect("updates");
                } else {
                    map.update(&i.to_le_bytes(), &value, MapFlags::ANY).expect("updates");
                }
            }
            let batched = entries(&map, per_cpu, Some(BATCH_BYTES));
            assert_eq!(batched.len(), n as usize, "{ty:?}");
            assert_eq!(batched, entries(&map, per_cpu, None), "{ty:?}");
            // Room for one entry a call: a hash bucket of two or more asks
            // for a bigger batch (ENOSPC), which is made and read.
            assert_eq!(batched, entries(&map, per_cpu, Some(1)), "{ty:?}, one entry a batch");
            let (key, cpu_values) = &batched[batched.len() - 1];
            assert_eq!(cpu_values.len(), if per_cpu { cpus } else { 1 }, "{ty:?}");
            assert!(cpu_values.iter().all(|v| v.len() == 12 && v[..4] == key[..]), "{ty:?}");
        }
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }
}
