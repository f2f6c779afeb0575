//! Reads the BPF ring buffer in place. The kernel maps the ring's pages
//! into this process (the data pages twice in a row, so that a record that
//! wraps around the end is still one slice); each record is handed to the
//! consumer where it lies, and its space is given back once handled. No
//! record is copied, and nothing is allocated per record.
//!
//! The layout is the kernel's (`kernel/bpf/ringbuf.c`): a page holding the
//! consumer position (ours to write), a page holding the producer position,
//! then the data; each record starts with an 8-byte header (length, with
//! a busy and a discard bit) and takes its length rounded up to 8 bytes.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The producer has reserved the record but not committed it yet.
const BUSY_BIT: u32 = 1 << 31;
/// The producer reserved the record, then discarded it.
const DISCARD_BIT: u32 = 1 << 30;
const HEADER_SIZE: u64 = 8;

/// A ring buffer map, mapped for reading, with an epoll set to wait on it.
pub struct RingReader {
    /// The consumer position's page (read-write).
    consumer: Mapping,
    /// The producer position's page followed by the data, twice (read-only).
    producer: Mapping,
    page_size: usize,
    mask: u64,
    epoll: std::os::fd::OwnedFd,
    /// Eventfds that also wake `wait` (read empty when they do).
    wakers: Vec<std::os::fd::RawFd>,
}

/// One `mmap`ed region, unmapped when dropped.
struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: addr and len are those mmap returned; nothing borrows
        // the region past the reader's life.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

fn mmap(fd: BorrowedFd<'_>, len: usize, prot: libc::c_int, offset: usize) -> io::Result<Mapping> {
    let offset = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a fresh shared mapping of the map's fd; the kernel checks
    // the length, protection and offset against the ring's size.
    let addr = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), offset) };
    if addr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(Mapping { addr, len })
}

