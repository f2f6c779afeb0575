//! A reference evaluator: runs the `BEGIN` probe of a checked program in
//! this process, with the language's rules written down once more and
//! independently of the compiler, so that the kernel's answers can be
//! compared with it (the differential tests do).
//!
//! It covers what needs no probe context: integers of every width and
//! signedness, booleans, casts, strings, arithmetic, comparisons,
//! conditionals, loops, scratch variables, maps without aggregations, and
//! `printf`/`print` of those. Anything else is an [`EvalError`], never a
//! guess.
//!
//! The rules (bpftrace 0.26's unless noted): integer arithmetic is 64-bit
//! and wraps; it is signed when either operand is; `/` and `%` truncate
//! toward zero as C does (bpftrace 0.26 divides signed values as unsigned)
//! and give 1 for a zero divisor; `>>` of a signed value keeps the sign (as
//! C compilers do; bpftrace 0.26 shifts in zeros); shift counts are taken
//! modulo 64; a cast to an integer type keeps its low bits and extends them
//! by the new type's sign.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::ast::*;
use crate::check::{CheckedProgram, Type};
use crate::format::{self, Conversion, Piece, Spec};

/// What could not be evaluated, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate: {0}")]
pub struct EvalError(pub String);

type EResult<T> = Result<T, EvalError>;

/// A value: integers and booleans as their 64 bits, strings as their text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Int(i64),
    Str(Vec<u8>),
    Tuple(Vec<(Value, Type)>),
}

/// What a run printed, and whether it ended with `exit()` (and its code).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub output: String,
    pub exit: Option<i64>,
    /// How many run-time warnings (division by zero) it would print.
    pub warnings: usize,
}

/// How the evaluator leaves a block early.
enum Flow {
    Break,
    Continue,
    Return,
}

/// Most loop iterations before the evaluator gives up (bpf_loop's limit).
const LOOP_LIMIT: u64 = 1 << 23;

/// Evaluates the program's `BEGIN` probes in order, as a run with no
/// other probes would print them (without the maps printed at exit).
pub fn eval_begin(checked: &CheckedProgram, params: &[String]) -> EResult<Outcome> {
    let trailer = match crate::check::config_value(&checked.program, "str_trunc_trailer") {
        Some(crate::ast::ConfigValue::Str(s) | crate::ast::ConfigValue::Ident(s)) => s,
        _ => String::new(),
    };
    let mut ev = Evaluator {
        checked,
        params,
        trailer,
        out: Outcome::default(),
        vars: BTreeMap::new(),
        var_types: BTreeMap::new(),
        maps: BTreeMap::new(),
        aggs: BTreeMap::new(),
    };
    for (index, probe) in checked.program.probes.iter().enumerate() {
        ev.var_types = checked.probe_vars(index).map(|(n, t)| (n.to_string(), t.clone())).collect();
        let is_begin = probe.attach_points.iter().all(|ap| ap.provider == crate::attach::Provider::Begin);
        if !is_begin {
            return Err(EvalError("probes other than BEGIN".into()));
        }
        ev.vars.clear();
        if let Some(pred) = &probe.predicate
            && ev.int(pred)? == 0
        {
            continue;
        }
        match ev.block(&probe.body) {
            Ok(_) | Err(Stop::Jump(_)) => {}
            Err(Stop::Exit) => break,
            Err(Stop::Error(e)) => return Err(e),
        }
        if ev.out.exit.is_some() {
            break;
        }
    }
    Ok(ev.out)
}

/// Why evaluation stopped before the end: `exit()`, an error, or a jump
/// (`break`, `continue`, `return`) leaving the `if` it is in.
enum Stop {
    Exit,
    Error(EvalError),
    Jump(Flow),
}

impl From<EvalError> for Stop {
    fn from(e: EvalError) -> Stop {
        Stop::Error(e)
    }
}

