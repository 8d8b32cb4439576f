//! `enrich` (Synapse `EnrichMediator`, `Source`, `Target`) and `makefault` (`FaultMediator`).
//!
//! enrich runs in one of two modes, as in Synapse: **JSON** when the mediator qualifies for
//! native JSON (decided at compile time) and the payload is JSON (and a property source does not
//! hold XML); **XML** otherwise, over the message's SOAP envelope (a JSON payload is enriched
//! in its XML view and formatted back by `messageType`).

use crate::compile::{
    EnrichAction, EnrichOp, EnrichPath, EnrichSrc, EnrichTgt, FaultCodeSrc, FaultDetailSrc,
    FaultVersion, MakeFaultOp, RemovePath, TemplatePart,
};
use crate::context::mime_of;
use crate::convert::value_string;
use crate::jpath::Missing;
use crate::run::{eval, eval_src};
use crate::xsel::{self, NodeRef, Part};
use crate::{Engine, ErrorKind, MediationError, MessageContext};
use serde_json::Value as Json;
use synaptic_expr::{Scope, Value};
use synaptic_payload::xml::{Attribute, QName};
use synaptic_payload::{Element, Envelope, Node, Payload, SoapVersion, SOAP11_NS, SOAP12_NS};

/// A node taken from the source.
#[derive(Clone, Debug)]
enum SrcNode {
    Elem(Element),
    Text(String),
    Envelope(Envelope),
}

fn fault(msg: impl Into<String>) -> MediationError {
    MediationError::internal(ErrorKind::Fault, msg)
}

fn is_json_payload(ctx: &MessageContext) -> bool {
    match &ctx.payload {
        Payload::Json(_) => true,
        Payload::Raw(_) => ctx
            .content_type
            .as_deref()
            .is_some_and(|c| mime_of(c).to_ascii_lowercase().contains("json")),
        _ => false,
    }
}

fn read_prop(ctx: &MessageContext, scope: Scope, name: &str) -> Value {
    ctx.read_property(scope, name, 0).unwrap_or(Value::Null)
}

fn write_prop(ctx: &mut MessageContext, scope: Scope, name: &str, v: Value) {
    match scope {
        Scope::Axis2 => {
            ctx.properties.axis2.insert(name.to_string(), v);
        }
        Scope::Operation => {
            ctx.properties.operation.insert(name.to_string(), v);
        }
        _ => {
            ctx.properties.default.insert(name.to_string(), v);
        }
    }
}

// === enrich ===

pub(crate) fn enrich(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    // inline `{expression}` placeholders are resolved first; XML after resolution means XML mode
    let resolved;
    let op = match &op.source {
        EnrichSrc::InlineTemplate(parts) => {
            let text = fill_template(engine, ctx, parts)?;
            let is_xml = synaptic_payload::xml::parse(text.trim()).is_ok();
            resolved = EnrichOp {
                source: if is_xml {
                    EnrichSrc::InlineXml(text)
                } else {
                    EnrichSrc::InlineText(text)
                },
                clone: op.clone,
                target: op.target.clone(),
                action: op.action,
                native_json: op.native_json && !is_xml,
            };
            &resolved
        }
        _ => op,
    };
    let source_prop_xml = match &op.source {
        EnrichSrc::Property(n) => property_is_xml(&read_prop(ctx, Scope::Default, n)),
        _ => false,
    };
    if op.native_json && is_json_payload(ctx) && !source_prop_xml {
        ctx.ensure_built()?;
        if let Payload::Json(_) = ctx.payload {
            enrich_json(engine, op, ctx)?;
            finish(op, ctx);
            return Ok(());
        }
    }
    enrich_xml(engine, op, ctx)?;
    finish(op, ctx);
    Ok(())
}

/// `InlineExpressionUtil.replaceDynamicValues`: each value goes in as is when it is XML or JSON
/// (gson-lenient) or written between quotes; otherwise (and an empty `json-eval` result) it is
/// wrapped in double quotes.
fn fill_template(
    engine: &Engine,
    ctx: &MessageContext,
    parts: &[TemplatePart],
) -> Result<String, MediationError> {
    let mut out = String::new();
    for p in parts {
        match p {
            TemplatePart::Lit(l) => out.push_str(l),
            TemplatePart::Expr {
                expr,
                quoted,
                json_eval,
            } => {
                let v = value_string(&eval(engine, ctx, expr)?).unwrap_or_default();
                let valid = synaptic_payload::xml::parse(v.trim()).is_ok()
                    || (!v.trim().is_empty() && parse_json_lenient(&v).is_some())
                    || v.trim() == "null";
                if (v.is_empty() && *json_eval) || (!valid && (v.is_empty() || !*quoted)) {
                    out.push('"');
                    out.push_str(&v);
                    out.push('"');
                } else {
                    out.push_str(&v);
                }
            }
        }
    }
    Ok(out)
}

