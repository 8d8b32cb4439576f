//! `<payloadFactory>`: replace the body with a template (xml, json or text; inline or from the
//! registry) filled with `$n` arguments and `${…}` expressions, the way Synapse escapes and
//! inserts them.

use crate::compiler::Compiler;
use crate::context::{mime_of, Env};
use crate::convert::value_string;
use crate::eval::eval;
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use bytes::Bytes;
use std::collections::BTreeSet;
use synaptic_diag::codes;
use synaptic_expr::synexpr::{self, SynExpr};
use synaptic_expr::{CompiledExpr, Dialect, Value};
use synaptic_payload::{Envelope, Payload, SoapVersion};
use synaptic_syntax::ast;

const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

#[derive(Debug)]
pub(crate) enum MediaType {
    Xml,
    Json,
    Text,
}

#[derive(Debug)]
pub(crate) enum FormatSrc {
    Inline(String),
    /// An inline format with `${…}` placeholders.
    Syn(synaptic_expr::synexpr::Template),
    Key(String),
}

#[derive(Debug)]
pub(crate) enum ArgSrc {
    Value(String),
    Expr { expr: CompiledExpr, json: bool },
}

#[derive(Debug)]
pub(crate) struct PfArg {
    pub src: ArgSrc,
    pub literal: bool,
}

#[derive(Debug)]
pub(crate) struct PayloadFactoryOp {
    pub media: MediaType,
    pub format: FormatSrc,
    pub args: Vec<PfArg>,
}

