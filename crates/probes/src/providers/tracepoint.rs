//! tracepoint: the kernel's static events, by category and name, each
//! with the record format its `args` reads.

use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::attach::{AttachPoint, Target};

use super::as_is;
use crate::resolve::{Detail, Site};
use crate::{ProbeError, glob, tracefs};

pub(super) fn resolve(ap: &AttachPoint) -> Result<Vec<Site>, Diagnostic> {
    let Target::Tracepoint { category, event } = &ap.target else { return Ok(vec![as_is(ap)]) };
    let matches = if glob::is_pattern(category) || glob::is_pattern(event) {
        tracefs::matching_events(category, event).map_err(|e| e.at(ap))?
    } else {
        vec![(category.clone(), event.clone())]
    };
    if matches.is_empty() {
        return Err(Diagnostic::error(ap.span, format!("no tracepoint matches {}", ap.canonical()))
            .with_hint("list them with: ls /sys/kernel/tracing/events/<category>"));
    }
    matches
        .into_iter()
        .map(|(category, event)| {
            let format = Arc::new(tracefs::read_format(&category, &event).map_err(|e| e.at(ap))?);
            let attach = AttachPoint {
                target: Target::Tracepoint { category: category.clone(), event: event.clone() },
                ..ap.clone()
            };
            Ok(Site { attach, detail: Detail::Tracepoint { category, event, format } })
        })
        .collect()
}

/// Tracepoints of the categories `rest` can match.
pub(super) fn list(rest: &str) -> Result<Vec<String>, ProbeError> {
    let category = rest.split(':').next().filter(|_| rest.contains(':')).unwrap_or("*");
    // ftrace's own events record the tracer's output; nothing attaches there.
    Ok(tracefs::matching_events(category, "*")?
        .into_iter()
        .filter(|(c, _)| c != "ftrace")
        .map(|(c, e)| format!("tracepoint:{c}:{e}"))
        .collect())
}

/// The record's fields, as the format file declares them.
pub(super) fn arguments(probe: &str) -> Vec<String> {
    let mut parts = probe.splitn(3, ':').skip(1);
    let (Some(c), Some(e)) = (parts.next(), parts.next()) else { return Vec::new() };
    tracefs::read_format(c, e).map(|f| f.fields.into_iter().map(|f| f.declaration).collect()).unwrap_or_default()
}