fn finish(op: &EnrichOp, ctx: &mut MessageContext) {
    if matches!(op.target, EnrichTgt::Body | EnrichTgt::Envelope) {
        ctx.properties.axis2.remove("NO_ENTITY_BODY");
    }
}

/// `EnrichMediator`: a property source holds XML when it is an element (OM) or a string that
/// is not JSON (gson reads the empty string as JSON null).
fn property_is_xml(v: &Value) -> bool {
    match v {
        Value::Xml(_) => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// gson's lenient reading of a JSON text: strict JSON, else one bare word as a string.
fn parse_json_lenient(text: &str) -> Option<Json> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str::<Json>(t) {
        return Some(v);
    }
    (!t.is_empty() && !t.contains(char::is_whitespace) && !t.starts_with(['{', '[', '<', '"']))
        .then(|| Json::String(t.to_string()))
}

fn path_text(p: &EnrichPath) -> String {
    match p {
        EnrichPath::Value(c) | EnrichPath::JsonValue(c) => c.text.clone(),
        EnrichPath::Syn(_) => "the Synapse Expression".into(),
        EnrichPath::Json(j) => format!("json-eval({})", jpath_text(j)),
        EnrichPath::Nodes(_) => "the target XPath".into(),
    }
}

fn jpath_text(j: &crate::jpath::JPath) -> String {
    let mut s = String::from("$");
    for seg in &j.segs {
        match seg {
            crate::jpath::Seg::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            crate::jpath::Seg::Index(i) => s.push_str(&format!("[{i}]")),
            crate::jpath::Seg::Any => s.push_str("[*]"),
        }
    }
    s
}

// --- JSON mode ---

fn enrich_json(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let Payload::Json(mut doc) = std::mem::replace(&mut ctx.payload, Payload::Empty) else {
        return Err(fault("enrich: the payload is not JSON"));
    };
    let result = enrich_json_doc(engine, op, ctx, &mut doc);
    let ct = ctx.content_type.clone();
    match result {
        // `json-eval($)` removed: no body left
        Ok(true) => ctx.set_payload(Payload::Empty, ct),
        _ => ctx.set_payload(Payload::Json(doc), ct),
    }
    result.map(|_| ())
}

fn enrich_json_doc(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
    doc: &mut Json,
) -> Result<bool, MediationError> {
    if op.action == EnrichAction::Remove {
        return remove_json(op, ctx, doc);
    }
    let source: Json = match &op.source {
        EnrichSrc::Custom(EnrichPath::Json(p)) => {
            let v = p
                .read(doc)
                .map_err(|_| {
                    fault(format!(
                        "enrich source json-eval({}) matches nothing in the payload",
                        jpath_text(p)
                    ))
                })?
                .clone();
            if !op.clone {
                p.delete(doc);
            }
            v
        }
        EnrichSrc::Custom(EnrichPath::JsonValue(c)) => {
            let env_payload = Payload::Json(doc.clone());
            let saved = std::mem::replace(&mut ctx.payload, env_payload);
            let v = eval(engine, ctx, c);
            ctx.payload = saved;
            let s = value_string(&v?).unwrap_or_default();
            parse_json_lenient(&s).unwrap_or(Json::String(s))
        }
        EnrichSrc::Body => doc.clone(),
        EnrichSrc::InlineText(t) => parse_json_lenient(t)
            .ok_or_else(|| fault("enrich: the inline source is not valid JSON"))?,
        EnrichSrc::InlineKey(k) => {
            let text = ctx
                .registry_value(k)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    fault(format!(
                        "enrich: inline source `{k}` is not in the registry"
                    ))
                })?;
            parse_json_lenient(&text)
                .ok_or_else(|| fault(format!("enrich: inline source `{k}` is not valid JSON")))?
        }
        EnrichSrc::Property(n) => match read_prop(ctx, Scope::Default, n) {
            Value::String(s) => parse_json_lenient(&s).unwrap_or(Json::String(s)),
            Value::Json(j) => j,
            _ => {
                return Err(fault(format!(
                    "failed to get the source for enriching: property `{n}` holds no JSON value"
                )))
            }
        },
        EnrichSrc::Custom(_)
        | EnrichSrc::Envelope
        | EnrichSrc::InlineXml(_)
        | EnrichSrc::InlineTemplate(_)
        | EnrichSrc::RemovePaths(_) => {
            return Err(fault("enrich: this source cannot be enriched as JSON"))
        }
    };
    match &op.target {
        EnrichTgt::Custom(EnrichPath::Json(p)) => match op.action {
            EnrichAction::Replace => {
                if let Err(Missing::Intermediate) = p.set(doc, source) {
                    return Err(fault(format!(
                        "enrich target json-eval({}): missing property in path",
                        jpath_text(p)
                    )));
                }
            }
            EnrichAction::Child => {
                let recv = p.read_mut(doc).map_err(|_| {
                    fault(format!(
                        "enrich target json-eval({}) matches nothing in the payload",
                        jpath_text(p)
                    ))
                })?;
                add_json_child(recv, source);
            }
            EnrichAction::Sibling | EnrichAction::Remove => {
                tracing::warn!(
                    "enrich: action sibling is not supported for JSON targets; use child"
                );
            }
        },
        EnrichTgt::Key { parent, key } => {
            let new_key =
                match &source {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    Json::Bool(b) => b.to_string(),
                    _ => return Err(fault(
                        "failed to get the new key name from source for enriching: key name must \
                         be a string",
                    )),
                };
            let missing = || {
                fault(format!(
                    "enrich: no member `{key}` at json-eval({}) to rename",
                    jpath_text(parent)
                ))
            };
            let Ok(Json::Object(map)) = parent.read_mut(doc) else {
                return Err(missing());
            };
            // Jayway renames by remove + put: the member moves to the end
            let v = map.shift_remove(key.as_str()).ok_or_else(missing)?;
            map.insert(new_key, v);
        }
        EnrichTgt::Body => match (op.action, &source) {
            (EnrichAction::Replace, Json::Object(_) | Json::Array(_)) => *doc = source,
            (EnrichAction::Replace, _) => tracing::warn!(
                "enrich: only a JSON object or array can replace the body; the body is unchanged"
            ),
            _ => tracing::warn!("enrich: only action replace is supported for a JSON body target"),
        },
        EnrichTgt::Property { scope, name } => match op.action {
            EnrichAction::Replace | EnrichAction::Remove => {
                write_prop(ctx, *scope, name, Value::String(source.to_string()));
            }
            EnrichAction::Child => {
                let existing = value_string(&read_prop(ctx, *scope, name));
                match existing.as_deref().and_then(parse_json_lenient) {
                    Some(Json::Array(mut a)) => {
                        a.push(source);
                        write_prop(ctx, *scope, name, Value::String(Json::Array(a).to_string()));
                    }
                    Some(_) => tracing::warn!(
                        property = %name,
                        "enrich: cannot add a child: the property is not a JSON array"
                    ),
                    None => tracing::warn!(
                        property = %name,
                        "enrich: cannot add a child: the property is not set"
                    ),
                }
            }
            EnrichAction::Sibling => tracing::warn!(
                "enrich: action sibling is not supported when enriching properties with JSON"
            ),
        },
        EnrichTgt::Custom(_) | EnrichTgt::Envelope => {
            return Err(fault("enrich: this target cannot be enriched as JSON"))
        }
    }
    Ok(false)
}

