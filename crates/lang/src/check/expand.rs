//! Expansion before checking: bpftrace macros (hygienic: a macro sees only
//! what it is passed) and `#define` constants.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::parser::parse_expr_at;
use crate::source::{Source, Span};
use crate::visit::{VisitMut, walk_expr};

/// How deeply macros may expand into macros (and defines into defines).
const MAX_EXPANSION_DEPTH: u32 = 64;

/// The separator of names the expansion makes up for a macro's own scratch
/// variables; it cannot appear in a name the user writes.
pub const HYGIENE_MARK: char = '#';

/// A scratch variable's name as the user wrote it.
pub fn user_var_name(name: &str) -> &str {
    name.split(HYGIENE_MARK).next().unwrap_or(name)
}

/// Expands every macro call and `#define` use in the program's probes.
pub fn expand(program: &mut Program, source: &Source) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let mut macros: HashMap<(String, usize), MacroDef> = HashMap::new();
    for m in &program.macros {
        let key = (m.name.clone(), m.params.len());
        if macros.contains_key(&key) {
            diags.push(Diagnostic::error(
                m.name_span,
                format!("macro '{}' with {} parameters is defined twice", m.name, m.params.len()),
            ));
            continue;
        }
        let mut seen = HashSet::new();
        for p in &m.params {
            if !seen.insert(&p.name) {
                diags.push(Diagnostic::error(
                    p.span,
                    format!("macro '{}' has two parameters named '{}'", m.name, p.name),
                ));
            }
        }
        macros.insert(key, m.clone());
    }
    let defines = program
        .c_items
        .iter()
        .filter_map(|i| match i {
            CItem::Define(d) => Some((d.name.clone(), d.clone())),
            _ => None,
        })
        .collect();
    let mut ex = Expander {
        source,
        macros,
        defines,
        counter: 0,
        depth: 0,
        active_defines: Vec::new(),
        define_use: Span::default(),
        diags,
    };
    for probe in &mut program.probes {
        if let Some(p) = &mut probe.predicate {
            ex.expr(p);
        }
        crate::visit::walk_block(&mut ex, &mut probe.body);
    }
    for s in &mut program.subprogs {
        crate::visit::walk_block(&mut ex, &mut s.body);
    }
    ex.diags
}

struct Expander<'a> {
    source: &'a Source,
    macros: HashMap<(String, usize), MacroDef>,
    defines: HashMap<String, Define>,
    counter: u32,
    depth: u32,
    /// Defines being expanded, to stop `#define A B` / `#define B A`, and
    /// where in the program the outermost one is used.
    active_defines: Vec<String>,
    define_use: Span,
    diags: Vec<Diagnostic>,
}

impl Expander<'_> {
    fn macro_named(&self, name: &str, arity: usize) -> Result<Option<&MacroDef>, Diagnostic> {
        if let Some(m) = self.macros.get(&(name.to_string(), arity)) {
            return Ok(Some(m));
        }
        let arities: Vec<usize> = self.macros.keys().filter(|(n, _)| n == name).map(|(_, a)| *a).collect();
        match arities.as_slice() {
            [] => Ok(None),
            [a] => Err(Diagnostic::global(format!("macro '{name}' takes {a} argument{}, {arity} given", plural(*a)))),
            _ => Err(Diagnostic::global(format!("no macro '{name}' takes {arity} argument{}", plural(arity)))),
        }
    }

    fn expand_macro(&mut self, def: MacroDef, args: Vec<Expr>, call_span: Span) -> Result<Expr, Diagnostic> {
        if self.depth >= MAX_EXPANSION_DEPTH {
            return Err(Diagnostic::error(
                call_span,
                format!("macro '{}' expands into itself too deeply (more than {MAX_EXPANSION_DEPTH} levels)", def.name),
            ));
        }
        self.counter += 1;
        let mut vars = HashMap::new();
        let mut maps = HashMap::new();
        let mut exprs = HashMap::new();
        for (param, arg) in def.params.iter().zip(args) {
            match param.kind {
                MacroParamKind::Var => match arg.kind {
                    ExprKind::Var(name) => {
                        vars.insert(param.name.clone(), name);
                    }
                    _ => {
                        return Err(Diagnostic::error(
                            arg.span,
                            format!("macro '{}' expects a scratch variable for ${}", def.name, param.name),
                        )
                        .with_hint(format!(
                            "pass a variable such as $x, or change the parameter to '{}' to accept any expression",
                            param.name
                        )));
                    }
                },
                MacroParamKind::Map => match arg.kind {
                    ExprKind::Map(MapRef { name, keys: None, .. }) => {
                        maps.insert(param.name.clone(), name);
                    }
                    _ => {
                        return Err(Diagnostic::error(
                            arg.span,
                            format!("macro '{}' expects a map for @{}", def.name, param.name),
                        )
                        .with_hint("pass a map such as @m, without a key"));
                    }
                },
                MacroParamKind::Expr => {
                    exprs.insert(param.name.clone(), arg);
                }
            }
        }
        let mut body = def.body.clone();
        let mut hygiene =
            Hygiene { macro_name: &def.name, vars: &vars, maps: &maps, suffix: self.counter, error: None };
        crate::visit::walk_block(&mut hygiene, &mut body);
        if let Some(e) = hygiene.error {
            return Err(e);
        }
        let mut subst = Substitute { exprs: &exprs };
        crate::visit::walk_block(&mut subst, &mut body);
        let mut expanded = Expr::new(ExprKind::Block(body), call_span);
        self.depth += 1;
        self.expr(&mut expanded);
        self.depth -= 1;
        Ok(expanded)
    }

    fn expand_define(&mut self, name: &str, span: Span) -> Result<Option<Expr>, Diagnostic> {
        let Some(def) = self.defines.get(name).cloned() else { return Ok(None) };
        if def.params.is_some() {
            return Err(Diagnostic::error(
                span,
                format!("'{name}' is a function-like C macro, which bpfscope cannot expand"),
            )
            .with_hint("define it as a bpftrace macro instead: macro name(a, b) { ... }"));
        }
        if def.body.is_empty() {
            return Err(Diagnostic::error(span, format!("'{name}' is defined as nothing and has no value")));
        }
        if self.active_defines.is_empty() {
            self.define_use = span;
        }
        if self.active_defines.iter().any(|d| d == name) || self.active_defines.len() as u32 >= MAX_EXPANSION_DEPTH {
            let outer = self.active_defines.first().cloned().unwrap_or_else(|| name.to_string());
            return Err(Diagnostic::error(self.define_use, format!("'{outer}' is defined in terms of itself")));
        }
        let mut e = parse_expr_at(self.source, def.body_span).map_err(|d| {
            d.with_hint(format!(
                "in the expansion of '{name}', used at this program's line {}",
                self.source.line_col(span.start as usize).line
            ))
        })?;
        self.active_defines.push(name.to_string());
        self.expr(&mut e);
        self.active_defines.pop();
        Ok(Some(e))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl VisitMut for Expander<'_> {
    fn expr(&mut self, e: &mut Expr) {
        crate::parser::grow(|| self.expand_expr(e));
    }
}

