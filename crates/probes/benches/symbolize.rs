//! Symbolizing user frames: the run's symbolizer (blazesym: each file
//! indexed once, then a binary search per frame) against the linear scan
//! of a file's symbols that printed stacks before it. 100,000 frames in a
//! library of 100,000 functions (generated and built with the C compiler
//! on first use), loaded into this process. The scan is timed on a sample
//! of the frames (all of them would take minutes) and both answers are
//! compared on it.
//!
//! `cargo bench -p bpfscope-probes --bench symbolize`

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bpfscope_probes::symbols::Symbolizer;
use bpfscope_probes::user::Binary;

const FUNCTIONS: usize = 100_000;
const FRAMES: usize = 100_000;
/// Frames the linear scan is timed on.
const SCAN_SAMPLE: usize = 500;
/// Frames per stack handed to the symbolizer at once.
const STACK: usize = 20;

/// The library, built once per target directory.
fn library() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-symbolize");
    let lib = dir.join(format!("libfns{FUNCTIONS}.so"));
    if lib.exists() {
        return lib;
    }
    std::fs::create_dir_all(&dir).expect("creates the bench directory");
    let source = dir.join("fns.c");
    let mut text = String::with_capacity(FUNCTIONS * 48);
    for i in 0..FUNCTIONS {
        text.push_str(&format!("int bench_fn_{i}(int x) {{ return x * {i} + 1; }}\n"));
    }
    std::fs::write(&source, text).expect("writes the source");
    let status =
        Command::new("cc").args(["-O1", "-shared", "-fPIC", "-o"]).arg(&lib).arg(&source).status().expect("runs cc");
    assert!(status.success(), "cc failed");
    lib
}

/// Where `path` is mapped executable in this process: (start, end, file offset).
fn text_mapping(path: &Path) -> (u64, u64, u64) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("reads maps");
    let name = path.canonicalize().expect("canonical");
    maps.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || !f[1].contains('x') || Path::new(f[5]) != name {
                return None;
            }
            let (s, e) = f[0].split_once('-')?;
            Some((
                u64::from_str_radix(s, 16).ok()?,
                u64::from_str_radix(e, 16).ok()?,
                u64::from_str_radix(f[2], 16).ok()?,
            ))
        })
        .expect("the library's text mapping")
}

fn main() {
    let lib = library();
    let c_path = CString::new(lib.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid C string; the library stays loaded for the process.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null(), "dlopen failed");
    // Frames: a function's address plus a small offset, spread over all.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chosen = Vec::with_capacity(FRAMES);
    let mut frames = Vec::with_capacity(FRAMES);
    for _ in 0..FRAMES {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let i = (seed % FUNCTIONS as u64) as usize;
        let name = CString::new(format!("bench_fn_{i}")).expect("no NUL");
        // SAFETY: a valid handle and C string.
        let address = unsafe { libc::dlsym(handle, name.as_ptr()) } as u64;
        assert!(address != 0, "dlsym {i}");
        chosen.push(i);
        frames.push(address + 1);
    }
    let pid = std::process::id();

    let start = Instant::now();
    let symbols = Symbolizer::default();
    let mut names = Vec::with_capacity(FRAMES);
    for stack in frames.chunks(STACK) {
        for found in symbols.user(pid, stack) {
            names.push(found.and_then(|mut f| f.pop()).map(|f| f.name).unwrap_or_default());
        }
    }
    let fast = start.elapsed();
    let wrong = names.iter().zip(&chosen).filter(|(n, i)| **n != format!("bench_fn_{i}")).count();
    assert_eq!(wrong, 0, "the symbolizer named {wrong} frames wrongly");

    // The scan, as stacks were printed before: the mapping, the file
    // offset, then every symbol of the file until one covers the address.
    let (start_addr, _, offset) = text_mapping(&lib);
    let start = Instant::now();
    let binary = Binary::open(&lib).expect("opens the library");
    for (&frame, &i) in frames.iter().zip(&chosen).take(SCAN_SAMPLE) {
        let vaddr = binary.address_of(frame - start_addr + offset).expect("in a segment");
        let f = binary.function_at(vaddr).expect("a function");
        assert_eq!(f.name, format!("bench_fn_{i}"));
    }
    let scan = start.elapsed();

    let fast_per = fast.as_secs_f64() / FRAMES as f64;
    let scan_per = scan.as_secs_f64() / SCAN_SAMPLE as f64;
    println!(
        "symbolize: {FRAMES} frames in a library of {FUNCTIONS} functions: symbolizer {:.1} ms in all ({:.2} us a \
         frame, indexing included); linear scan {:.0} us a frame ({SCAN_SAMPLE} timed, {:.0} s for all); \
         symbolizer/scan = 1/{:.0}",
        fast.as_secs_f64() * 1e3,
        fast_per * 1e6,
        scan_per * 1e6,
        scan_per * FRAMES as f64,
        scan_per / fast_per
    );
}