/// Returns whether the body is now empty.
/// `Target.removeJsonFromBody` / `removeJsonFromProperty`: delete each path (`$` empties the
/// document); a path that matches nothing faults, an empty array is left in place.
fn remove_json(
    op: &EnrichOp,
    ctx: &mut MessageContext,
    doc: &mut Json,
) -> Result<bool, MediationError> {
    let EnrichSrc::RemovePaths(paths) = &op.source else {
        return Err(fault(
            "enrich: a json-eval(…) source is mandatory for the remove action",
        ));
    };
    let remove_all = |text: &mut Option<Json>| -> Result<(), MediationError> {
        for p in paths {
            let Some(d) = text.as_mut() else { break };
            let p = match p {
                RemovePath::Path(p) => p,
                RemovePath::Query(q) => {
                    let found = synaptic_expr::json_match_paths(q, d)
                        .map_err(|e| fault(format!("enrich remove: {e}")))?;
                    for m in found.iter().rev() {
                        if let Ok(jp) = crate::jpath::parse(m) {
                            jp.delete(d);
                        }
                    }
                    continue;
                }
            };
            if p.segs.is_empty() {
                *text = None;
                break;
            }
            if p.has_wildcard() {
                // an indefinite path reads as a list: no match is an empty list, left alone;
                // deleting from the last match keeps earlier array indexes valid
                for m in p.matches(d).iter().rev() {
                    m.delete(d);
                }
                continue;
            }
            match p.read(d) {
                Ok(Json::Array(a)) if a.is_empty() => {}
                Ok(_) => p.delete(d),
                Err(_) => {
                    return Err(fault(format!(
                        "enrich remove: no results for path json-eval({})",
                        jpath_text(p)
                    )))
                }
            }
        }
        Ok(())
    };
    match &op.target {
        EnrichTgt::Body => {
            let mut d = Some(std::mem::replace(doc, Json::Null));
            let r = remove_all(&mut d);
            let empty = d.is_none();
            if let Some(v) = d {
                *doc = v;
            }
            r.map(|_| empty)
        }
        EnrichTgt::Property { scope, name } => {
            let text = match read_prop(ctx, *scope, name) {
                Value::String(s) => s,
                Value::Json(j) => j.to_string(),
                _ => {
                    return Err(fault(format!(
                        "cannot perform the remove operation: property `{name}` is not a string or JSON"
                    )))
                }
            };
            let mut d = Some(parse_json_lenient(&text).ok_or_else(|| {
                fault(format!(
                    "cannot perform the remove operation: property `{name}` is not JSON"
                ))
            })?);
            remove_all(&mut d)?;
            let out = d.map(|v| v.to_string()).unwrap_or_default();
            write_prop(ctx, *scope, name, Value::String(out));
            Ok(false)
        }
        _ => Err(fault(
            "enrich: the remove action works on a body or property target only",
        )),
    }
}