struct Evaluator<'a> {
    checked: &'a CheckedProgram,
    params: &'a [String],
    /// What a string that did not fit its value prints with.
    trailer: String,
    out: Outcome,
    vars: BTreeMap<String, Value>,
    /// The current probe's variables' types: a variable holds values of
    /// its type (an integer narrower than 64 bits wraps, as in C).
    var_types: BTreeMap<String, Type>,
    maps: BTreeMap<(String, Vec<u8>), Value>,
    /// Aggregations by map and key: how many values, their total, and the
    /// smallest and largest.
    aggs: BTreeMap<(String, Vec<u8>), Agg>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Agg {
    count: i64,
    total: i64,
    min: i64,
    max: i64,
}

fn unsupported<T>(what: &str) -> EResult<T> {
    Err(EvalError(what.to_string()))
}

/// `n` cut to `bits` bits, then extended by the type's sign.
pub fn truncate(n: i64, bits: u8, signed: bool) -> i64 {
    if bits >= 64 {
        return n;
    }
    let shift = 64 - u32::from(bits);
    if signed { (n << shift) >> shift } else { ((n as u64) << shift >> shift) as i64 }
}

fn is_signed(t: &Type) -> bool {
    matches!(t, Type::Int { signed: true, .. })
}

impl Evaluator<'_> {
    fn ty(&self, e: &Expr) -> Type {
        self.checked.type_of(e).clone()
    }

    /// Stores a value in a variable, as a value of the variable's type.
    fn set_var(&mut self, name: &str, v: Value) {
        let v = match (v, self.var_types.get(name)) {
            (Value::Int(n), Some(Type::Int { bits, signed })) => Value::Int(truncate(n, *bits, *signed)),
            (v, _) => v,
        };
        self.vars.insert(name.to_string(), v);
    }

    fn block(&mut self, b: &Block) -> Result<Option<Flow>, Stop> {
        for s in &b.stmts {
            if let Some(flow) = self.stmt(s)? {
                return Ok(Some(flow));
            }
        }
        if let Some(t) = &b.tail {
            self.value(t)?;
        }
        Ok(None)
    }

    fn stmt(&mut self, s: &Stmt) -> Result<Option<Flow>, Stop> {
        match &s.kind {
            StmtKind::Expr(e) | StmtKind::Discard(e) => match self.value(e) {
                Err(Stop::Jump(flow)) => return Ok(Some(flow)),
                other => {
                    other?;
                }
            },
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value)?,
            StmtKind::Let { name, value: Some(v), .. } => {
                let v = self.value(v)?;
                self.set_var(name, v);
            }
            StmtKind::Let { .. } => {}
            StmtKind::While { cond, body } => {
                let mut n = 0u64;
                while self.int(cond)? != 0 {
                    n += 1;
                    if n > LOOP_LIMIT {
                        return Err(EvalError("a loop past bpf_loop's limit".into()).into());
                    }
                    match self.block(body)? {
                        Some(Flow::Break) => break,
                        Some(Flow::Return) => return Ok(Some(Flow::Return)),
                        Some(Flow::Continue) | None => {}
                    }
                }
            }
            StmtKind::For { var, iter: ForIter::Range { start, end }, body, .. } => {
                let (from, to) = (self.int(start)?, self.int(end)?);
                let mut i = from;
                while i < to {
                    self.set_var(var, Value::Int(i));
                    match self.block(body)? {
                        Some(Flow::Break) => break,
                        Some(Flow::Return) => return Ok(Some(Flow::Return)),
                        Some(Flow::Continue) | None => {}
                    }
                    i += 1;
                }
            }
            StmtKind::Break => return Ok(Some(Flow::Break)),
            StmtKind::Continue => return Ok(Some(Flow::Continue)),
            StmtKind::Return(_) => return Ok(Some(Flow::Return)),
            _ => return Err(EvalError("this statement".into()).into()),
        }
        Ok(None)
    }

    fn assign(&mut self, target: &Expr, op: Option<BinOp>, value: &Expr) -> Result<(), Stop> {
        if let (ExprKind::Map(m), None, ExprKind::Call(c)) = (&target.kind, op, &value.kind)
            && let Some(kind) = crate::check::AggKind::from_function(&c.name)
        {
            return self.aggregate(m, kind, c);
        }
        // The variable's own type (a target has none of its own).
        let target_ty = match &target.kind {
            ExprKind::Var(name) => self.var_types.get(name).cloned().unwrap_or(Type::Unknown),
            ExprKind::Map(m) => self.checked.maps.get(&m.name).map_or(Type::Unknown, |i| i.value.clone()),
            _ => Type::Unknown,
        };
        let v = match op {
            Some(op) => {
                let cur = self.int(target)?;
                let rhs = self.int(value)?;
                let signed = match op {
                    BinOp::Shl | BinOp::Shr => is_signed(&target_ty),
                    _ => is_signed(&target_ty) || is_signed(&self.ty(value)),
                };
                Value::Int(self.arith(op, cur, rhs, signed))
            }
            None => self.value(value)?,
        };
        match &target.kind {
            ExprKind::Var(name) => self.set_var(name, v),
            ExprKind::Map(m) => {
                let key = self.map_key(m)?;
                self.maps.insert(key, v);
            }
            _ => return Err(EvalError("assigning to this".into()).into()),
        }
        Ok(())
    }

    /// `@m[k] = count()`, `sum(v)`, `avg(v)`, `min(v)`, `max(v)`.
    fn aggregate(&mut self, m: &MapRef, kind: crate::check::AggKind, c: &Call) -> Result<(), Stop> {
        use crate::check::AggKind;
        let v = match (kind, c.args.first()) {
            (AggKind::Count, _) => 1,
            (AggKind::Sum | AggKind::Avg | AggKind::Min | AggKind::Max, Some(a)) => self.int(a)?,
            _ => return Err(EvalError(format!("{}()", c.name)).into()),
        };
        let key = self.map_key(m)?;
        let a = self.aggs.entry(key).or_default();
        a.min = if a.count == 0 { v } else { a.min.min(v) };
        a.max = if a.count == 0 { v } else { a.max.max(v) };
        a.count += 1;
        a.total = a.total.wrapping_add(v);
        Ok(())
    }

    fn map_key(&mut self, m: &MapRef) -> EResult<(String, Vec<u8>)> {
        let mut key = Vec::new();
        for k in m.keys.iter().flatten() {
            match self.value(k).map_err(stop_error)? {
                Value::Int(n) => key.extend_from_slice(&n.to_le_bytes()),
                Value::Str(s) => {
                    key.extend_from_slice(&s);
                    key.push(0);
                }
                Value::Tuple(_) => return unsupported("tuple keys"),
            }
        }
        Ok((m.name.clone(), key))
    }

    fn int(&mut self, e: &Expr) -> EResult<i64> {
        match self.value(e).map_err(stop_error)? {
            Value::Int(n) => Ok(n),
            _ => unsupported("a string where a number goes"),
        }
    }

    fn value(&mut self, e: &Expr) -> Result<Value, Stop> {
        let t = self.ty(e);
        Ok(match &e.kind {
            ExprKind::Int(n) => Value::Int(*n as i64),
            ExprKind::Bool(b) => Value::Int(i64::from(*b)),
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Param(n) => {
                let text = usize::try_from(*n).ok().and_then(|n| self.params.get(n.checked_sub(1)?)).cloned();
                match t {
                    Type::Str(_) => Value::Str(text.unwrap_or_default().into_bytes()),
                    _ => Value::Int(text.and_then(|v| v.parse().ok()).unwrap_or(0)),
                }
            }
            ExprKind::ParamCount => Value::Int(self.params.len() as i64),
            ExprKind::Var(name) => match self.vars.get(name) {
                Some(v) => v.clone(),
                None => zero_of(&t),
            },
            ExprKind::Map(m) => {
                let key = self.map_key(m)?;
                if let Type::Agg(kind) = &t {
                    use crate::check::AggKind;
                    let a = self.aggs.get(&key).copied().unwrap_or_default();
                    return Ok(Value::Int(match kind {
                        AggKind::Count => a.count,
                        AggKind::Sum => a.total,
                        AggKind::Avg if a.count > 0 => a.total.wrapping_div(a.count),
                        AggKind::Min => a.min,
                        AggKind::Max => a.max,
                        _ => 0,
                    }));
                }
                self.maps.get(&key).cloned().unwrap_or_else(|| zero_of(&t))
            }
            ExprKind::Cast { expr, .. } => {
                let v = self.int(expr)?;
                match t {
                    Type::Int { bits, signed } => Value::Int(truncate(v, bits, signed)),
                    Type::Bool => Value::Int(i64::from(v != 0)),
                    _ => return Err(EvalError("a cast to this type".into()).into()),
                }
            }
            ExprKind::Unary { op, expr } => {
                let v = self.int(expr)?;
                Value::Int(match op {
                    UnaryOp::Neg => v.wrapping_neg(),
                    UnaryOp::BitNot => !v,
                    UnaryOp::Not => i64::from(v == 0),
                    _ => return Err(EvalError("memory access".into()).into()),
                })
            }
            ExprKind::Binary { op: BinOp::And, lhs, rhs } => {
                Value::Int(i64::from(self.int(lhs)? != 0 && self.int(rhs)? != 0))
            }
            ExprKind::Binary { op: BinOp::Or, lhs, rhs } => {
                Value::Int(i64::from(self.int(lhs)? != 0 || self.int(rhs)? != 0))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                // count, sum, min, max and avg maps read as integers.
                let (lt, rt) = (self.ty(lhs).read_as_int(), self.ty(rhs).read_as_int());
                if matches!(lt, Type::Str(_)) || matches!(rt, Type::Str(_)) {
                    let (a, b) = (self.value(lhs)?, self.value(rhs)?);
                    let same = text_of(&a) == text_of(&b);
                    return Ok(Value::Int(i64::from(if *op == BinOp::Eq { same } else { !same })));
                }
                if !lt.is_integral() || !rt.is_integral() {
                    return Err(EvalError("this operation".into()).into());
                }
                let (a, b) = (self.int(lhs)?, self.int(rhs)?);
                let signed = match op {
                    BinOp::Shl | BinOp::Shr => is_signed(&lt),
                    _ => is_signed(&lt) || is_signed(&rt),
                };
                Value::Int(if op.is_comparison() {
                    i64::from(compare(*op, a, b, signed))
                } else {
                    self.arith(*op, a, b, signed)
                })
            }
            ExprKind::Ternary { cond, then, otherwise } => {
                let c = self.int(cond)?;
                match (c != 0, then) {
                    (true, Some(t)) => self.value(t)?,
                    (true, None) => Value::Int(c),
                    (false, _) => self.value(otherwise)?,
                }
            }
            ExprKind::IncDec { target, inc, prefix } => {
                let old = self.int(target)?;
                let new = if *inc { old.wrapping_add(1) } else { old.wrapping_sub(1) };
                let new = match (&target.kind, self.var_types.get(var_name(target))) {
                    (ExprKind::Var(_), Some(Type::Int { bits, signed })) => truncate(new, *bits, *signed),
                    _ => new,
                };
                match &target.kind {
                    ExprKind::Var(name) => self.set_var(name, Value::Int(new)),
                    ExprKind::Map(m) => {
                        let key = self.map_key(m)?;
                        self.maps.insert(key, Value::Int(new));
                    }
                    _ => return Err(EvalError("++ on this".into()).into()),
                }
                Value::Int(if *prefix { new } else { old })
            }
            ExprKind::Tuple(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push((self.value(i)?, self.ty(i)));
                }
                Value::Tuple(out)
            }
            ExprKind::TupleIndex { base, index } => match self.value(base)? {
                Value::Tuple(items) => {
                    items.get(*index as usize).map(|(v, _)| v.clone()).ok_or_else(|| EvalError("index".into()))?
                }
                _ => return Err(EvalError("an index of this".into()).into()),
            },
            ExprKind::If(i) => {
                if t != Type::None {
                    return Err(EvalError("if as a value".into()).into());
                }
                if self.int(&i.cond)? != 0 {
                    if let Some(flow) = self.block(&i.then)? {
                        return Err(Stop::Jump(flow));
                    }
                } else if let Some(o) = &i.otherwise {
                    self.value(o)?;
                }
                Value::Int(0)
            }
            ExprKind::Block(b) => {
                if let Some(flow) = self.block(b)? {
                    return Err(Stop::Jump(flow));
                }
                Value::Int(0)
            }
            ExprKind::Call(c) => self.call(c, &t)?,
            _ => return Err(EvalError("this expression".into()).into()),
        })
    }

    /// `a op b` on 64 bits.
    fn arith(&mut self, op: BinOp, a: i64, b: i64, signed: bool) -> i64 {
        match op {
            BinOp::Add => a.wrapping_add(b),
            BinOp::Sub => a.wrapping_sub(b),
            BinOp::Mul => a.wrapping_mul(b),
            BinOp::Div | BinOp::Mod if b == 0 => {
                self.out.warnings += 1;
                1
            }
            BinOp::Div if signed => a.wrapping_div(b),
            BinOp::Mod if signed => a.wrapping_rem(b),
            BinOp::Div => ((a as u64) / (b as u64)) as i64,
            BinOp::Mod => ((a as u64) % (b as u64)) as i64,
            BinOp::BitAnd => a & b,
            BinOp::BitOr => a | b,
            BinOp::BitXor => a ^ b,
            BinOp::Shl => a.wrapping_shl((b & 63) as u32),
            BinOp::Shr if signed => a.wrapping_shr((b & 63) as u32),
            BinOp::Shr => ((a as u64) >> (b & 63)) as i64,
            _ => 0,
        }
    }

    /// A call, whose result has type `t`.
    fn call(&mut self, c: &Call, t: &Type) -> Result<Value, Stop> {
        match c.name.as_str() {
            "printf" => {
                let Some(Expr { kind: ExprKind::Str(fmt), .. }) = c.args.first() else {
                    return Err(EvalError("printf without a literal format".into()).into());
                };
                let pieces = format::parse_format(fmt).map_err(|e| EvalError(e.message))?;
                let mut args = Vec::new();
                for a in &c.args[1..] {
                    args.push((self.value(a)?, self.ty(a)));
                }
                let text = printf(&pieces, &args, &self.trailer)?;
                self.out.output.push_str(&text);
                Ok(Value::Int(0))
            }
            "print" => {
                let [a] = c.args.as_slice() else { return Err(EvalError("print() of maps".into()).into()) };
                if matches!(a.kind, ExprKind::Map(_)) {
                    return Err(EvalError("print() of a map".into()).into());
                }
                let v = self.value(a)?;
                let text = print_text(&v, &self.ty(a), &self.trailer);
                self.out.output.push_str(&text);
                self.out.output.push('\n');
                Ok(Value::Int(0))
            }
            "exit" => {
                let code = match c.args.first() {
                    Some(a) => self.int(a)?,
                    None => 0,
                };
                self.out.exit = Some(code);
                Err(Stop::Exit)
            }
            "delete" => {
                let key = match c.args.as_slice() {
                    [Expr { kind: ExprKind::Map(m), .. }] => self.map_key(m)?,
                    [Expr { kind: ExprKind::Map(m), .. }, k] => {
                        let with_key = MapRef { keys: Some(vec![k.clone()]), ..m.clone() };
                        self.map_key(&with_key)?
                    }
                    _ => return Err(EvalError("this delete()".into()).into()),
                };
                self.maps.remove(&key);
                Ok(Value::Int(0))
            }
            "str" => {
                // bpftrace 0.26: the bytes a read of min(n, max_strlen)
                // bytes (one more where max_strlen is under 1024) keeps
                // before its NUL, as many as the value's type holds.
                let cap = match t {
                    Type::Str(n) => *n,
                    _ => return Err(EvalError("str() of this type".into()).into()),
                };
                let Value::Str(s) = (match c.args.first() {
                    Some(a) => self.value(a)?,
                    None => return Err(EvalError("str()".into()).into()),
                }) else {
                    return Err(EvalError("str() of a number".into()).into());
                };
                let max = crate::check::configured_max_strlen(&self.checked.program);
                let pad = u64::from(max < 1024);
                let read = match c.args.get(1).map(|n| &n.kind) {
                    Some(ExprKind::Int(n)) => ((*n).min(max) + pad).min(cap + pad),
                    // A length known only at run time reads as many as fit.
                    _ => cap + pad,
                };
                let keep = usize::try_from(read.saturating_sub(1).min(cap)).unwrap_or(usize::MAX);
                let text = s.split(|b| *b == 0).next().unwrap_or_default();
                Ok(Value::Str(text[..keep.min(text.len())].to_vec()))
            }
            "strlen" | "strcontains" | "strstr" | "str_concat" => {
                let mut texts = Vec::new();
                for a in &c.args {
                    match self.value(a)? {
                        Value::Str(s) => texts.push(s.split(|b| *b == 0).next().unwrap_or_default().to_vec()),
                        _ => return Err(EvalError(format!("{}() of a non-string", c.name)).into()),
                    }
                }
                let find = |h: &[u8], n: &[u8]| -> i64 {
                    if n.is_empty() {
                        return 0;
                    }
                    h.windows(n.len()).position(|w| w == n).map_or(-1, |i| i as i64)
                };
                Ok(match (c.name.as_str(), texts.as_slice()) {
                    ("strlen", [s]) => Value::Int(s.len() as i64),
                    ("strstr", [h, n]) => Value::Int(find(h, n)),
                    ("strcontains", [h, n]) => Value::Int(i64::from(find(h, n) >= 0)),
                    ("str_concat", [a, b]) => {
                        // Cut to the result's size, less its NUL.
                        let cap = match t {
                            Type::Str(n) => usize::try_from(*n).unwrap_or(usize::MAX).saturating_sub(1),
                            _ => usize::MAX,
                        };
                        let mut s = [a.as_slice(), b.as_slice()].concat();
                        s.truncate(cap);
                        Value::Str(s)
                    }
                    _ => return Err(EvalError(format!("{}() with these arguments", c.name)).into()),
                })
            }
            other => Err(EvalError(format!("{other}()")).into()),
        }
    }
}

