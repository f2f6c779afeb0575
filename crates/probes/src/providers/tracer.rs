//! Probes the tracer runs itself: BEGIN, END, self:signal, test, bench.
//! Each attach point is its own site.

use bpfscope_lang::attach::Provider;

pub(super) fn list(p: Provider) -> Vec<String> {
    match p {
        Provider::Begin | Provider::End => vec![p.name().to_string()],
        Provider::SelfEvent => vec!["self:signal:SIGUSR1".to_string()],
        // Named by the program: nothing to list.
        _ => Vec::new(),
    }
}