/// Jayway/`EIPUtils`: append to an array, merge an object into an object, else log.
fn add_json_child(recv: &mut Json, source: Json) {
    match (recv, source) {
        (Json::Array(a), s) => a.push(s),
        (Json::Object(o), Json::Object(s)) => {
            for (k, v) in s {
                o.insert(k, v);
            }
        }
        (r, _) => tracing::warn!(
            "enrich: cannot append since the target element is not a JSON array or object: {}",
            if r.is_string() {
                "a string"
            } else {
                "a scalar"
            }
        ),
    }
}

// --- XML mode ---

fn envelope_of(ctx: &mut MessageContext) -> Envelope {
    match std::mem::replace(&mut ctx.payload, Payload::Empty) {
        Payload::Xml(e) => e,
        other => {
            let e = synaptic_payload::to_envelope(&other);
            ctx.payload = other;
            e
        }
    }
}

fn enrich_xml(
    engine: &Engine,
    op: &EnrichOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    if let EnrichTgt::Key { .. } = op.target {
        return Err(fault(
            "enrich: a key target renames a JSON member and needs a JSON payload and source",
        ));
    }
    if op.action == EnrichAction::Remove {
        tracing::warn!("enrich: action remove only applies to JSON payloads; nothing removed");
        return Ok(());
    }
    let src_in_payload = matches!(
        op.source,
        EnrichSrc::Custom(_) | EnrichSrc::Body | EnrichSrc::Envelope
    );
    let tgt_in_payload = matches!(
        op.target,
        EnrichTgt::Custom(_) | EnrichTgt::Body | EnrichTgt::Envelope
    );
    if src_in_payload || tgt_in_payload {
        ctx.ensure_built()?;
    }
    // expressions that are evaluated as values see the payload as it is now
    let value_source = match &op.source {
        EnrichSrc::Custom(EnrichPath::Value(c)) => Some(eval(engine, ctx, c)?),
        EnrichSrc::Custom(EnrichPath::JsonValue(c)) => Some(eval(engine, ctx, c)?),
        EnrichSrc::Custom(EnrichPath::Syn(x)) => Some(crate::variable::eval_syn(engine, ctx, x)),
        _ => None,
    };
    if !(src_in_payload || tgt_in_payload) {
        let sources = collect_sources(op, ctx, None, value_source)?.0;
        return apply_target_outside(op, ctx, sources);
    }
    let was_xml = matches!(ctx.payload, Payload::Xml(_));
    let mut env = envelope_of(ctx);
    let result = (|| -> Result<Option<Json>, MediationError> {
        let (sources, moves) = collect_sources(op, ctx, Some(&mut env), value_source)?;
        if !tgt_in_payload {
            apply_target_outside(op, ctx, sources)?;
            return Ok(None);
        }
        // clone="false": the source nodes move (removed from where they were)
        let mut moves = moves;
        moves.sort_by(|a, b| b.1.cmp(&a.1));
        for (part, path) in &moves {
            remove_node(&mut env, *part, path);
        }
        apply_target_payload(op, &mut env, sources)
    })();
    match result {
        Ok(Some(json)) => {
            let ct = ctx.content_type.clone();
            ctx.set_payload(Payload::Json(json), ct);
            Ok(())
        }
        Ok(None) => {
            if tgt_in_payload {
                let ct = ctx.content_type.clone();
                ctx.set_payload(Payload::Xml(env), ct);
            } else if was_xml {
                ctx.payload = Payload::Xml(env);
            }
            Ok(())
        }
        Err(e) => {
            if was_xml {
                ctx.payload = Payload::Xml(env);
            }
            Err(e)
        }
    }
}

type Moves = Vec<(Part, Vec<usize>)>;

