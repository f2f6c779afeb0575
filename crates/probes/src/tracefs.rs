//! Tracepoints as tracefs describes them: which exist, and the layout of
//! each one's record (its `format` file).

use std::path::{Path, PathBuf};

use crate::ProbeError;

/// Where tracefs is mounted (`/sys/kernel/tracing`, or the older debugfs
/// place).
pub fn root() -> Result<PathBuf, ProbeError> {
    for candidate in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        match std::fs::metadata(Path::new(candidate).join("events")) {
            Ok(m) if m.is_dir() => return Ok(PathBuf::from(candidate)),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(ProbeError::TracefsUnreadable(candidate.to_string()));
            }
            _ => {}
        }
    }
    Err(ProbeError::NoTracefs)
}

/// One field of a tracepoint's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    /// The whole C declaration as the format file writes it
    /// (`const char * filename`, `char comm[16]`).
    pub declaration: String,
    /// The C type as the format file writes it (`const char *`).
    pub c_type: String,
    pub offset: u32,
    pub size: u32,
    pub signed: bool,
    /// `char comm[16]`: the element count of an array field.
    pub array_len: Option<u32>,
}

impl Field {
    /// `__data_loc char[] name`: a u32 whose low half is the data's offset
    /// in the record and high half its length.
    pub fn is_data_loc(&self) -> bool {
        self.c_type.starts_with("__data_loc")
    }

    pub fn is_pointer(&self) -> bool {
        self.c_type.ends_with('*')
    }

    pub fn is_char(&self) -> bool {
        let t = self.c_type.trim_start_matches("const ").trim();
        t == "char" || t == "unsigned char" || t == "signed char" || t.starts_with("__data_loc char")
    }
}

/// The record layout of one tracepoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Format {
    pub id: u32,
    /// Fields after the `common_` ones, in record order.
    pub fields: Vec<Field>,
}

pub fn read_format(category: &str, event: &str) -> Result<Format, ProbeError> {
    let path = root()?.join("events").join(category).join(event).join("format");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ProbeError::NoTracepoint(format!("{category}:{event}"))
        } else {
            ProbeError::Io(path.display().to_string(), e)
        }
    })?;
    parse_format(&text).ok_or_else(|| ProbeError::BadFormat(path.display().to_string()))
}

/// Parses a tracepoint's `format` file.
pub fn parse_format(text: &str) -> Option<Format> {
    let mut id = None;
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("ID:") {
            id = v.trim().parse().ok();
            continue;
        }
        let Some(rest) = line.strip_prefix("field:") else { continue };
        let mut decl = "";
        let (mut offset, mut size, mut signed) = (None, None, false);
        for part in rest.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            if let Some(v) = part.strip_prefix("offset:") {
                offset = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("size:") {
                size = v.parse().ok();
            } else if let Some(v) = part.strip_prefix("signed:") {
                signed = v == "1";
            } else if decl.is_empty() {
                decl = part;
            }
        }
        let split = decl.rfind([' ', '*'])?;
        let (c_type, declarator) = (decl[..=split].trim().to_string(), decl[split + 1..].trim());
        let (name, array_len) = match declarator.split_once('[') {
            Some((n, dim)) => (n.to_string(), dim.trim_end_matches(']').parse().ok()),
            None => (declarator.to_string(), None),
        };
        if name.starts_with("common_") {
            continue;
        }
        let declaration = decl.to_string();
        fields.push(Field { name, c_type, declaration, offset: offset?, size: size?, signed, array_len });
    }
    Some(Format { id: id?, fields })
}

/// `category:event` of every tracepoint matching the patterns.
pub fn matching_events(category: &str, event: &str) -> Result<Vec<(String, String)>, ProbeError> {
    let events = root()?.join("events");
    let mut out = Vec::new();
    let mut categories: Vec<String> =
        list_dirs(&events)?.into_iter().filter(|c| crate::glob::matches(category, c)).collect();
    categories.sort();
    for c in categories {
        let mut names: Vec<String> =
            list_dirs(&events.join(&c))?.into_iter().filter(|e| crate::glob::matches(event, e)).collect();
        names.sort();
        out.extend(names.into_iter().map(|e| (c.clone(), e)));
    }
    Ok(out)
}

/// The kernel tracepoints (what raw tracepoints attach to) whose names
/// match a pattern, sorted. tracefs lists them under their categories;
/// `syscalls` holds per-call events made on `raw_syscalls`, and probe
/// groups hold kprobe and uprobe events, none of them tracepoints.
pub fn matching_raw_tracepoints(pattern: &str) -> Result<Vec<String>, ProbeError> {
    let glob = crate::glob::Glob::new(pattern);
    let events = root()?.join("events");
    let mut out = Vec::new();
    for c in list_dirs(&events)? {
        if c == "syscalls" || c == "ftrace" || c.starts_with("bpfscope_") || c.ends_with("probes") {
            continue;
        }
        out.extend(list_dirs(&events.join(&c))?.into_iter().filter(|e| glob.matches(e)));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn list_dirs(dir: &Path) -> Result<Vec<String>, ProbeError> {
    let entries = std::fs::read_dir(dir).map_err(|e| ProbeError::Io(dir.display().to_string(), e))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENAT: &str = "name: sys_enter_openat\nID: 782\nformat:\n\
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\
        \tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\
        \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n\
        \tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;\n\
        \tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;\n\
        \tfield:__data_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;\n\nprint fmt: \"x\"\n";

    #[test]
    fn formats() {
        let f = parse_format(OPENAT).expect("parses");
        assert_eq!(f.id, 782);
        let names: Vec<&str> = f.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["__syscall_nr", "filename", "comm", "name"]);
        assert_eq!(f.fields[1].c_type, "const char *");
        assert!(f.fields[1].is_pointer() && f.fields[0].signed);
        assert_eq!(f.fields[2].array_len, Some(16));
        assert!(f.fields[3].is_data_loc() && f.fields[3].is_char());
    }

    /// Format files cut short, with odd sizes, offsets, array lengths and
    /// types, as a kernel (or a fault) might give them: parsed or refused,
    /// never a panic; the fields of what parses lie inside the record.
    #[test]
    fn odd_format_files_do_not_panic() {
        let mut inputs: Vec<String> = (0..OPENAT.len()).map(|n| OPENAT[..n].to_string()).collect();
        for (from, to) in [
            ("offset:24", "offset:-24"),
            ("size:8", "size:99999999999999999999"),
            ("comm[16]", "comm[18446744073709551615]"),
            ("comm[16]", "comm[]"),
            ("const char * filename", ""),
            ("ID: 782", "ID: x"),
            ("\tfield:", "\tfield"),
            (";\toffset:", ";offset"),
            ("__data_loc char[] name", "__data_loc"),
        ] {
            inputs.push(OPENAT.replace(from, to));
        }
        for text in &inputs {
            if let Some(f) = parse_format(text) {
                for field in &f.fields {
                    let _ = (field.is_pointer(), field.is_char(), field.is_data_loc(), field.array_len);
                }
            }
        }
    }
}
