//! Unwind tables for `dw_ustack`: the `.eh_frame` of every executable
//! mapping of a process, reduced to the rules x86-64 code uses and
//! relocated to the process's addresses, sorted so that a BPF program can
//! find an address's row by binary search and walk a stack built without
//! frame pointers.
//!
//! A row says how to find the caller's frame from a pc on: the CFA (the
//! stack pointer before the call) is `rsp` or `rbp` plus an offset (or the
//! PLT's expression); the return address is just below the CFA; `rbp` is
//! unchanged or saved at an offset from the CFA. Anything else (a register
//! rule of another kind, a CFA expression other than the PLT's) ends the
//! walk there: a shorter stack, never a wrong frame.

use std::path::PathBuf;

use gimli::{CfaRule, EhFrame, NativeEndian, RegisterRule, UnwindContext, UnwindSection, X86_64};
use object::{Object, ObjectSection, ObjectSegment};

/// Bytes per encoded row: `pc: u64, cfa_offset: i32, bp_offset: i16,
/// cfa: u8, bp: u8`.
pub const ROW_SIZE: u32 = 16;
/// Offsets of a row's fields, for the BPF code that reads them.
pub const ROW_PC: i16 = 0;
pub const ROW_CFA_OFFSET: i16 = 8;
pub const ROW_BP_OFFSET: i16 = 12;
pub const ROW_CFA: i16 = 14;
pub const ROW_BP: i16 = 15;
/// Codes of `cfa` in an encoded row.
pub const CFA_NONE: u8 = 0;
pub const CFA_SP: u8 = 1;
pub const CFA_BP: u8 = 2;
/// `rsp + offset`, plus 8 where `pc & 15 >= 11` (a lazy-binding PLT entry
/// past its `push`).
pub const CFA_PLT: u8 = 3;
/// Codes of `bp`: unchanged, or saved at `CFA + bp_offset`.
pub const BP_SAME: u8 = 0;
pub const BP_SAVED: u8 = 1;
/// Binary search steps the BPF code takes: tables up to this power of two.
pub const SEARCH_STEPS: u32 = 20;
/// The most rows a table can have.
pub const MAX_ROWS: usize = 1 << SEARCH_STEPS;

/// How the caller's stack pointer (the CFA) is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cfa {
    /// No rule we follow: the walk ends here.
    None,
    Sp(i32),
    Bp(i32),
    Plt(i32),
}

/// Where the caller's `rbp` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavedBp {
    Same,
    At(i16),
}

/// From `pc` on (to the next row), how to unwind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub pc: u64,
    pub cfa: Cfa,
    pub bp: SavedBp,
}

impl Row {
    /// A row that ends the walk.
    pub fn end(pc: u64) -> Row {
        Row { pc, cfa: Cfa::None, bp: SavedBp::Same }
    }

    /// The row as the BPF code reads it.
    pub fn encode(&self) -> [u8; ROW_SIZE as usize] {
        let (kind, off) = match self.cfa {
            Cfa::None => (CFA_NONE, 0),
            Cfa::Sp(o) => (CFA_SP, o),
            Cfa::Bp(o) => (CFA_BP, o),
            Cfa::Plt(o) => (CFA_PLT, o),
        };
        let (bp, bp_off) = match self.bp {
            SavedBp::Same => (BP_SAME, 0),
            SavedBp::At(o) => (BP_SAVED, o),
        };
        let mut b = [0u8; ROW_SIZE as usize];
        b[..8].copy_from_slice(&self.pc.to_le_bytes());
        b[8..12].copy_from_slice(&off.to_le_bytes());
        b[12..14].copy_from_slice(&bp_off.to_le_bytes());
        b[14] = kind;
        b[15] = bp;
        b
    }
}

/// Why a file's table cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum UnwindError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: not an ELF file we can read: {1}")]
    Elf(PathBuf, object::Error),
    #[error("{0}: malformed .eh_frame: {1}")]
    Cfi(PathBuf, gimli::Error),
}

