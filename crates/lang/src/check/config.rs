//! The config block and map declarations.

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::suggest::closest;

/// What a config variable's value must be.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Bool,
    Str,
    OneOf(&'static [&'static str]),
}

const FEATURE: Kind = Kind::OneOf(&["error", "warn", "enable"]);

const VARIABLES: &[(&str, Kind)] = &[
    ("cache_user_symbols", Kind::OneOf(&["PER_PROGRAM", "PER_PID", "NONE"])),
    ("cpp_demangle", Kind::Bool),
    ("lazy_symbolication", Kind::Bool),
    ("license", Kind::Str),
    ("log_size", Kind::Int),
    ("max_bpf_progs", Kind::Int),
    ("max_cat_bytes", Kind::Int),
    ("max_map_keys", Kind::Int),
    ("max_probes", Kind::Int),
    ("max_strlen", Kind::Int),
    ("max_type_res_iterations", Kind::Int),
    ("missing_probes", Kind::OneOf(&["error", "warn", "ignore"])),
    ("on_stack_limit", Kind::Int),
    ("perf_rb_pages", Kind::Int),
    ("print_maps_on_exit", Kind::Bool),
    ("show_debug_info", Kind::Bool),
    ("stack_mode", Kind::OneOf(&["bpftrace", "perf", "raw", "build_id"])),
    ("str_trunc_trailer", Kind::Str),
    ("unstable_map_decl", FEATURE),
    ("unstable_import", FEATURE),
    ("unstable_tseries", FEATURE),
    ("unstable_dw_ustack", FEATURE),
    ("unstable_macro", FEATURE),
    ("unstable_addr", FEATURE),
    ("unstable_typeinfo", FEATURE),
];

/// The values the config variables have unless the program sets them
/// (bpftrace 0.26's).
const DEFAULTS: &[(&str, ConfigValueRef)] = &[
    ("cache_user_symbols", ConfigValueRef::Str("PER_PROGRAM")),
    ("cpp_demangle", ConfigValueRef::Bool(true)),
    ("lazy_symbolication", ConfigValueRef::Bool(false)),
    ("license", ConfigValueRef::Str("GPL")),
    ("log_size", ConfigValueRef::Int(1_000_000)),
    ("max_bpf_progs", ConfigValueRef::Int(1024)),
    ("max_cat_bytes", ConfigValueRef::Int(10_240)),
    ("max_map_keys", ConfigValueRef::Int(4096)),
    ("max_probes", ConfigValueRef::Int(1024)),
    ("max_strlen", ConfigValueRef::Int(super::DEFAULT_MAX_STRLEN)),
    ("max_type_res_iterations", ConfigValueRef::Int(0)),
    ("missing_probes", ConfigValueRef::Str("error")),
    ("on_stack_limit", ConfigValueRef::Int(32)),
    // 0 as in 0.26: the event buffer is sized from the memory available.
    ("perf_rb_pages", ConfigValueRef::Int(0)),
    ("print_maps_on_exit", ConfigValueRef::Bool(true)),
    ("show_debug_info", ConfigValueRef::Bool(true)),
    ("stack_mode", ConfigValueRef::Str("bpftrace")),
    ("str_trunc_trailer", ConfigValueRef::Str("..")),
];

#[derive(Clone, Copy)]
enum ConfigValueRef {
    Int(u64),
    Bool(bool),
    Str(&'static str),
}

/// `config.NAME`: the value the program's config block gives the
/// variable, else its default; `None` for a name that is not one.
pub fn config_value(program: &Program, name: &str) -> Option<ConfigValue> {
    let key = normalize_key(name);
    if let Some(e) = program.config.iter().flat_map(|c| &c.entries).find(|e| normalize_key(&e.key) == key) {
        return Some(e.value.clone());
    }
    let (_, v) = DEFAULTS.iter().find(|(k, _)| *k == key)?;
    Some(match *v {
        ConfigValueRef::Int(n) => ConfigValue::Int(n),
        ConfigValueRef::Bool(b) => ConfigValue::Bool(b),
        ConfigValueRef::Str(s) => ConfigValue::Str(s.to_string()),
    })
}

/// The names `config.NAME` can read.
pub fn config_names() -> impl Iterator<Item = &'static str> {
    DEFAULTS.iter().map(|(k, _)| *k)
}