fn collect_sources(
    op: &EnrichOp,
    ctx: &MessageContext,
    env: Option<&mut Envelope>,
    value_source: Option<Value>,
) -> Result<(Vec<SrcNode>, Moves), MediationError> {
    let mut moves = Vec::new();
    let move_ok = !op.clone && !matches!(op.target, EnrichTgt::Property { .. });
    let nodes = match &op.source {
        EnrichSrc::Custom(EnrichPath::Nodes(path)) => {
            let Some(env) = env else {
                return Ok((Vec::new(), moves));
            };
            let mut out = Vec::new();
            for r in xsel::select(path, env) {
                match &r {
                    NodeRef::Elem(p, path) => {
                        if let Some(e) = xsel::element(env, *p, path) {
                            out.push(SrcNode::Elem(e.clone()));
                            if move_ok {
                                moves.push((*p, path.clone()));
                            }
                        }
                    }
                    NodeRef::Text(..) => out.push(SrcNode::Text(xsel::string_value(env, &r))),
                    NodeRef::Root | NodeRef::Envelope => out.push(SrcNode::Envelope(env.clone())),
                    NodeRef::Part(p) => out.push(SrcNode::Elem(part_element(env, *p))),
                    // attributes are not among the node kinds Synapse's enrich takes
                    NodeRef::Attr(..) => {}
                }
            }
            if out.is_empty() {
                tracing::warn!("enrich: the source XPath selects nothing");
            }
            out
        }
        EnrichSrc::Custom(EnrichPath::Value(_)) => match value_source {
            Some(Value::Xml(s)) => parse_fragment(&s),
            Some(Value::String(s)) => vec![SrcNode::Text(s)],
            _ => Vec::new(),
        },
        // a Synapse Expression: XML values as nodes, anything else as its text
        EnrichSrc::Custom(EnrichPath::Syn(_)) => match value_source {
            Some(Value::Xml(s)) => parse_fragment(&s),
            Some(v) => value_string(&v)
                .map(|s| vec![SrcNode::Text(s)])
                .unwrap_or_default(),
            None => Vec::new(),
        },
        EnrichSrc::Custom(EnrichPath::JsonValue(_)) => match value_source {
            Some(v) => value_string(&v)
                .map(|s| vec![SrcNode::Text(s)])
                .unwrap_or_default(),
            None => Vec::new(),
        },
        EnrichSrc::Custom(EnrichPath::Json(p)) => {
            let json = env
                .map(|e| synaptic_payload::to_json(&Payload::Xml(e.clone())).unwrap_or(Json::Null));
            match json.as_ref().map(|j| p.read(j)) {
                Some(Ok(Json::String(s))) => vec![SrcNode::Text(s.clone())],
                Some(Ok(v)) => vec![SrcNode::Text(v.to_string())],
                _ => Vec::new(),
            }
        }
        EnrichSrc::Envelope => match env {
            Some(e) => vec![SrcNode::Envelope(e.clone())],
            None => Vec::new(),
        },
        EnrichSrc::Body => match env {
            Some(e) => match e.body.first() {
                Some(first) => {
                    if move_ok {
                        moves.push((Part::Body, vec![0]));
                    }
                    vec![SrcNode::Elem(first.clone())]
                }
                None => Vec::new(),
            },
            None => Vec::new(),
        },
        EnrichSrc::Property(n) => match read_prop(ctx, Scope::Default, n) {
            Value::Xml(s) => parse_fragment(&s),
            Value::String(s) => vec![SrcNode::Text(s)],
            Value::Json(j) => vec![SrcNode::Text(j.to_string())],
            _ => {
                tracing::warn!(property = %n, "enrich: invalid source property type");
                Vec::new()
            }
        },
        EnrichSrc::InlineXml(s) => inline_xml(s),
        EnrichSrc::InlineText(t) => vec![SrcNode::Text(t.clone())],
        // resolved into InlineXml/InlineText before the mode is chosen; XML mode never removes
        EnrichSrc::InlineTemplate(_) | EnrichSrc::RemovePaths(_) => Vec::new(),
        EnrichSrc::InlineKey(k) => match ctx.registry_value(k) {
            Some(v) if v.trim_start().starts_with('<') => inline_xml(&v),
            Some(v) => vec![SrcNode::Text(v)],
            None => {
                tracing::warn!(key = %k, "enrich: the inline source resource is not valid");
                Vec::new()
            }
        },
    };
    Ok((nodes, moves))
}

/// An inline XML source: a SOAP `Envelope` root is an envelope, anything else an element.
fn inline_xml(s: &str) -> Vec<SrcNode> {
    match synaptic_payload::xml::parse(s.trim()) {
        Ok(root) if root.name.local == "Envelope" => {
            if root.name.ns == SOAP11_NS || root.name.ns == SOAP12_NS {
                vec![SrcNode::Envelope(Envelope::from_root(root))]
            } else {
                tracing::warn!("enrich: the inline source is not a valid SOAP envelope");
                Vec::new()
            }
        }
        Ok(root) => vec![SrcNode::Elem(root)],
        Err(_) => vec![SrcNode::Text(s.to_string())],
    }
}

/// Serialized nodes (an OM property, an earlier enrich into a property) back into nodes.
fn parse_fragment(s: &str) -> Vec<SrcNode> {
    if s.trim().is_empty() {
        return Vec::new();
    }
    let wrapped = format!("<synaptic-fragment>{s}</synaptic-fragment>");
    match synaptic_payload::xml::parse(&wrapped) {
        Ok(root) => root
            .children
            .into_iter()
            .filter_map(|n| match n {
                Node::Element(e)
                    if e.name.local == "Envelope"
                        && (e.name.ns == SOAP11_NS || e.name.ns == SOAP12_NS) =>
                {
                    Some(SrcNode::Envelope(Envelope::from_root(e)))
                }
                Node::Element(e) => Some(SrcNode::Elem(e)),
                Node::Text(t) if !t.trim().is_empty() => Some(SrcNode::Text(t)),
                _ => None,
            })
            .collect(),
        Err(_) => vec![SrcNode::Text(s.to_string())],
    }
}