/// The rows of a file's `.eh_frame`, at the file's own addresses, sorted;
/// an FDE's end, where no other FDE starts, gets an ending row. None for a
/// file without `.eh_frame`.
pub fn file_rows(file: &object::File<'_>) -> Result<Option<Vec<Row>>, gimli::Error> {
    let Some(section) = file.section_by_name(".eh_frame") else { return Ok(None) };
    let Ok(bytes) = section.data() else { return Ok(None) };
    let mut eh_frame = EhFrame::new(bytes, NativeEndian);
    eh_frame.set_address_size(8);
    let mut bases = gimli::BaseAddresses::default().set_eh_frame(section.address());
    if let Some(text) = file.section_by_name(".text") {
        bases = bases.set_text(text.address());
    }
    if let Some(got) = file.section_by_name(".got") {
        bases = bases.set_got(got.address());
    }
    let mut rows = Vec::new();
    let mut ends = Vec::new();
    let mut ctx = UnwindContext::new();
    let mut entries = eh_frame.entries(&bases);
    while let Some(entry) = entries.next()? {
        let gimli::CieOrFde::Fde(partial) = entry else { continue };
        let fde = partial.parse(EhFrame::cie_from_offset)?;
        let mut table = fde.rows(&eh_frame, &bases, &mut ctx)?;
        while let Some(row) = table.next_row()? {
            rows.push(Row { pc: row.start_address(), cfa: cfa_of(row.cfa(), &eh_frame), bp: SavedBp::Same });
            let last = rows.len() - 1;
            rows[last] = refine(rows[last], row);
        }
        ends.push(fde.end_address());
    }
    // Equal pcs: a real row wins over another FDE's end.
    rows.sort_by_key(|r| r.pc);
    let starts: std::collections::HashSet<u64> = rows.iter().map(|r| r.pc).collect();
    rows.extend(ends.into_iter().filter(|e| !starts.contains(e)).map(Row::end));
    rows.sort_by_key(|r| r.pc);
    rows.dedup_by_key(|r| r.pc);
    Ok(Some(rows))
}

/// The return address and `rbp` rules of a row, which end the walk where
/// they are not the ones we follow.
fn refine<R: gimli::ReaderOffset>(mut out: Row, row: &gimli::UnwindTableRow<R>) -> Row {
    match row.register(X86_64::RA) {
        Some(RegisterRule::Offset(-8)) => {}
        // The outermost frame (`_start`), or a rule we do not follow.
        _ => out.cfa = Cfa::None,
    }
    out.bp = match row.register(X86_64::RBP) {
        None | Some(RegisterRule::SameValue | RegisterRule::Undefined) => SavedBp::Same,
        Some(RegisterRule::Offset(o)) => match i16::try_from(o) {
            Ok(o) => SavedBp::At(o),
            Err(_) => {
                out.cfa = Cfa::None;
                SavedBp::Same
            }
        },
        Some(_) => {
            out.cfa = Cfa::None;
            SavedBp::Same
        }
    };
    out
}

/// gcc's and ld's lazy-binding PLT rule: `rsp + 8 + ((rip & 15) >= 11) << 3`.
const PLT_EXPRESSION: [u8; 11] = [0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22];

fn cfa_of<R: gimli::Reader>(rule: &CfaRule<R::Offset>, eh_frame: &EhFrame<R>) -> Cfa {
    match rule {
        CfaRule::RegisterAndOffset { register, offset } => match i32::try_from(*offset) {
            Ok(o) if *register == X86_64::RSP => Cfa::Sp(o),
            Ok(o) if *register == X86_64::RBP => Cfa::Bp(o),
            _ => Cfa::None,
        },
        CfaRule::Expression(e) => match e.get(eh_frame).and_then(|e| e.0.to_slice().map(|s| s.to_vec())) {
            Ok(bytes) if bytes == PLT_EXPRESSION => Cfa::Plt(8),
            _ => Cfa::None,
        },
    }
}

/// A process's table: every executable mapping's rows at its addresses,
/// with an ending row at each mapping's end, sorted, and the sentinel row
/// (pc 0, ending the walk) first.
#[derive(Debug, Default)]
pub struct ProcessTable {
    pub rows: Vec<Row>,
    /// Files mapped executable whose rows are in the table.
    pub objects: Vec<PathBuf>,
    /// Files that have none (no `.eh_frame`, unreadable): frames in them
    /// end a stack.
    pub missing: Vec<(PathBuf, String)>,
}

impl ProcessTable {
    /// The table as the BPF map holds it, entry by entry.
    pub fn encoded(&self) -> impl Iterator<Item = [u8; ROW_SIZE as usize]> + '_ {
        self.rows.iter().map(Row::encode)
    }
}

/// One executable file mapping of a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecMapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub path: PathBuf,
}

/// The name of the kernel's shared object in every process, whose image
/// (with its `.eh_frame`) is read from the process's memory.
const VDSO: &str = "[vdso]";

