//! Kernel features with fallbacks, and the `--no-feature` switch that
//! pretends a kernel lacks one (so both paths can be tested anywhere).

use std::str::FromStr;

/// A mechanism bpfscope uses when the kernel has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// Many uprobes in one link (Linux 6.6); else one link per site.
    UprobeMulti,
    /// Uprobes through `perf_event_open` (Linux 4.17); else through
    /// tracefs's `uprobe_events`.
    UprobePmu,
    /// Many kprobes in one link; else one link per function.
    KprobeMulti,
    /// Kprobes through `perf_event_open`; else through `kprobe_events`.
    KprobePmu,
    /// Kprobes through tracefs's `kprobe_events` where the PMU is missing
    /// (disabling both pretends the kernel has no kprobes).
    KprobeEvents,
    /// Uprobes through tracefs's `uprobe_events` where the PMU is missing
    /// (disabling both pretends the kernel has no uprobes).
    UprobeEvents,
    /// Loops as `bpf_loop` callbacks (Linux 5.17); else inline, which the
    /// verifier walks once per iteration.
    BpfLoop,
}

const NAMES: &[(Feature, &str)] = &[
    (Feature::UprobeMulti, "uprobe_multi"),
    (Feature::UprobePmu, "uprobe_pmu"),
    (Feature::KprobeMulti, "kprobe_multi"),
    (Feature::KprobePmu, "kprobe_pmu"),
    (Feature::KprobeEvents, "kprobe_events"),
    (Feature::UprobeEvents, "uprobe_events"),
    (Feature::BpfLoop, "bpf_loop"),
];

impl Feature {
    pub fn names() -> impl Iterator<Item = &'static str> {
        NAMES.iter().map(|(_, n)| *n)
    }
}

impl FromStr for Feature {
    type Err = String;

    fn from_str(s: &str) -> Result<Feature, String> {
        NAMES.iter().find(|(_, n)| *n == s).map(|(f, _)| *f).ok_or_else(|| {
            format!("unknown feature '{s}' (known: {})", Feature::names().collect::<Vec<_>>().join(", "))
        })
    }
}

/// The features a run may use: all, less the disabled ones.
#[derive(Clone, Debug, Default)]
pub struct Features {
    disabled: Vec<Feature>,
}

impl Features {
    pub fn without(disabled: Vec<Feature>) -> Features {
        Features { disabled }
    }

    pub fn enabled(&self, f: Feature) -> bool {
        !self.disabled.contains(&f)
    }
}

/// Whether loops may run as `bpf_loop` callbacks: enabled, and the kernel
/// has the helper.
pub fn bpf_loop_usable(features: &Features) -> bool {
    features.enabled(Feature::BpfLoop)
        && kernel_has_helper(libbpf_sys::BPF_PROG_TYPE_TRACEPOINT, libbpf_sys::BPF_FUNC_loop)
}

/// Whether kprobe programs may call `bpf_override_return` (`override()`):
/// kernels built without CONFIG_BPF_KPROBE_OVERRIDE lack it.
pub fn kernel_has_override_return() -> bool {
    kernel_has_helper(libbpf_sys::BPF_PROG_TYPE_KPROBE, libbpf_sys::BPF_FUNC_override_return)
}

/// Whether probes may call `bpf_probe_write_user` (`write_user()`): kernels
/// in lockdown refuse it.
pub fn kernel_allows_write_user() -> bool {
    kernel_has_helper(libbpf_sys::BPF_PROG_TYPE_KPROBE, libbpf_sys::BPF_FUNC_probe_write_user)
}

/// Whether programs of a type may call a helper (libbpf loads a tiny
/// program that calls it).
fn kernel_has_helper(prog_type: libbpf_sys::bpf_prog_type, helper: libbpf_sys::bpf_func_id) -> bool {
    // SAFETY: plain values; a null options pointer is allowed.
    unsafe { libbpf_sys::libbpf_probe_bpf_helper(prog_type, helper, std::ptr::null()) == 1 }
}

/// Whether the kernel can make kprobe_multi links: a program loaded for
/// them is refused a link to a function that does not exist because the
/// function does not exist (not because the link type is unknown, or
/// fprobe is compiled out).
pub fn kernel_has_kprobe_multi() -> bool {
    let mut syms = [c"bpfscope_no_such_function".as_ptr()];
    probe_multi_link(
        libbpf_sys::BPF_TRACE_KPROBE_MULTI,
        |opts| {
            opts.__bindgen_anon_1.kprobe_multi.syms = syms.as_mut_ptr();
            opts.__bindgen_anon_1.kprobe_multi.cnt = 1;
        },
        |errno| matches!(errno, Some(libc::ESRCH | libc::ENOENT)),
    )
}