impl RingReader {
    /// Maps the ring buffer map `fd` of `size` bytes (its max_entries, a
    /// power of two and a multiple of the page size).
    pub fn new(fd: BorrowedFd<'_>, size: u32) -> io::Result<RingReader> {
        // SAFETY: sysconf has no preconditions.
        let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let size = size as usize;
        if !size.is_power_of_two() || !size.is_multiple_of(page_size) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the ring's size is not a power of two of pages"));
        }
        let consumer = mmap(fd, page_size, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = mmap(fd, page_size + 2 * size, libc::PROT_READ, page_size)?;
        // SAFETY: epoll_create1 has no preconditions; the fd is owned below.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: epfd is a new descriptor nothing else owns.
        let epoll = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(epfd) };
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        // SAFETY: both descriptors are open; ev is a valid event.
        if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RingReader { consumer, producer, page_size, mask: size as u64 - 1, epoll, wakers: Vec::new() })
    }

    fn consumer_pos(&self) -> &AtomicU64 {
        // SAFETY: the page is mapped for the reader's life, 8-aligned.
        unsafe { &*(self.consumer.addr as *const AtomicU64) }
    }

    fn producer_pos(&self) -> &AtomicU64 {
        // SAFETY: as above; the kernel writes it, we only read.
        unsafe { &*(self.producer.addr as *const AtomicU64) }
    }

    /// The byte at ring position `pos` (its data doubly mapped).
    fn data(&self, pos: u64) -> *const u8 {
        // SAFETY: page_size + (pos & mask) stays inside the mapping.
        unsafe { (self.producer.addr as *const u8).add(self.page_size + (pos & self.mask) as usize) }
    }

    /// A ring laid out as the kernel's in a memfd (`--user-probes`):
    /// its consumer page at `offset`, then its producer page and data,
    /// the data mapped twice in a row as the kernel maps it. `waker` is
    /// the eventfd its producers write when the reader may sleep.
    pub fn from_memfd(
        fd: BorrowedFd<'_>,
        offset: usize,
        size: u32,
        waker: Option<BorrowedFd<'_>>,
    ) -> io::Result<RingReader> {
        let page_size = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let size = size as usize;
        let consumer = mmap(fd, page_size, libc::PROT_READ | libc::PROT_WRITE, offset)?;
        let len = page_size + 2 * size;
        // SAFETY: a new private reservation; the two shared mappings
        // below replace its parts (MAP_FIXED inside our own reservation).
        let base = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let producer = Mapping { addr: base, len };
        for (at, file_offset, length) in
            [(0, offset + page_size, page_size + size), (page_size + size, offset + 2 * page_size, size)]
        {
            let file_offset =
                libc::off_t::try_from(file_offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
            // SAFETY: inside the reservation made above.
            let p = unsafe {
                libc::mmap(
                    (base as *mut u8).add(at).cast(),
                    length,
                    libc::PROT_READ,
                    libc::MAP_SHARED | libc::MAP_FIXED,
                    fd.as_raw_fd(),
                    file_offset,
                )
            };
            if p == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: epoll_create1 has no preconditions; the fd is owned below.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: just made.
        let epoll = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(epfd) };
        let mut reader = RingReader { consumer, producer, page_size, mask: size as u64 - 1, epoll, wakers: Vec::new() };
        if let Some(waker) = waker {
            reader.wake_on(waker)?;
        }
        Ok(reader)
    }

    /// Wakes `wait` when `fd` (an eventfd, non-blocking) is written too;
    /// the caller keeps it open while this reader is used.
    pub fn wake_on(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 1 };
        // SAFETY: both descriptors are open.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.wakers.push(fd.as_raw_fd());
        Ok(())
    }

    /// Waits up to `timeout` until there is something to read.
    pub fn wait(&self, timeout: Duration) -> io::Result<()> {
        if self.pending() {
            return Ok(());
        }
        let result = self.wait_epoll(timeout);
        for &fd in &self.wakers {
            let mut count = [0u8; 8];
            // SAFETY: an 8-byte read from a non-blocking eventfd we were
            // given (empty: EAGAIN, ignored).
            unsafe { libc::read(fd, count.as_mut_ptr().cast(), 8) };
        }
        result
    }

    fn wait_epoll(&self, timeout: Duration) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: ev has room for the one event asked for.
        let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut ev, 1, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }

    /// Whether records are waiting.
    pub fn pending(&self) -> bool {
        self.consumer_pos().load(Ordering::Relaxed) < self.producer_pos().load(Ordering::Acquire)
    }

    /// Hands each committed record to `on_record` where it lies in the
    /// ring, oldest first, giving its space back after; stops at a record
    /// still being written, or when `on_record` says stop (false).
    /// Returns how many records were handed over.
    pub fn consume(&self, mut on_record: impl FnMut(&[u8]) -> bool) -> usize {
        let mut n = 0;
        let mut cons = self.consumer_pos().load(Ordering::Relaxed);
        // One pass up to where the producer is now: a producer that never
        // pauses does not keep the caller from its other work.
        let prod = self.producer_pos().load(Ordering::Acquire);
        while cons < prod {
            // SAFETY: the header is 8-aligned inside the data pages.
            let header = unsafe { &*(self.data(cons) as *const AtomicU32) }.load(Ordering::Acquire);
            if header & BUSY_BIT != 0 {
                break;
            }
            let len = header & !(BUSY_BIT | DISCARD_BIT);
            let go_on = if header & DISCARD_BIT == 0 {
                n += 1;
                // SAFETY: the kernel committed `len` bytes after the header,
                // and keeps them until the consumer position passes them
                // (stored below, after use).
                let record = unsafe { std::slice::from_raw_parts(self.data(cons + HEADER_SIZE), len as usize) };
                on_record(record)
            } else {
                true
            };
            cons += (u64::from(len) + HEADER_SIZE).next_multiple_of(8);
            self.consumer_pos().store(cons, Ordering::Release);
            if !go_on {
                break;
            }
        }
        n
    }
}
