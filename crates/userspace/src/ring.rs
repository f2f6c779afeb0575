//! The ring buffer's producer side, on the kernel's `BPF_MAP_TYPE_RINGBUF`
//! layout: a consumer page (the consumer position), a producer page (the
//! producer position), then the data, where each record is an 8-byte
//! header (length, busy and discard bits) and its bytes, 8-aligned. The
//! tracer reads it with the same code as the kernel's ring.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::region::{PAGE, Region};

pub const BUSY_BIT: u32 = 1 << 31;
const HEADER_SIZE: u64 = 8;
const EAGAIN: i64 = -11;

pub struct Producer<'r> {
    consumer: &'r AtomicU64,
    producer: &'r AtomicU64,
    data: *mut u8,
    size: u64,
    lock: &'r AtomicU32,
    eventfd: i32,
}

// SAFETY: producers reserve under the ring's lock and publish with
// release stores; the data stays mapped while the region is.
unsafe impl Send for Producer<'_> {}
// SAFETY: as above.
unsafe impl Sync for Producer<'_> {}

impl<'r> Producer<'r> {
    pub fn of(region: &'r Region) -> Option<Producer<'r>> {
        let ring = region.ring()?;
        let h = region.header();
        // SAFETY: the ring's pages, as the builder laid them out.
        unsafe {
            Some(Producer {
                consumer: &*(ring as *const AtomicU64),
                producer: &*(ring.add(PAGE) as *const AtomicU64),
                data: ring.add(2 * PAGE),
                size: h.ring_size,
                lock: &h.ring_lock,
                eventfd: h.eventfd,
            })
        }
    }

    /// `bpf_ringbuf_output`: 0, or -EAGAIN when the ring is full.
    pub fn output(&self, bytes: &[u8]) -> i64 {
        let len = bytes.len() as u64;
        let total = (len + HEADER_SIZE).next_multiple_of(8);
        if len >= u64::from(BUSY_BIT >> 1) || total > self.size {
            return -22;
        }
        while self.lock.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        let pos = self.producer.load(Ordering::Relaxed);
        if pos + total - self.consumer.load(Ordering::Acquire) > self.size {
            self.lock.store(0, Ordering::Release);
            return EAGAIN;
        }
        let header = self.header(pos);
        header.store(len as u32 | BUSY_BIT, Ordering::Relaxed);
        self.producer.store(pos + total, Ordering::Release);
        self.lock.store(0, Ordering::Release);
        self.copy(pos + HEADER_SIZE, bytes);
        header.store(len as u32, Ordering::Release);
        // As the kernel: wake the reader when it had read everything
        // before this record (it may be asleep).
        if self.consumer.load(Ordering::Acquire) == pos && self.eventfd >= 0 {
            let one = 1u64.to_ne_bytes();
            // SAFETY: an 8-byte write to the eventfd.
            unsafe { libc::write(self.eventfd, one.as_ptr().cast(), 8) };
        }
        0
    }

    fn header(&self, pos: u64) -> &AtomicU32 {
        // SAFETY: headers are 8-aligned and never wrap (sizes are powers
        // of two of at least a page).
        unsafe { &*(self.data.add((pos & (self.size - 1)) as usize) as *const AtomicU32) }
    }

    /// Copies `bytes` to `pos`, wrapping at the end of the data.
    fn copy(&self, pos: u64, bytes: &[u8]) {
        let at = (pos & (self.size - 1)) as usize;
        let first = bytes.len().min(self.size as usize - at);
        // SAFETY: both parts lie inside the data.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(at), first);
            std::ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.data, bytes.len() - first);
        }
    }
}