impl Compiler<'_> {
    pub(crate) fn payload_factory(&mut self, p: &ast::PayloadFactory) -> Option<PayloadFactoryOp> {
        let media = match p.media_type {
            ast::MediaType::Xml => MediaType::Xml,
            ast::MediaType::Json => MediaType::Json,
            ast::MediaType::Text => MediaType::Text,
        };
        let format = match &p.format {
            ast::Format::Inline(s) if synaptic_expr::synexpr::has_expressions(&s.value) => {
                FormatSrc::Syn(crate::eval::compile_template(s, &mut self.diags)?)
            }
            ast::Format::Inline(s) => FormatSrc::Inline(s.value.clone()),
            ast::Format::Key(k) => match self.local_entries.get(&k.value) {
                Some(t) => FormatSrc::Inline(t.clone()),
                None => FormatSrc::Key(k.value.clone()),
            },
        };
        let mut args = Vec::new();
        let mut ok = true;
        for a in &p.args {
            let src = match &a.kind {
                ast::ArgKind::Value(v) => ArgSrc::Value(v.value.clone()),
                ast::ArgKind::Expression { expr, evaluator } => {
                    let json = match evaluator.as_ref().map(|e| e.value.as_str()) {
                        None | Some("xml") => false,
                        Some("json") => true,
                        Some(other) => {
                            let sp = evaluator.as_ref().map(|e| e.span).unwrap_or(a.span);
                            self.err(
                                codes::E0106,
                                sp,
                                format!("unknown evaluator `{other}` (expected `xml` or `json`)"),
                            );
                            ok = false;
                            continue;
                        }
                    };
                    // `json-eval(…)` is detected by expr whatever the evaluator says.
                    let dialect = if json && !expr.text.trim_start().starts_with("json-eval(") {
                        Dialect::JsonPath
                    } else {
                        Dialect::XPath
                    };
                    match self.expr(expr, dialect) {
                        Some(e) => ArgSrc::Expr { expr: e, json },
                        None => {
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            args.push(PfArg {
                src,
                literal: a.literal,
            });
        }
        ok.then_some(PayloadFactoryOp {
            media,
            format,
            args,
        })
    }
}

pub(crate) fn payload_factory(
    engine: &Engine,
    p: &PayloadFactoryOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let template: String = match &p.format {
        FormatSrc::Inline(s) => s.clone(),
        FormatSrc::Syn(t) => render_pf(
            engine,
            ctx,
            t,
            matches!(p.media, MediaType::Json),
            matches!(p.media, MediaType::Xml),
        ),
        FormatSrc::Key(k) => ctx.registry_value(k).ok_or_else(|| {
            MediationError::internal(
                ErrorKind::Registry,
                format!("payloadFactory format `{k}` is not in the registry"),
            )
        })?,
    };
    let mut args = Vec::with_capacity(p.args.len());
    for a in &p.args {
        let arg = match &a.src {
            ArgSrc::Value(v) => {
                if !a.literal && is_xml(v) {
                    Arg::Xml(v.clone())
                } else {
                    Arg::Str {
                        s: v.clone(),
                        from_value: true,
                        literal: a.literal,
                    }
                }
            }
            ArgSrc::Expr { expr, json } => {
                let v = eval(engine, ctx, expr)?;
                let s = value_string(&v).unwrap_or_default();
                let t = s.trim_start();
                if a.literal {
                    Arg::Str {
                        s,
                        from_value: false,
                        literal: true,
                    }
                } else if *json && (t.starts_with('{') || t.starts_with('[')) {
                    Arg::Json(s)
                } else if !*json && (matches!(v, Value::Xml(_)) || is_xml(&s)) {
                    Arg::Xml(s)
                } else {
                    Arg::Str {
                        s,
                        from_value: false,
                        literal: false,
                    }
                }
            }
        };
        args.push(arg);
    }
    let out_kind = match p.media {
        MediaType::Xml => Out::Xml,
        MediaType::Json => Out::Json,
        MediaType::Text => Out::Text,
    };
    let text = render(&template, &args, out_kind);
    ctx.properties.axis2.remove("NO_ENTITY_BODY");
    match p.media {
        MediaType::Json => {
            // Synapse trims the output, looks only for the first character a JSON text can
            // start with and then sends the text as produced; nothing else is checked
            let t = text.trim();
            let body = if t.is_empty() {
                "{}".to_string()
            } else if t.contains(|c: char| {
                matches!(c, '{' | '[' | '"' | 't' | 'n' | 'f' | '-' | '0'..='9')
            }) {
                t.to_string()
            } else {
                return Err(MediationError::internal(
                    ErrorKind::BadBody,
                    "payloadFactory produced no JSON: the text holds no character a JSON value \
                     starts with",
                ));
            };
            ctx.set_body_raw(Bytes::from(body), Some("application/json".into()), false);
            ctx.set_message_type("application/json");
        }
        MediaType::Text => {
            ctx.set_payload(Payload::Text(text), Some("text/plain".into()));
            ctx.set_message_type("text/plain");
        }
        MediaType::Xml => {
            // keep an XML message's envelope (version, SOAP headers) when only the body changes
            if matches!(ctx.payload, Payload::Raw(_))
                && ctx
                    .content_type
                    .as_deref()
                    .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("xml"))
                && ctx.ensure_built().is_err()
            {
                ctx.payload = Payload::Empty;
            }
            let built = synaptic_payload::build(text.trim().as_bytes(), Some("application/xml"))
                .map_err(|e| {
                    MediationError::internal(
                        ErrorKind::BadBody,
                        format!("payloadFactory produced malformed XML: {e}"),
                    )
                })?;
            let Payload::Xml(mut env) = built else {
                return Err(MediationError::internal(
                    ErrorKind::BadBody,
                    "payloadFactory produced no XML element",
                ));
            };
            // a SOAP Envelope root replaces the whole envelope
            if env.version == SoapVersion::Pox && env.body.len() == 1 {
                let root = &env.body[0];
                if root.name.local == "Envelope"
                    && (root.name.ns == SOAP11_NS || root.name.ns == SOAP12_NS)
                {
                    let ct = if root.name.ns == SOAP11_NS {
                        "text/xml"
                    } else {
                        "application/soap+xml"
                    };
                    if let Ok(Payload::Xml(e2)) =
                        synaptic_payload::build(text.trim().as_bytes(), Some(ct))
                    {
                        env = e2;
                    }
                }
            }
            let new_env = if env.version != SoapVersion::Pox {
                env
            } else {
                match std::mem::replace(&mut ctx.payload, Payload::Empty) {
                    Payload::Xml(mut cur) => {
                        cur.body = env.body;
                        cur
                    }
                    _ => env,
                }
            };
            let cur_mt = ctx
                .axis2_string("messageType")
                .map(|m| m.to_ascii_lowercase());
            let is_xml_type = cur_mt.as_deref().is_some_and(|m| {
                matches!(m, "application/xml" | "text/xml" | "application/soap+xml")
            });
            let mt = if is_xml_type {
                cur_mt.unwrap_or_default()
            } else {
                "application/xml".to_string()
            };
            ctx.set_payload(Payload::Xml(new_env), Some(mt.clone()));
            if !is_xml_type {
                ctx.set_message_type(&mt);
            }
        }
    }
    Ok(())
}

/// A payloadFactory format with `${…}` placeholders (`template-type="default"`): a quoted
/// `"${…}"` gets the value escaped for the media type, a bare `${…}` the value as is (JSON
/// objects and arrays as JSON text, converted to XML in an XML format). `$n` arguments are
/// substituted afterwards, in the text this gives.
pub(crate) fn render_pf(
    engine: &Engine,
    ctx: &MessageContext,
    t: &synexpr::Template,
    json: bool,
    xml: bool,
) -> String {
    use synexpr::{SynValue, TemplatePiece};
    let env = Env::of(engine, ctx);
    let pieces: Vec<TemplatePiece<'_>> = t.pieces().collect();
    let mut out = String::new();
    for (i, p) in pieces.iter().enumerate() {
        match p {
            TemplatePiece::Text(s) => out.push_str(s),
            TemplatePiece::Expr(e) => {
                let quoted = i > 0
                    && matches!(pieces[i - 1], TemplatePiece::Text(s) if s.ends_with('"'))
                    && matches!(pieces.get(i + 1), Some(TemplatePiece::Text(s)) if s.starts_with('"'));
                let v = synexpr::evaluate(e, &env).unwrap_or(SynValue::Null);
                let is_json = matches!(v, SynValue::Json(_));
                let text = v.to_text().unwrap_or_default();
                if quoted {
                    if json {
                        json_escape(&text, &mut out);
                    } else if xml {
                        xml_escape(&text, &mut out);
                    } else {
                        out.push_str(&text);
                    }
                } else if xml && is_json {
                    out.push_str(&json_to_xml(&text));
                } else if xml && !is_xml(&text) {
                    xml_escape(&text, &mut out);
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    out
}

pub(crate) fn exprs(p: &PayloadFactoryOp, visit: &mut dyn FnMut(&CompiledExpr)) {
    for a in &p.args {
        if let ArgSrc::Expr { expr, .. } = &a.src {
            visit(expr);
        }
    }
}

pub(crate) fn syn_exprs<'a>(p: &'a PayloadFactoryOp, out: &mut Vec<&'a SynExpr>) {
    if let FormatSrc::Syn(t) = &p.format {
        out.extend(t.expressions());
    }
}

/// A format kept in the registry (`<format key="…"/>` that no local entry holds).
pub(crate) fn registry_keys(p: &PayloadFactoryOp, keys: &mut BTreeSet<String>) {
    if let FormatSrc::Key(k) = &p.format {
        keys.insert(k.clone());
    }
}

// === templates: `$n` substitution with Synapse's escaping and raw-insertion rules ===

/// An evaluated argument.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Arg {
    /// Well-formed XML markup.
    Xml(String),
    /// JSON text (a JSONPath result that is an object or array).
    Json(String),
    /// A string. `xml_escape_for_json`: a `value=` literal (XML-escaped even in JSON output).
    /// `literal`: never inserted raw.
    Str {
        s: String,
        from_value: bool,
        literal: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    Xml,
    Json,
    Text,
}

pub(crate) fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// JSON string escaping without the surrounding quotes.
pub(crate) fn json_escape(s: &str, out: &mut String) {
    let q = serde_json::Value::String(s.to_string()).to_string();
    out.push_str(&q[1..q.len() - 1]);
}

/// Whether `s` is a well-formed XML element (arguments that "parse as XML").
pub(crate) fn is_xml(s: &str) -> bool {
    let t = s.trim();
    t.starts_with('<')
        && t.ends_with('>')
        && matches!(
            synaptic_payload::build(t.as_bytes(), Some("application/xml")),
            Ok(Payload::Xml(_))
        )
}

fn strip_decl(s: &str) -> &str {
    let t = s.trim();
    if t.starts_with("<?xml") {
        if let Some(i) = t.find("?>") {
            return t[i + 2..].trim_start();
        }
    }
    t
}

pub(crate) fn json_to_xml(text: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        let mut o = String::new();
        xml_escape(text, &mut o);
        return o;
    };
    let env = synaptic_payload::to_envelope(&Payload::Json(v));
    // insert the children of the jsonObject/jsonArray wrapper
    let mut body = Vec::new();
    for el in env.body {
        if el.name.local == "jsonObject" || el.name.local == "jsonArray" {
            for c in el.children {
                if let synaptic_payload::Node::Element(e) = c {
                    body.push(e);
                }
            }
        } else {
            body.push(el);
        }
    }
    let mut out = String::new();
    for el in body {
        let p = Payload::Xml(Envelope {
            version: SoapVersion::Pox,
            header: Vec::new(),
            body: vec![el],
        });
        if let Ok((b, _)) = synaptic_payload::serialize(&p, "application/xml") {
            out.push_str(strip_decl(&String::from_utf8_lossy(&b)));
        }
    }
    out
}

fn xml_to_json(text: &str) -> String {
    match synaptic_payload::build(text.trim().as_bytes(), Some("application/xml")) {
        Ok(p) => synaptic_payload::to_json(&p)
            .map(|v| v.to_string())
            .unwrap_or_default(),
        Err(_) => {
            let mut o = String::new();
            json_escape(text, &mut o);
            o
        }
    }
}

/// Substitute `$n` (1-based) in `template`. A `$n` naming no argument is left as written.
pub(crate) fn render(template: &str, args: &[Arg], out_kind: Out) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let b = template.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let n: usize = template[i + 1..j].parse().unwrap_or(0);
            if n >= 1 && n <= args.len() {
                out.push_str(&template[last..i]);
                insert(&args[n - 1], out_kind, &mut out);
                last = j;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out.push_str(&template[last..]);
    out
}

fn insert(a: &Arg, kind: Out, out: &mut String) {
    match (kind, a) {
        (Out::Xml, Arg::Xml(s)) => out.push_str(strip_decl(s)),
        (Out::Xml, Arg::Json(s)) => out.push_str(&json_to_xml(s)),
        (Out::Xml, Arg::Str { s, .. }) => xml_escape(s, out),
        (Out::Json, Arg::Xml(s)) => out.push_str(&xml_to_json(s)),
        (Out::Json, Arg::Json(s)) => out.push_str(s.trim()),
        (
            Out::Json,
            Arg::Str {
                s,
                from_value,
                literal,
            },
        ) => {
            let t = s.trim_start();
            if !*literal && (t.starts_with('{') || t.starts_with('[')) {
                out.push_str(s);
            } else if *from_value {
                let mut esc = String::new();
                xml_escape(s, &mut esc);
                json_escape(&esc, out);
            } else {
                json_escape(s, out);
            }
        }
        (Out::Text, Arg::Xml(s) | Arg::Json(s) | Arg::Str { s, .. }) => out.push_str(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Arg {
        Arg::Str {
            s: x.into(),
            from_value: false,
            literal: false,
        }
    }

    #[test]
    fn substitution() {
        assert_eq!(
            render("\n  $1\n", &[s("{\"a\":1}")], Out::Json),
            "\n  {\"a\":1}\n"
        );
        assert_eq!(
            render(r#"{"name":"$1","id":$2}"#, &[s("a\"b"), s("7")], Out::Json),
            r#"{"name":"a\"b","id":7}"#
        );
        assert_eq!(render("<a>$1</a>", &[s("x<y")], Out::Xml), "<a>x&lt;y</a>");
        assert_eq!(
            render("<a>$1</a>", &[Arg::Xml("<b>1</b>".into())], Out::Xml),
            "<a><b>1</b></a>"
        );
        assert_eq!(render("$2 $1 $3", &[s("a"), s("b")], Out::Text), "b a $3");
        assert_eq!(
            render(
                "{\"v\":\"$1\"}",
                &[Arg::Str {
                    s: "a&b".into(),
                    from_value: true,
                    literal: false
                }],
                Out::Json
            ),
            "{\"v\":\"a&amp;b\"}"
        );
        assert_eq!(
            render(
                "{\"v\":\"$1\"}",
                &[Arg::Str {
                    s: "{x}".into(),
                    from_value: false,
                    literal: true
                }],
                Out::Json
            ),
            "{\"v\":\"{x}\"}"
        );
    }
}