impl Expander<'_> {
    fn expand_expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Call(call) => {
                for a in &mut call.args {
                    self.expr(a);
                }
                let found = match self.macro_named(&call.name, call.args.len()) {
                    Ok(m) => m.cloned(),
                    Err(d) => {
                        self.diags.push(Diagnostic { span: Some(call.name_span), ..d });
                        return;
                    }
                };
                if let Some(def) = found {
                    let args = std::mem::take(&mut call.args);
                    match self.expand_macro(def, args, e.span) {
                        Ok(x) => *e = x,
                        Err(d) => self.diags.push(d),
                    }
                }
            }
            ExprKind::Ident(name) => {
                let name = name.clone();
                if let Some(def) = self.macros.get(&(name.clone(), 0)).cloned() {
                    match self.expand_macro(def, Vec::new(), e.span) {
                        Ok(x) => *e = x,
                        Err(d) => self.diags.push(d),
                    }
                    return;
                }
                match self.expand_define(&name, e.span) {
                    Ok(Some(x)) => *e = x,
                    Ok(None) => {}
                    Err(d) => self.diags.push(d),
                }
            }
            _ => walk_expr(self, e),
        }
    }
}

/// Renames a macro body's variables and maps: parameters to what the caller
/// passed, the body's own variables to names no other code can use.
struct Hygiene<'a> {
    macro_name: &'a str,
    vars: &'a HashMap<String, String>,
    maps: &'a HashMap<String, String>,
    suffix: u32,
    error: Option<Diagnostic>,
}

impl VisitMut for Hygiene<'_> {
    fn var_name(&mut self, name: &mut String, _span: Span) {
        match self.vars.get(name.as_str()) {
            Some(caller) => *name = caller.clone(),
            None if !name.contains(HYGIENE_MARK) => *name = format!("{name}{HYGIENE_MARK}{}", self.suffix),
            None => {}
        }
    }

    fn map_name(&mut self, name: &mut String, span: Span) {
        match self.maps.get(name.as_str()) {
            Some(caller) => *name = caller.clone(),
            None if self.error.is_none() => {
                self.error = Some(
                    Diagnostic::error(
                        span,
                        format!("macro '{}' uses map @{name}, which is not one of its parameters", self.macro_name),
                    )
                    .with_hint(format!("macros only see the maps passed to them: add @{name} to the parameters")),
                );
            }
            None => {}
        }
    }
}

/// Replaces a macro body's expression parameters with the caller's
/// arguments.
struct Substitute<'a> {
    exprs: &'a HashMap<String, Expr>,
}

impl VisitMut for Substitute<'_> {
    fn expr(&mut self, e: &mut Expr) {
        if let ExprKind::Ident(name) = &e.kind
            && let Some(arg) = self.exprs.get(name)
        {
            *e = arg.clone();
            return;
        }
        walk_expr(self, e);
    }
}