/// Whether the kernel can make uprobe_multi links: a program loaded for
/// them is refused a link to "/" with EBADF (a bad path, not an unknown
/// link type), as libbpf probes it.
pub fn kernel_has_uprobe_multi() -> bool {
    let offset: libc::c_ulong = 0;
    probe_multi_link(
        libbpf_sys::BPF_TRACE_UPROBE_MULTI,
        |opts| {
            opts.__bindgen_anon_1.uprobe_multi.path = c"/".as_ptr();
            opts.__bindgen_anon_1.uprobe_multi.offsets = &offset;
            opts.__bindgen_anon_1.uprobe_multi.cnt = 1;
        },
        |errno| errno == Some(libc::EBADF),
    )
}

/// Loads an empty kprobe-type program for a multi-link attach type, asks
/// for a link that must fail, and judges the kernel by the failure.
fn probe_multi_link(
    attach_type: libbpf_sys::bpf_attach_type,
    fill: impl FnOnce(&mut libbpf_sys::bpf_link_create_opts),
    supported: impl FnOnce(Option<i32>) -> bool,
) -> bool {
    let opts = libbpf_sys::bpf_prog_load_opts { expected_attach_type: attach_type, ..Default::default() };
    let Some(prog) = load_empty_program(libbpf_sys::BPF_PROG_TYPE_KPROBE, opts) else { return false };
    // SAFETY: zeroed link options are the documented start; the link's
    // descriptor is closed here.
    unsafe {
        let mut link_opts: libbpf_sys::bpf_link_create_opts = std::mem::zeroed();
        link_opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
        fill(&mut link_opts);
        let link = libbpf_sys::bpf_link_create(std::os::fd::AsRawFd::as_raw_fd(&prog), -1, attach_type, &link_opts);
        let errno = std::io::Error::last_os_error().raw_os_error();
        if link >= 0 {
            libc::close(link);
        }
        link < 0 && supported(errno)
    }
}

/// Loads `r0 = 0; exit` as a program of this type with these options (a
/// probe of what the kernel accepts); its descriptor, where it loaded.
fn load_empty_program(
    prog_type: libbpf_sys::bpf_prog_type,
    mut opts: libbpf_sys::bpf_prog_load_opts,
) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    let insns = [
        libbpf_sys::bpf_insn { code: 0xb7, _bitfield_align_1: [], _bitfield_1: Default::default(), off: 0, imm: 0 },
        libbpf_sys::bpf_insn { code: 0x95, _bitfield_align_1: [], _bitfield_1: Default::default(), off: 0, imm: 0 },
    ];
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _;
    // SAFETY: valid instructions and options that outlive the call; a
    // descriptor it returns is owned from here.
    unsafe {
        let fd = libbpf_sys::bpf_prog_load(
            prog_type,
            std::ptr::null(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        );
        (fd >= 0).then(|| std::os::fd::OwnedFd::from_raw_fd(fd))
    }
}

/// As bpftrace 0.26's `kfunc_allowed()`: whether a program of this type
/// may call the kernel function (a kfunc the kernel's BTF has). A program
/// that calls it is loaded; the kernel says "calling kernel function ...
/// is not allowed" where the program type may not.
pub fn kfunc_allowed(prog_type: bpfscope_compiler::ProgType, name: &str) -> bool {
    use bpfscope_compiler::ProgType;
    let Ok(cname) = std::ffi::CString::new(name) else { return false };
    // SAFETY: libbpf owns the BTF until it is freed here.
    let id = unsafe {
        let btf = libbpf_sys::btf__load_vmlinux_btf();
        if btf.is_null() {
            return false;
        }
        let id = libbpf_sys::btf__find_by_name_kind(btf, cname.as_ptr(), libbpf_sys::BTF_KIND_FUNC);
        libbpf_sys::btf__free(btf);
        id
    };
    if id <= 0 {
        return false;
    }
    let insn = |code: u8, src: u8, imm: i32| {
        let mut i = libbpf_sys::bpf_insn { code, off: 0, imm, ..Default::default() };
        i.set_src_reg(src);
        i
    };
    // call kfunc (BPF_PSEUDO_KFUNC_CALL); r0 = 0; exit
    let insns = [insn(0x85, 2, id), insn(0xb7, 0, 0), insn(0x95, 0, 0)];
    let mut log = vec![0u8; 64 * 1024];
    let mut opts = libbpf_sys::bpf_prog_load_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _,
        log_level: 1,
        log_size: log.len() as _,
        log_buf: log.as_mut_ptr().cast(),
        ..Default::default()
    };
    let kind = match prog_type {
        ProgType::Kprobe => libbpf_sys::BPF_PROG_TYPE_KPROBE,
        ProgType::Tracepoint => libbpf_sys::BPF_PROG_TYPE_TRACEPOINT,
        ProgType::PerfEvent => libbpf_sys::BPF_PROG_TYPE_PERF_EVENT,
        ProgType::RawTracepoint => libbpf_sys::BPF_PROG_TYPE_RAW_TRACEPOINT,
        ProgType::Tracing => libbpf_sys::BPF_PROG_TYPE_TRACING,
        ProgType::Xdp => libbpf_sys::BPF_PROG_TYPE_XDP,
    };
    // SAFETY: valid instructions, options and log buffer that outlive the
    // call; the descriptor is closed here.
    let fd = unsafe {
        libbpf_sys::bpf_prog_load(kind, std::ptr::null(), c"GPL".as_ptr(), insns.as_ptr(), insns.len() as _, &mut opts)
    };
    if fd >= 0 {
        // SAFETY: a descriptor this call opened.
        unsafe { libc::close(fd) };
        return true;
    }
    let text = String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(log.len())]).into_owned();
    !text.contains(&format!("calling kernel function {name} is not allowed"))
}