fn part_element(env: &Envelope, p: Part) -> Element {
    let ns = env.namespace();
    let (name, list) = match p {
        Part::Header => ("Header", &env.header),
        Part::Body => ("Body", &env.body),
    };
    let mut e = Element::new(QName::new(ns, "soapenv", name));
    e.namespaces.push(("soapenv".into(), ns.into()));
    for c in list {
        e.push(c.clone());
    }
    e
}

fn src_element(s: SrcNode) -> Option<Element> {
    match s {
        SrcNode::Elem(e) => Some(e),
        SrcNode::Envelope(e) => Some(e.to_element()),
        SrcNode::Text(_) => None,
    }
}

/// What a property holds after enriching it with nodes (Synapse keeps the node list).
fn nodes_value(nodes: Vec<SrcNode>) -> Value {
    match nodes.as_slice() {
        [] => Value::Xml(String::new()),
        [SrcNode::Text(t)] => Value::String(t.clone()),
        _ => {
            let mut s = String::new();
            for n in nodes {
                match n {
                    SrcNode::Elem(e) => s.push_str(&e.to_xml()),
                    SrcNode::Envelope(e) => s.push_str(&e.to_element().to_xml()),
                    SrcNode::Text(t) => s.push_str(&t),
                }
            }
            Value::Xml(s)
        }
    }
}

/// A property target (XML mode).
fn apply_target_outside(
    op: &EnrichOp,
    ctx: &mut MessageContext,
    sources: Vec<SrcNode>,
) -> Result<(), MediationError> {
    let EnrichTgt::Property { scope, name } = &op.target else {
        return Err(fault("enrich: the target is in the payload"));
    };
    if op.action == EnrichAction::Child {
        let existing = read_prop(ctx, *scope, name);
        let (text, keep_xml) = match &existing {
            Value::Xml(s) => (Some(s.clone()), true),
            Value::String(s) => (Some(s.clone()), false),
            _ => (None, false),
        };
        if let Some(Ok(mut el)) = text.map(|t| synaptic_payload::xml::parse(t.trim())) {
            for s in sources {
                if let Some(e) = src_element(s) {
                    el.push(e);
                }
            }
            // Synapse stores the element back, or for a string property the element's text
            let v = if keep_xml {
                Value::Xml(el.to_xml())
            } else {
                Value::String(el.direct_text())
            };
            write_prop(ctx, *scope, name, v);
            return Ok(());
        }
    }
    write_prop(ctx, *scope, name, nodes_value(sources));
    Ok(())
}

/// A body, envelope or custom target. `Some(json)` when the body becomes a JSON payload.
fn apply_target_payload(
    op: &EnrichOp,
    env: &mut Envelope,
    sources: Vec<SrcNode>,
) -> Result<Option<Json>, MediationError> {
    match &op.target {
        EnrichTgt::Envelope => match sources.into_iter().next() {
            Some(SrcNode::Envelope(e)) => {
                *env = e;
                Ok(None)
            }
            _ => Err(fault(
                "enrich: a SOAP envelope is expected as the source of an envelope target",
            )),
        },
        EnrichTgt::Body => {
            if env.body.is_empty() {
                for s in sources {
                    match src_element(s) {
                        Some(e) => env.body.push(e),
                        None => {
                            tracing::warn!("enrich: text cannot be inserted into an empty body")
                        }
                    }
                }
                return Ok(None);
            }
            if op.action == EnrichAction::Replace {
                if let Some(SrcNode::Text(t)) = sources.first() {
                    if let Ok(j @ (Json::Object(_) | Json::Array(_))) =
                        serde_json::from_str::<Json>(t.trim())
                    {
                        return Ok(Some(j));
                    }
                }
            }
            insert_element(env, Part::Body, vec![0], sources, op.action);
            Ok(None)
        }
        EnrichTgt::Custom(EnrichPath::Nodes(path)) => {
            if sources.is_empty() {
                tracing::warn!("enrich: cannot enrich the message from an empty source");
                return Ok(None);
            }
            let Some(target) = xsel::select(path, env).into_iter().next() else {
                return Err(fault("enrich: the target XPath selects no node to enrich"));
            };
            insert_at(env, target, sources, op.action)?;
            Ok(None)
        }
        EnrichTgt::Custom(p) => Err(fault(format!(
            "enrich: target {} needs a JSON payload and a JSON source",
            path_text(p)
        ))),
        EnrichTgt::Property { .. } | EnrichTgt::Key { .. } => {
            Err(fault("enrich: the target is not in the payload"))
        }
    }
}

