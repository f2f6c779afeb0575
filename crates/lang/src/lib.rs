//! The bpftrace language front end of bpfscope.
//!
//! Text goes in, a checked syntax tree comes out, or diagnostics that point
//! at the place in the program that is wrong. Nothing here touches the
//! kernel or the file system: the compiler and the runtime build on it.
//!
//! ```
//! use bpfscope_lang::{parse, ParseOptions, Source};
//! let src = Source::new("stdin", "kprobe:vfs_read { @[comm] = count(); }");
//! let program = parse(&src, &ParseOptions::default()).expect("parses");
//! assert_eq!(program.probes[0].attach_points[0].canonical(), "kprobe:vfs_read");
//! ```

pub mod ast;
pub mod attach;
pub mod builtins;
pub mod check;
pub mod diagnostic;
pub mod eval;
pub mod format;
pub mod lexer;
pub mod parser;
pub mod preprocess;
pub mod printer;
pub mod provider;
pub mod registry;
pub mod source;
pub mod suggest;
pub mod token;
pub mod visit;

pub use diagnostic::{Diagnostic, Diagnostics, Look, Severity};
pub use parser::{ParseOptions, parse};
pub use source::{Source, Span};
