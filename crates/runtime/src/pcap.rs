//! `skboutput()`'s files: classic pcap (libpcap's format, microsecond
//! times, link type "raw IP"), as bpftrace writes them.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// LINKTYPE_RAW: packets begin with their IP header.
const LINKTYPE_RAW: u32 = 101;
const SNAPLEN: u32 = 65535;

/// One pcap file, created (or truncated) when the run starts.
pub struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    pub fn create(path: &Path) -> io::Result<PcapWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        // magic, version 2.4, thiszone, sigfigs, snaplen, link type
        out.write_all(&0xa1b2_c3d4u32.to_ne_bytes())?;
        out.write_all(&2u16.to_ne_bytes())?;
        out.write_all(&4u16.to_ne_bytes())?;
        for word in [0u32, 0, SNAPLEN, LINKTYPE_RAW] {
            out.write_all(&word.to_ne_bytes())?;
        }
        Ok(PcapWriter { out })
    }

    /// One packet, stamped with its wall-clock time in nanoseconds.
    pub fn write(&mut self, wall_ns: u64, packet: &[u8]) -> io::Result<()> {
        let len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let secs = u32::try_from(wall_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let micros = ((wall_ns % 1_000_000_000) / 1000) as u32;
        for word in [secs, micros, len, len] {
            self.out.write_all(&word.to_ne_bytes())?;
        }
        self.out.write_all(packet)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file's layout as libpcap reads it: the 24-byte header, then each
    /// packet's 16-byte header and bytes.
    #[test]
    fn header_and_records() {
        let path = std::env::temp_dir().join(format!("bpfscope-pcap-{}", std::process::id()));
        let mut w = PcapWriter::create(&path).expect("creates");
        w.write(1_700_000_000_123_456_789, &[0x45, 0, 0, 20]).expect("writes");
        w.flush().expect("flushes");
        let bytes = std::fs::read(&path).expect("reads");
        let _ = std::fs::remove_file(&path);
        let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        assert_eq!(bytes.len(), 24 + 16 + 4);
        assert_eq!((word(0), &bytes[4..8], word(16), word(20)), (0xa1b2_c3d4, &[2, 0, 4, 0][..], 65535, 101));
        assert_eq!((word(24), word(28), word(32), word(36)), (1_700_000_000, 123_456, 4, 4));
        assert_eq!(&bytes[40..], &[0x45, 0, 0, 20]);
    }
}