/// The executable file mappings in `/proc/PID/maps`' text, and the vDSO.
pub fn exec_mappings(maps: &str) -> Vec<ExecMapping> {
    maps.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (range, perms, offset) = (f.next()?, f.next()?, f.next()?);
            let path = f.nth(2)?;
            if !perms.contains('x') || !(path.starts_with('/') || path == VDSO) {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            Some(ExecMapping {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                offset: u64::from_str_radix(offset, 16).ok()?,
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// The table of process `pid`, its files read through `/proc/PID/root`
/// where they are (another mount namespace), else by path.
pub fn process_table(pid: u32) -> Result<ProcessTable, UnwindError> {
    let maps_path = PathBuf::from(format!("/proc/{pid}/maps"));
    let maps = std::fs::read_to_string(&maps_path).map_err(|e| UnwindError::Io(maps_path, e))?;
    let mut table = ProcessTable { rows: vec![Row::end(0)], ..ProcessTable::default() };
    for m in exec_mappings(&maps) {
        let data = if m.path.as_os_str() == VDSO {
            read_memory(pid, m.start, m.end)
        } else {
            let rooted = PathBuf::from(format!("/proc/{pid}/root{}", m.path.display()));
            let file = if rooted.exists() { rooted } else { m.path.clone() };
            std::fs::read(&file).map_err(|e| UnwindError::Io(file, e))
        };
        match data.and_then(|data| mapping_rows(&data, &m)) {
            Ok(Some(rows)) => {
                table.rows.extend(rows);
                table.objects.push(m.path);
            }
            Ok(None) => table.missing.push((m.path, "no .eh_frame".to_string())),
            Err(e) => table.missing.push((m.path, e.to_string())),
        }
    }
    table.rows.sort_by_key(|r| r.pc);
    table.rows.dedup_by_key(|r| r.pc);
    Ok(table)
}

/// Bytes `start..end` of process `pid`'s memory.
fn read_memory(pid: u32, start: u64, end: u64) -> Result<Vec<u8>, UnwindError> {
    use std::os::unix::fs::FileExt;
    let path = PathBuf::from(format!("/proc/{pid}/mem"));
    let mut data = vec![0u8; usize::try_from(end.saturating_sub(start)).unwrap_or(0)];
    std::fs::File::open(&path).and_then(|f| f.read_exact_at(&mut data, start)).map_err(|e| UnwindError::Io(path, e))?;
    Ok(data)
}

/// One mapping's rows at the process's addresses, clipped to the mapping,
/// with an ending row at its end.
fn mapping_rows(data: &[u8], m: &ExecMapping) -> Result<Option<Vec<Row>>, UnwindError> {
    let path = &m.path;
    let file = object::File::parse(data).map_err(|e| UnwindError::Elf(path.to_path_buf(), e))?;
    // The load bias: the segment mapped here says which file address the
    // mapping's start is. The kernel maps from the page its file offset is
    // in, so a segment that does not start on a page begins past the
    // mapping's start (and the one before may reach into that page too:
    // the later one is this mapping's).
    let page = |off: u64| off & !0xfff;
    let segment = file
        .segments()
        .filter(|s| {
            let (off, size) = s.file_range();
            page(off) <= m.offset && m.offset < off + size.max(1)
        })
        .max_by_key(|s| s.file_range().0);
    let Some(segment) = segment else { return Ok(None) };
    let at_start = segment.address().wrapping_add(m.offset).wrapping_sub(segment.file_range().0);
    let bias = m.start.wrapping_sub(at_start);
    let Some(rows) = file_rows(&file).map_err(|e| UnwindError::Cfi(path.clone(), e))? else {
        return Ok(None);
    };
    let mut out: Vec<Row> = rows
        .into_iter()
        .map(|r| Row { pc: r.pc.wrapping_add(bias), ..r })
        .filter(|r| (m.start..m.end).contains(&r.pc))
        .collect();
    // Before the first row and past the mapping, nothing is known.
    out.push(Row::end(m.end));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_encode_as_the_bpf_code_reads_them() {
        let b = Row { pc: 0x1122, cfa: Cfa::Bp(16), bp: SavedBp::At(-16) }.encode();
        assert_eq!(u64::from_le_bytes(b[..8].try_into().expect("width")), 0x1122);
        assert_eq!(i32::from_le_bytes(b[8..12].try_into().expect("width")), 16);
        assert_eq!(i16::from_le_bytes(b[12..14].try_into().expect("width")), -16);
        assert_eq!((b[ROW_CFA as usize], b[ROW_BP as usize]), (CFA_BP, BP_SAVED));
    }

    #[test]
    fn exec_mappings_are_the_executable_files_and_the_vdso() {
        let maps = "55d0a000-55d0b000 r--p 00000000 08:01 123 /usr/bin/x\n\
                    55d0b000-55d0c000 r-xp 00001000 08:01 123 /usr/bin/x\n\
                    7ffd000-7ffe000 r-xp 00000000 00:00 0 [vdso]\n";
        let m = exec_mappings(maps);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].start, m[0].offset), (0x55d0b000, 0x1000));
        assert_eq!(m[1].path.as_os_str(), VDSO);
    }

    #[test]
    fn our_own_process_has_rows_for_its_code() {
        let table = process_table(std::process::id()).expect("our maps");
        let here = our_own_process_has_rows_for_its_code as *const () as u64;
        let at = table.rows.partition_point(|r| r.pc <= here) - 1;
        assert!(matches!(table.rows[at].cfa, Cfa::Sp(_) | Cfa::Bp(_)), "{:?}", table.rows[at]);
        assert!(table.rows.windows(2).all(|w| w[0].pc < w[1].pc));
        // The vDSO's image is read from memory.
        assert!(table.objects.iter().any(|o| o.as_os_str() == VDSO), "{:?} {:?}", table.objects, table.missing);
    }
}