fn insert_at(
    env: &mut Envelope,
    target: NodeRef,
    sources: Vec<SrcNode>,
    action: EnrichAction,
) -> Result<(), MediationError> {
    match target {
        NodeRef::Elem(part, path) => {
            insert_element(env, part, path, sources, action);
            Ok(())
        }
        NodeRef::Text(part, path, i) => {
            let Some(parent) = xsel::element_mut(env, part, &path) else {
                return Ok(());
            };
            match sources.into_iter().next() {
                Some(SrcNode::Text(t)) => set_text(parent, t),
                Some(s) => {
                    if i < parent.children.len() {
                        parent.children.remove(i);
                    }
                    if let Some(e) = src_element(s) {
                        parent.push(e);
                    }
                }
                None => {}
            }
            Ok(())
        }
        NodeRef::Attr(part, path, i) => match sources.into_iter().next() {
            Some(SrcNode::Text(t)) => {
                if let Some(a) =
                    xsel::element_mut(env, part, &path).and_then(|e| e.attributes.get_mut(i))
                {
                    a.value = t;
                }
                Ok(())
            }
            _ => Err(fault("enrich: only text can be enriched into an attribute")),
        },
        NodeRef::Part(p) if action == EnrichAction::Child => {
            for s in sources {
                if let Some(e) = src_element(s) {
                    match p {
                        Part::Header => env.header.push(e),
                        Part::Body => env.body.push(e),
                    }
                }
            }
            Ok(())
        }
        NodeRef::Part(_) | NodeRef::Envelope | NodeRef::Root => Err(fault(
            "enrich: the SOAP envelope, header or body element can only be given children with \
             a custom target (use type=\"body\" or type=\"envelope\")",
        )),
    }
}

/// `OMElement.setText`: all children replaced by one text node.
fn set_text(e: &mut Element, t: String) {
    e.children.clear();
    if !t.is_empty() {
        e.children.push(Node::Text(t));
    }
}

/// `Target.insertElement` on the element at `path`.
fn insert_element(
    env: &mut Envelope,
    part: Part,
    mut path: Vec<usize>,
    sources: Vec<SrcNode>,
    action: EnrichAction,
) {
    match action {
        EnrichAction::Replace => {
            let mut inserted = false;
            for s in sources {
                match s {
                    SrcNode::Text(t) => {
                        if let Some(e) = xsel::element_mut(env, part, &path) {
                            set_text(e, t);
                        }
                    }
                    other => {
                        if let Some(e) = src_element(other) {
                            insert_node(env, part, &path, e);
                            if let Some(last) = path.last_mut() {
                                *last += 1;
                            }
                            inserted = true;
                        }
                    }
                }
            }
            if inserted {
                remove_node(env, part, &path);
            }
        }
        EnrichAction::Child => {
            if let Some(t) = xsel::element_mut(env, part, &path) {
                for s in sources {
                    if let Some(e) = src_element(s) {
                        t.push(e);
                    }
                }
            }
        }
        // Synapse does not implement remove for XML
        EnrichAction::Remove => {}
        EnrichAction::Sibling => {
            // each one right after the target (so they end up in reverse order, as in Axiom)
            let mut after = path.clone();
            if let Some(last) = after.last_mut() {
                *last += 1;
            }
            for s in sources {
                if let Some(e) = src_element(s) {
                    insert_node(env, part, &after, e);
                }
            }
        }
    }
}

/// Insert an element at a position (before what is there now).
fn insert_node(env: &mut Envelope, part: Part, path: &[usize], e: Element) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if parent.is_empty() {
        let list = match part {
            Part::Header => &mut env.header,
            Part::Body => &mut env.body,
        };
        let at = (*last).min(list.len());
        list.insert(at, e);
    } else if let Some(p) = xsel::element_mut(env, part, parent) {
        let at = (*last).min(p.children.len());
        p.children.insert(at, Node::Element(e));
    }
}

fn remove_node(env: &mut Envelope, part: Part, path: &[usize]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    if parent.is_empty() {
        let list = match part {
            Part::Header => &mut env.header,
            Part::Body => &mut env.body,
        };
        if *last < list.len() {
            list.remove(*last);
        }
    } else if let Some(p) = xsel::element_mut(env, part, parent) {
        if *last < p.children.len() {
            p.children.remove(*last);
        }
    }
}

// === makefault ===

