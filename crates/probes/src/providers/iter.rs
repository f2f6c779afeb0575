//! iter: BPF iterators over kernel objects, their context described by
//! BTF.

use bpfscope_lang::attach::ITERATORS;

use crate::btf::KernelBtf;

pub(super) fn list() -> Vec<String> {
    ITERATORS.iter().map(|o| format!("iter:{o}")).collect()
}

/// The fields of `ctx`: the iterator function's parameters but the meta
/// data every iterator has.
pub(super) fn arguments(object: &str, btf: Option<&KernelBtf>) -> Vec<String> {
    btf.and_then(|b| b.function_declarations(&format!("bpf_iter_{object}")))
        .map(|(params, _)| params.into_iter().filter(|p| !p.ends_with(" meta")).collect())
        .unwrap_or_default()
}
