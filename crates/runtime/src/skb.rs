//! `skboutput()`'s packets: read from the perf buffer `bpf_skb_output`
//! writes to, and appended to each call's pcap file.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use libbpf_rs::{MapHandle, PerfBuffer, PerfBufferBuilder};

use crate::pcap::PcapWriter;
use crate::{LoadError, RunError};

/// The header each packet comes after: (bytes asked for, call id, boot
/// time in ns). The perf buffer pads samples to 8 bytes.
const HEADER: usize = 24;

pub struct SkbOutput {
    buffer: PerfBuffer<'static>,
    packets: Rc<RefCell<Vec<Vec<u8>>>>,
    lost: Rc<Cell<u64>>,
    /// Per call id: its file (index into `files`) and packet offset.
    calls: Vec<(usize, u64)>,
    files: Vec<PcapWriter>,
    /// Wall-clock time less boot time, in ns.
    boot_to_wall: i128,
}

impl SkbOutput {
    /// Creates (or truncates) every call's file, one per distinct path.
    pub fn open(map: &MapHandle, outputs: &[(String, u64)]) -> Result<SkbOutput, RunError> {
        let mut by_path: HashMap<&str, usize> = HashMap::new();
        let mut files = Vec::new();
        let mut calls = Vec::new();
        for (path, offset) in outputs {
            let index = match by_path.get(path.as_str()) {
                Some(&i) => i,
                None => {
                    let w = PcapWriter::create(Path::new(path))
                        .map_err(|source| LoadError::Pcap { path: path.clone(), source })?;
                    files.push(w);
                    by_path.insert(path, files.len() - 1);
                    files.len() - 1
                }
            };
            calls.push((index, *offset));
        }
        let packets: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
        let lost = Rc::new(Cell::new(0));
        let (p, l) = (Rc::clone(&packets), Rc::clone(&lost));
        let buffer = PerfBufferBuilder::new(map)
            .sample_cb(move |_cpu, data: &[u8]| p.borrow_mut().push(data.to_vec()))
            .lost_cb(move |_cpu, n| l.set(l.get() + n))
            .build()
            .map_err(LoadError::Packets)?;
        Ok(SkbOutput { buffer, packets, lost, calls, files, boot_to_wall: boot_to_wall() })
    }

    /// Writes the packets that arrived; returns how many were lost.
    pub fn consume(&mut self) -> Result<u64, RunError> {
        let _ = self.buffer.consume();
        for sample in self.packets.borrow_mut().drain(..) {
            let word =
                |at: usize| sample.get(at..at + 8).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
            let Some(&(file, offset)) = self.calls.get(word(8) as usize) else { continue };
            let packet = sample.get(HEADER..).unwrap_or(&[]);
            let packet = &packet[..packet.len().min(usize::try_from(word(0)).unwrap_or(usize::MAX))];
            let Some(packet) = packet.get(offset as usize..).filter(|p| !p.is_empty()) else { continue };
            let wall = u64::try_from(i128::from(word(16)) + self.boot_to_wall).unwrap_or(0);
            self.files[file].write(wall, packet)?;
        }
        for f in &mut self.files {
            f.flush()?;
        }
        Ok(self.lost.replace(0))
    }
}

fn boot_to_wall() -> i128 {
    let now = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: ts is a valid timespec to write.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
    };
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME)
}