/// What `--info` reports of the kernel: helpers, features and probe
/// types, each found by asking the kernel (a program or link loaded).
pub fn kernel_report() -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    use libbpf_sys as sys;
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let helper = |t, h| yes(kernel_has_helper(t, h));
    // SAFETY: plain values; a null options pointer is allowed.
    let map_type = |t| yes(unsafe { sys::libbpf_probe_bpf_map_type(t, std::ptr::null()) } == 1);
    // SAFETY: as above.
    let prog_type = |t| yes(unsafe { sys::libbpf_probe_bpf_prog_type(t, std::ptr::null()) } == 1);
    let btf_dir = std::fs::read_dir("/sys/kernel/btf").map(|d| d.flatten().count()).unwrap_or(0);
    // libbpf cannot probe helpers of fentry programs (they need a function
    // to attach to); these exist wherever fentry programs load (each
    // program's own load says where a use is refused).
    let btf = bpfscope_probes::btf::KernelBtf::load().ok();
    let fentry = btf.as_ref().is_some_and(fentry_loads);
    vec![
        (
            "Kernel helpers",
            vec![
                ("dpath", yes(fentry)),
                ("get_tai_ns", helper(sys::BPF_PROG_TYPE_KPROBE, sys::BPF_FUNC_ktime_get_tai_ns)),
                ("get_func_ip", helper(sys::BPF_PROG_TYPE_KPROBE, sys::BPF_FUNC_get_func_ip)),
                ("lookup_percpu_elem", helper(sys::BPF_PROG_TYPE_KPROBE, sys::BPF_FUNC_map_lookup_percpu_elem)),
                ("loop", helper(sys::BPF_PROG_TYPE_TRACEPOINT, sys::BPF_FUNC_loop)),
                ("override_return", yes(kernel_has_override_return())),
                ("probe_write_user", yes(kernel_allows_write_user())),
                ("get_socket_cookie", yes(fentry)),
                ("skb_output", yes(fentry)),
            ],
        ),
        (
            "Kernel features",
            vec![
                ("Instruction limit", "1000000".to_string()),
                ("btf", yes(std::path::Path::new("/sys/kernel/btf/vmlinux").exists())),
                ("module btf", yes(btf_dir > 1)),
                ("ringbuf", map_type(sys::BPF_MAP_TYPE_RINGBUF)),
                ("fentry", yes(fentry)),
                ("perf_event", prog_type(sys::BPF_PROG_TYPE_PERF_EVENT)),
                ("raw_tracepoint", prog_type(sys::BPF_PROG_TYPE_RAW_TRACEPOINT)),
            ],
        ),
        (
            "Probe types",
            vec![
                ("kprobe_multi", yes(kernel_has_kprobe_multi())),
                ("uprobe_multi", yes(kernel_has_uprobe_multi())),
                ("kprobe_session", yes(kernel_has_kprobe_session())),
                // BPF iterators: the kernel describes their context.
                ("iter", yes(btf.as_ref().is_some_and(|b| b.struct_size("struct bpf_iter_meta").is_some()))),
            ],
        ),
    ]
}

/// Whether the kernel makes kprobe session links (Linux 6.10), judged as
/// kprobe_multi's are.
fn kernel_has_kprobe_session() -> bool {
    let mut syms = [c"bpfscope_no_such_function".as_ptr()];
    probe_multi_link(
        libbpf_sys::BPF_TRACE_KPROBE_SESSION,
        |opts| {
            opts.__bindgen_anon_1.kprobe_multi.syms = syms.as_mut_ptr();
            opts.__bindgen_anon_1.kprobe_multi.cnt = 1;
        },
        |errno| matches!(errno, Some(libc::ESRCH | libc::ENOENT)),
    )
}

/// Whether an (empty) fentry program on vfs_read loads.
fn fentry_loads(btf: &bpfscope_probes::btf::KernelBtf) -> bool {
    let Some(id) = btf.function_id("vfs_read") else { return false };
    let opts = libbpf_sys::bpf_prog_load_opts {
        expected_attach_type: libbpf_sys::BPF_TRACE_FENTRY,
        attach_btf_id: id,
        ..Default::default()
    };
    load_empty_program(libbpf_sys::BPF_PROG_TYPE_TRACING, opts).is_some()
}