pub(crate) fn makefault(
    engine: &Engine,
    op: &MakeFaultOp,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    ctx.ensure_built()?;
    let text_of = |ctx: &MessageContext, v: &crate::compile::ValueSrc| {
        eval_src(engine, ctx, v).map(|v| value_string(&v).unwrap_or_default())
    };
    let env = match op.version {
        FaultVersion::Pox => {
            let text = match (&op.detail, &op.reason) {
                (Some(FaultDetailSrc::Text(t)), _) => t.clone(),
                (Some(FaultDetailSrc::Expr(c)), _) => {
                    value_string(&eval(engine, ctx, c)?).unwrap_or_default()
                }
                (_, Some(r)) => text_of(ctx, r)?,
                _ => String::new(),
            };
            let mut env = envelope_of(ctx);
            if !env.body.is_empty() {
                env.body.remove(0);
            }
            env.body
                .insert(0, Element::new(QName::local("Exception")).with_text(text));
            env
        }
        FaultVersion::Soap11 | FaultVersion::Soap12 => {
            let soap12 = op.version == FaultVersion::Soap12;
            let ns = if soap12 { SOAP12_NS } else { SOAP11_NS };
            let q = |l: &str| QName::new(ns, "soapenv", l);
            let code = match &op.code {
                Some(FaultCodeSrc::Value {
                    ns: cns,
                    prefix,
                    local,
                }) => {
                    let mut e = Element::local("");
                    e.namespaces.push((prefix.clone(), cns.clone()));
                    e.children.push(Node::Text(format!("{prefix}:{local}")));
                    e
                }
                Some(FaultCodeSrc::Expr(c)) => {
                    let s = value_string(&eval(engine, ctx, c)?).unwrap_or_default();
                    Element::local("").with_text(format!("soapenv:{s}"))
                }
                None => return Err(fault("makefault: a fault code is required")),
            };
            let reason = match &op.reason {
                Some(r) => text_of(ctx, r)?,
                None => return Err(fault("makefault: a fault reason is required")),
            };
            let detail: Option<Vec<Node>> = match &op.detail {
                None => None,
                Some(FaultDetailSrc::Text(t)) => Some(if t.is_empty() {
                    vec![]
                } else {
                    vec![Node::Text(t.clone())]
                }),
                Some(FaultDetailSrc::Elements(es)) => Some(
                    es.iter()
                        .filter_map(|s| synaptic_payload::xml::parse(s).ok())
                        .map(Node::Element)
                        .collect(),
                ),
                Some(FaultDetailSrc::Expr(c)) => Some(match eval(engine, ctx, c)? {
                    Value::Xml(s) => parse_fragment(&s)
                        .into_iter()
                        .filter_map(|n| match n {
                            SrcNode::Text(t) => Some(Node::Text(t)),
                            other => src_element(other).map(Node::Element),
                        })
                        .collect(),
                    v => value_string(&v)
                        .filter(|s| !s.is_empty())
                        .map(|s| vec![Node::Text(s)])
                        .unwrap_or_default(),
                }),
            };
            let mut f = Element::new(q("Fault"));
            if soap12 {
                let mut c = Element::new(q("Code"));
                let mut v = code;
                v.name = q("Value");
                c.push(v);
                f.push(c);
                let mut r = Element::new(q("Reason"));
                let mut t = Element::new(q("Text")).with_text(reason);
                t.attributes.push(Attribute {
                    name: QName::new(synaptic_payload::xml::XML_NS, "xml", "lang"),
                    value: "en".into(),
                });
                r.push(t);
                f.push(r);
                if let Some(n) = &op.node {
                    f.push(Element::new(q("Node")).with_text(n.clone()));
                }
                if let Some(role) = &op.role {
                    f.push(Element::new(q("Role")).with_text(role.clone()));
                }
                if let Some(d) = detail {
                    let mut de = Element::new(q("Detail"));
                    de.children = d;
                    f.push(de);
                }
            } else {
                let mut c = code;
                c.name = QName::local("faultcode");
                f.push(c);
                f.push(Element::local("faultstring").with_text(reason));
                if let Some(role) = &op.role {
                    f.push(Element::local("faultactor").with_text(role.clone()));
                }
                if let Some(d) = detail {
                    let mut de = Element::local("detail");
                    de.children = d;
                    f.push(de);
                }
            }
            // the original SOAP headers go into the fault envelope
            let header = match &ctx.payload {
                Payload::Xml(e) => e.header.clone(),
                _ => Vec::new(),
            };
            Envelope {
                version: if soap12 {
                    SoapVersion::Soap12
                } else {
                    SoapVersion::Soap11
                },
                header,
                body: vec![f],
            }
        }
    };
    let ct = ctx.content_type.clone();
    ctx.set_payload(Payload::Xml(env), ct);
    if op.version == FaultVersion::Pox {
        ctx.st.fault_response = true;
    }
    if op.version != FaultVersion::Pox {
        // the fault goes to FaultTo, else ReplyTo, else nowhere; RelatesTo = MessageID
        let to = ctx
            .st
            .addressing
            .get("FaultTo")
            .or_else(|| ctx.st.addressing.get("ReplyTo"))
            .cloned();
        match to {
            Some(t) => {
                ctx.st.addressing.insert("To".into(), t);
            }
            None => {
                ctx.st.addressing.remove("To");
            }
        }
        if let Some(id) = ctx.st.addressing.get("MessageID").cloned() {
            ctx.st.addressing.insert("RelatesTo".into(), id);
        }
    }
    if op.response {
        ctx.response = true;
        match ctx.st.addressing.get("ReplyTo").cloned() {
            Some(t) => {
                ctx.st.addressing.insert("To".into(), t);
            }
            None => {
                ctx.st.addressing.remove("To");
            }
        }
    }
    Ok(())
}