/// `BPFTRACE_STACK_MODE`, `STACK_MODE` and `stack_mode` name one variable.
pub fn normalize_key(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    lower.strip_prefix("bpftrace_").unwrap_or(&lower).to_string()
}

/// Sets config variables from the environment, as bpftrace 0.26 does:
/// `BPFTRACE_MAX_STRLEN=100` sets `max_strlen`, over the program's config
/// block. `lookup` reads one environment variable. An environment value
/// the variable cannot take is an error naming it.
pub fn apply_environment(program: &mut Program, lookup: impl Fn(&str) -> Option<String>) -> Result<(), String> {
    for &(name, kind) in VARIABLES {
        let var = format!("BPFTRACE_{}", name.to_ascii_uppercase());
        let Some(text) = lookup(&var) else { continue };
        let value = match kind {
            Kind::Int => text.trim().parse().ok().map(ConfigValue::Int),
            Kind::Bool => match text.trim() {
                "1" | "true" => Some(ConfigValue::Bool(true)),
                "0" | "false" => Some(ConfigValue::Bool(false)),
                _ => None,
            },
            Kind::Str => Some(ConfigValue::Str(text.clone())),
            Kind::OneOf(values) => values
                .iter()
                .any(|v| v.eq_ignore_ascii_case(text.trim()))
                .then(|| ConfigValue::Ident(text.trim().into())),
        };
        let Some(value) = value else {
            return Err(format!("{var}={text}: not a value {name} can take ({})", expected(kind)));
        };
        let config = program.config.get_or_insert_with(|| Config { entries: Vec::new(), span: Default::default() });
        config.entries.retain(|e| normalize_key(&e.key) != name);
        config.entries.push(ConfigEntry {
            key: name.to_string(),
            key_span: config.span,
            value,
            value_span: config.span,
        });
    }
    Ok(())
}

/// What a config variable of `kind` takes, for messages.
fn expected(kind: Kind) -> String {
    match kind {
        Kind::Int => "an integer".to_string(),
        Kind::Bool => "true or false".to_string(),
        Kind::Str => "a string".to_string(),
        Kind::OneOf(values) => format!("one of {}", values.join(", ")),
    }
}

pub fn check_config(program: &Program) -> Vec<Diagnostic> {
    let Some(config) = &program.config else { return Vec::new() };
    let mut out = Vec::new();
    for e in &config.entries {
        let key = normalize_key(&e.key);
        let Some(&(_, kind)) = VARIABLES.iter().find(|(k, _)| *k == key) else {
            let mut d = Diagnostic::error(e.key_span, format!("Unrecognized config variable: {}", e.key));
            if let Some(s) = closest(&key, VARIABLES.iter().map(|v| v.0)) {
                d = d.with_hint(format!("did you mean '{s}'?"));
            }
            out.push(d);
            continue;
        };
        let ok = match (kind, &e.value) {
            (Kind::Int, ConfigValue::Int(_)) => true,
            (Kind::Bool, ConfigValue::Bool(_)) => true,
            (Kind::Bool, ConfigValue::Int(n)) => *n <= 1,
            (Kind::Str, ConfigValue::Str(_)) => true,
            (Kind::OneOf(values), ConfigValue::Ident(v) | ConfigValue::Str(v)) => {
                values.iter().any(|x| x.eq_ignore_ascii_case(v))
            }
            _ => false,
        };
        if !ok {
            out.push(Diagnostic::error(e.value_span, format!("Invalid value for {key}: expected {}", expected(kind))));
        }
    }
    out
}

const MAP_KINDS: &[&str] = &["hash", "lruhash", "percpuhash", "percpulruhash", "percpuarray", "array"];

pub fn check_map_decls(program: &Program) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in &program.map_decls {
        if !seen.insert(&d.name) {
            out.push(Diagnostic::error(d.name_span, format!("@{} is declared twice", d.name)));
        }
        if !MAP_KINDS.contains(&d.kind.as_str()) {
            let mut diag = Diagnostic::error(d.kind_span, format!("Invalid map type '{}'", d.kind));
            if let Some(s) = closest(&d.kind, MAP_KINDS.iter().copied()) {
                diag = diag.with_hint(format!("did you mean '{s}'?"));
            }
            out.push(diag);
        }
        if d.max_entries == 0 {
            out.push(Diagnostic::error(d.span, format!("@{} must hold at least one entry", d.name)));
        }
    }
    out
}