fn var_name(e: &Expr) -> &str {
    match &e.kind {
        ExprKind::Var(name) => name,
        _ => "",
    }
}

fn stop_error(s: Stop) -> EvalError {
    match s {
        Stop::Error(e) => e,
        Stop::Exit | Stop::Jump(_) => EvalError("exit() or a jump inside an expression".into()),
    }
}

fn zero_of(t: &Type) -> Value {
    match t {
        Type::Str(_) => Value::Str(Vec::new()),
        _ => Value::Int(0),
    }
}

fn text_of(v: &Value) -> Vec<u8> {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(n) => n.to_string().into_bytes(),
        Value::Tuple(_) => Vec::new(),
    }
}

fn compare(op: BinOp, a: i64, b: i64, signed: bool) -> bool {
    let ord = if signed { a.cmp(&b) } else { (a as u64).cmp(&(b as u64)) };
    match op {
        BinOp::Eq => ord.is_eq(),
        BinOp::Ne => ord.is_ne(),
        BinOp::Lt => ord.is_lt(),
        BinOp::Le => ord.is_le(),
        BinOp::Gt => ord.is_gt(),
        _ => ord.is_ge(),
    }
}

/// A value as `print()` shows it.
fn print_text(v: &Value, t: &Type, trailer: &str) -> String {
    match (v, t) {
        (Value::Int(n), Type::Bool) => (*n != 0).to_string(),
        (Value::Int(n), Type::Int { signed: false, .. }) => (*n as u64).to_string(),
        (Value::Int(n), _) => n.to_string(),
        // A string as long as its value, with no room for the NUL, did not
        // fit (bpftrace 0.26's rule).
        (Value::Str(s), Type::Str(n)) if *n > 0 && s.len() as u64 == *n => {
            format!("{}{trailer}", String::from_utf8_lossy(s))
        }
        (Value::Str(s), _) => String::from_utf8_lossy(s).into_owned(),
        (Value::Tuple(items), _) => {
            let parts: Vec<String> = items.iter().map(|(v, t)| print_text(v, t, trailer)).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// C's printf for the conversions numbers and strings use.
fn printf(pieces: &[Piece], args: &[(Value, Type)], trailer: &str) -> EResult<String> {
    let mut out = String::new();
    let mut args = args.iter();
    for p in pieces {
        match p {
            Piece::Literal(bytes) => out.push_str(&String::from_utf8_lossy(bytes)),
            Piece::Spec(spec) => {
                let Some((v, t)) = args.next() else { return unsupported("a missing argument") };
                let body = conversion(spec, v, t, trailer)?;
                pad(&mut out, spec, &body);
            }
        }
    }
    Ok(out)
}

fn conversion(spec: &Spec, v: &Value, t: &Type, trailer: &str) -> EResult<String> {
    let n = match v {
        Value::Int(n) => *n,
        Value::Str(_) if spec.conversion == Conversion::Str => return Ok(print_text(v, t, trailer)),
        _ => return unsupported("this printf argument"),
    };
    let bits = spec.int_bits;
    Ok(match spec.conversion {
        Conversion::Signed => truncate(n, bits, true).to_string(),
        Conversion::Unsigned => (truncate(n, bits, false) as u64).to_string(),
        Conversion::Hex => format!("{:x}", truncate(n, bits, false) as u64),
        Conversion::HexUpper => format!("{:X}", truncate(n, bits, false) as u64),
        Conversion::Octal => format!("{:o}", truncate(n, bits, false) as u64),
        Conversion::Str => print_text(v, t, trailer),
        _ => return unsupported("this conversion"),
    })
}

/// Pads a converted value to the spec's width.
fn pad(out: &mut String, spec: &Spec, body: &str) {
    let width = spec.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= width {
        out.push_str(body);
    } else if spec.left_align {
        let _ = write!(out, "{body}{}", " ".repeat(width - len));
    } else if spec.zero_pad && spec.conversion != Conversion::Str {
        let (sign, digits) = body.strip_prefix('-').map_or(("", body), |d| ("-", d));
        let _ = write!(out, "{sign}{}{digits}", "0".repeat(width - len));
    } else {
        let _ = write!(out, "{}{body}", " ".repeat(width - len));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ParseOptions, Source, parse};

    fn output(program: &str) -> String {
        let source = Source::new("stdin", program);
        let parsed = parse(&source, &ParseOptions::default()).expect("parses");
        let checked = crate::check::check(parsed, &source, &Default::default()).expect("checks");
        eval_begin(&checked, &[]).expect("evaluates").output
    }

    /// What the kernel prints for the same program (see
    /// tests/long_strings.rs for strings from traced memory).
    #[test]
    fn str_cuts_as_bpftrace_0_26_and_a_string_that_did_not_fit_shows_the_trailer() {
        let program = r#"config = { max_strlen = 4 } BEGIN { printf("%s|%s|%d\n", str("hello"), str("hello", 2), strlen(str("hello"))); print((str("hello", 2), str("hello"))); exit(); }"#;
        assert_eq!(output(program), "hell..|he|4\n(he, hell..)\n");
        let program = r#"config = { str_trunc_trailer = "~" } BEGIN { printf("%s|%s\n", str("hello"), str("hello", 2)); exit(); }"#;
        assert_eq!(output(program), "hello|h\n");
        let program = r#"config = { max_strlen = 5; str_trunc_trailer = "~" } BEGIN { print(str("hello")); exit(); }"#;
        assert_eq!(output(program), "hello~\n");
    }
}
