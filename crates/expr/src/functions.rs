//! The function table of the XPath dialect (XPath 1.0 core, Jaxen extensions, Synapse
//! functions) and the shape checks both the compiler and the scalar evaluator use: resolving a
//! call against the table, and recognising a bare property read.

use crate::props::{Read, VarKind};
use crate::syntax::Expr;

/// The W3C XPath functions namespace: Jaxen has no functions in it.
pub const W3C_FN_NS: &str = "http://www.w3.org/2005/xpath-functions";

// === function table ===

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Core,
    Jaxen,
    Synapse,
    /// A Synapse function synaptic does not implement.
    Unsupported,
}

pub(crate) struct FnSpec {
    pub(crate) name: &'static str,
    pub(crate) min: usize,
    pub(crate) max: usize,
    pub(crate) class: Class,
    /// Uses the context node when called without arguments.
    pub(crate) context_default: bool,
}

pub(crate) const MANY: usize = usize::MAX;

const fn f(name: &'static str, min: usize, max: usize, class: Class, ctx: bool) -> FnSpec {
    FnSpec {
        name,
        min,
        max,
        class,
        context_default: ctx,
    }
}

static FUNCTIONS: &[FnSpec] = &[
    f("last", 0, 0, Class::Core, false),
    f("position", 0, 0, Class::Core, false),
    f("count", 1, 1, Class::Core, false),
    f("id", 1, 1, Class::Core, false),
    f("local-name", 0, 1, Class::Core, true),
    f("namespace-uri", 0, 1, Class::Core, true),
    f("name", 0, 1, Class::Core, true),
    f("string", 0, 1, Class::Core, true),
    f("concat", 2, MANY, Class::Core, false),
    f("starts-with", 2, 2, Class::Core, false),
    f("contains", 2, 2, Class::Core, false),
    f("substring-before", 2, 2, Class::Core, false),
    f("substring-after", 2, 2, Class::Core, false),
    f("substring", 2, 3, Class::Core, false),
    f("string-length", 0, 1, Class::Core, true),
    f("normalize-space", 0, 1, Class::Core, true),
    f("translate", 3, 3, Class::Core, false),
    f("boolean", 1, 1, Class::Core, false),
    f("not", 1, 1, Class::Core, false),
    f("true", 0, 0, Class::Core, false),
    f("false", 0, 0, Class::Core, false),
    f("lang", 1, 1, Class::Core, false),
    f("number", 0, 1, Class::Core, true),
    f("sum", 1, 1, Class::Core, false),
    f("floor", 1, 1, Class::Core, false),
    f("ceiling", 1, 1, Class::Core, false),
    f("round", 1, 1, Class::Core, false),
    f("ends-with", 2, 2, Class::Jaxen, false),
    f("upper-case", 1, 2, Class::Jaxen, false),
    f("lower-case", 1, 2, Class::Jaxen, false),
    f("get-property", 0, 3, Class::Synapse, false),
    f("base64Encode", 1, 2, Class::Synapse, false),
    f("base64Decode", 1, 2, Class::Synapse, false),
    f("url-encode", 1, 2, Class::Synapse, false),
    // `wso2:vault-lookup('alias'[, type, isEncrypted])`: the host's secret by alias
    f("vault-lookup", 1, 3, Class::Synapse, false),
    f("hmac-generate", 2, 3, Class::Unsupported, false),
    f("encrypt", 1, MANY, Class::Unsupported, false),
    f("decrypt", 1, MANY, Class::Unsupported, false),
];

fn lookup(name: &str) -> Option<&'static FnSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Functions whose result is a number (operands that need no `number()` wrapper).
pub(crate) const NUMERIC_FNS: &[&str] = &[
    "number",
    "count",
    "sum",
    "string-length",
    "floor",
    "ceiling",
    "round",
    "position",
    "last",
];

pub(crate) fn strip_groups(mut e: &Expr) -> &Expr {
    while let Expr::Group(x) = e {
        e = x;
    }
    e
}

/// The function a call resolves to, if it is valid (errors are reported by the analyzer).
pub(crate) fn resolve_call(
    prefix: Option<&str>,
    name: &str,
    ns: &[(String, String)],
) -> Result<&'static FnSpec, String> {
    let Some(spec) = lookup(name) else {
        if name == "json-eval" {
            return Err("json-eval(…) is only supported as the whole expression".into());
        }
        return Err(match prefix {
            Some(p) => format!("unknown function {p}:{name}"),
            None => format!("unknown function {name}"),
        });
    };
    if let (Some(p), Class::Core | Class::Jaxen) = (prefix, spec.class) {
        if let Some((_, uri)) = ns.iter().rev().find(|(q, _)| q == p) {
            if uri == W3C_FN_NS {
                return Err(format!("W3C:{name}"));
            }
            return Err(format!(
                "unknown function {p}:{name} (prefix {p} is bound to {uri:?})"
            ));
        }
    }
    Ok(spec)
}

pub(crate) fn literal_args(args: &[Expr]) -> Option<Vec<String>> {
    args.iter()
        .map(|a| match strip_groups(a) {
            Expr::Literal(s) => Some(s.clone()),
            Expr::Number(v, _) => Some(crate::num::xpath_number_string(*v)),
            _ => None,
        })
        .collect()
}

/// `get-property(<literals>)` or `$ctx:x`-style as a whole.
pub(crate) fn bare_read(e: &Expr, ns: &[(String, String)]) -> Option<Read> {
    match e {
        Expr::Call {
            prefix, name, args, ..
        } => {
            let spec = resolve_call(prefix.as_deref(), name, ns).ok()?;
            if spec.name != "get-property" {
                return None;
            }
            Some(Read::GetProperty(literal_args(args)?))
        }
        Expr::Var {
            prefix: Some(p),
            local,
            ..
        } => Some(Read::Var(VarKind::parse(p)?, local.clone())),
        _ => None,
    }
}
