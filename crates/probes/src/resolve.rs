//! Turns a program's attach points into concrete ones: wildcards expanded,
//! and each tracepoint's record layout read.

use std::sync::Arc;

use bpfscope_lang::Diagnostic;
use bpfscope_lang::ast::Program;
use bpfscope_lang::attach::{AttachPoint, Provider, Target};
use bpfscope_lang::check::Type;

use crate::glob;
use crate::tracefs::{self, Field, Format};

/// An attach point with what the compiler and runtime need to know of it.
#[derive(Clone, Debug)]
pub struct Concrete {
    /// No wildcards left.
    pub attach: AttachPoint,
    pub detail: Detail,
}

#[derive(Clone, Debug)]
pub enum Detail {
    /// Nothing beyond the attach point (BEGIN, END, interval, profile).
    None,
    Tracepoint {
        category: String,
        event: String,
        format: Arc<Format>,
    },
}

/// Every probe's concrete attach points, in program order.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    pub probes: Vec<Vec<Concrete>>,
}

impl Resolved {
    /// The `args` of each probe that has them, as a record type, for the
    /// checker: the fields of its first attach point.
    pub fn args_types(&self, max_strlen: u64) -> Vec<Option<Type>> {
        self.probes
            .iter()
            .map(|targets| {
                targets.iter().find_map(|c| match &c.detail {
                    Detail::Tracepoint { format, .. } => Some(Type::Record(
                        format.fields.iter().map(|f| (f.name.clone(), field_type(f, max_strlen))).collect(),
                    )),
                    Detail::None => None,
                })
            })
            .collect()
    }
}

/// The bpftrace type of a tracepoint field.
pub fn field_type(f: &Field, max_strlen: u64) -> Type {
    if f.is_data_loc() {
        return Type::Str(max_strlen);
    }
    if f.is_pointer() {
        let target = if f.c_type.contains("char") { Type::Int { bits: 8, signed: true } } else { Type::Unknown };
        return Type::Pointer(Box::new(target));
    }
    if let Some(n) = f.array_len {
        if f.is_char() {
            return Type::Str(u64::from(n));
        }
        let elem = f.size / n.max(1);
        return match elem {
            1 | 2 | 4 | 8 => {
                Type::Array(Box::new(Type::Int { bits: (elem * 8) as u8, signed: f.signed }), u64::from(n))
            }
            _ => Type::Unknown,
        };
    }
    match f.size {
        1 | 2 | 4 | 8 => Type::Int { bits: (f.size * 8) as u8, signed: f.signed },
        _ => Type::Unknown,
    }
}

pub fn resolve(program: &Program) -> Result<Resolved, Vec<Diagnostic>> {
    let mut probes = Vec::new();
    let mut errors = Vec::new();
    for probe in &program.probes {
        let mut targets = Vec::new();
        for ap in &probe.attach_points {
            match concrete(ap) {
                Ok(mut c) => targets.append(&mut c),
                Err(d) => errors.push(d),
            }
        }
        probes.push(targets);
    }
    if errors.is_empty() { Ok(Resolved { probes }) } else { Err(errors) }
}

fn concrete(ap: &AttachPoint) -> Result<Vec<Concrete>, Diagnostic> {
    match (&ap.provider, &ap.target) {
        (Provider::Tracepoint, Target::Tracepoint { category, event }) => {
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
                    Ok(Concrete { attach, detail: Detail::Tracepoint { category, event, format } })
                })
                .collect()
        }
        _ => Ok(vec![Concrete { attach: ap.clone(), detail: Detail::None }]),
    }
}
