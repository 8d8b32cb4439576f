//! Node selection for `enrich`: the location-path subset of XPath 1.0 that enrich sources and
//! targets use in practice, evaluated over the message [`Envelope`] with node identity (so the
//! selected node can be replaced, given children or siblings). Expressions outside the subset
//! are evaluated by `expr` as values (sources) or refused at compile time (targets).
//!
//! Supported: absolute (`/`, `//`) and relative paths (from the envelope element, the context
//! node Synapse uses), `$body` and `$header` as the first step, `.`, `..`, `*`, `prefix:*`,
//! `prefix:name`, `name`, `text()`, `node()`, `@name`, `@*`, and predicates `[n]`, `[last()]`,
//! `[position() = n]`, `[operand]`, `[operand = 'literal']`, `[operand != 'literal']` where the
//! operand is `local-name()`, `name()`, `text()`, `.`, `@name` or a child element name
//! (`fn:position()`, `fn:last()` too); and unions of such paths (`a | b`), selected in
//! document order (the idiom `s11:Body/child::*[1] | s12:Body/child::*[1]`).

use synaptic_payload::{Element, Envelope, Node};

const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// A compiled location path.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Path {
    start: Start,
    steps: Vec<Step>,
    /// The other paths of a union (`self | a | b`).
    union: Vec<Path>,
}

#[derive(Clone, Debug, PartialEq)]
enum Start {
    Root,
    Context,
    Body,
    Header,
}

#[derive(Clone, Debug, PartialEq)]
struct Step {
    /// Preceded by `//` (descendant-or-self::node() first).
    deep: bool,
    axis: Axis,
    test: Test,
    preds: Vec<Pred>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Axis {
    Child,
    Attribute,
    SelfNode,
    Parent,
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    /// `*` (ns `None`) or `p:*` (ns given).
    AnyName(Option<String>),
    Name {
        ns: String,
        local: String,
    },
    Text,
    Node,
}

#[derive(Clone, Debug, PartialEq)]
enum Pred {
    Position(usize),
    Last,
    Exists(Operand),
    Eq(Operand, String, bool),
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    LocalName,
    Name,
    Text,
    Dot,
    Attr { ns: String, local: String },
    Child { ns: String, local: String },
}

/// Which list of the envelope an element path starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Header,
    Body,
}

/// A node of the message, addressed by position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NodeRef {
    Root,
    Envelope,
    Part(Part),
    /// `path[0]` indexes the part's element list, the rest index `children`.
    Elem(Part, Vec<usize>),
    /// A text child of the element at the path.
    Text(Part, Vec<usize>, usize),
    /// An attribute of the element at the path.
    Attr(Part, Vec<usize>, usize),
}

// === parse ===

/// Compile `text` if it is in the subset; `Err` names what is not.
pub(crate) fn parse(text: &str, namespaces: &[(String, String)]) -> Result<Path, String> {
    let mut branches = split_union(text).into_iter();
    let mut first = parse_one(branches.next().unwrap_or(text), namespaces)?;
    for b in branches {
        first.union.push(parse_one(b, namespaces)?);
    }
    Ok(first)
}

/// `text` split at each `|` outside brackets, parentheses and string literals.
fn split_union(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quote, mut start) = (Vec::new(), 0i32, None, 0);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '(') => depth += 1,
            (None, ']' | ')') => depth -= 1,
            (None, '|') if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn parse_one(text: &str, namespaces: &[(String, String)]) -> Result<Path, String> {
    let mut p = Parser {
        s: text.trim().as_bytes(),
        text: text.trim(),
        i: 0,
        ns: namespaces,
    };
    let path = p.path()?;
    p.ws();
    if p.i < p.s.len() {
        return Err(format!("unexpected `{}`", &p.text[p.i..]));
    }
    Ok(path)
}

struct Parser<'t> {
    s: &'t [u8],
    text: &'t str,
    i: usize,
    ns: &'t [(String, String)],
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn eat(&mut self, t: &str) -> bool {
        self.ws();
        if self.text[self.i..].starts_with(t) {
            self.i += t.len();
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn path(&mut self) -> Result<Path, String> {
        self.ws();
        let mut steps = Vec::new();
        let start = if self.eat("$body") {
            Start::Body
        } else if self.eat("$header") {
            Start::Header
        } else if self.peek() == Some(b'/') {
            Start::Root
        } else {
            steps.push(self.step(false)?);
            Start::Context
        };
        loop {
            self.ws();
            if self.eat("//") {
                steps.push(self.step(true)?);
            } else if self.eat("/") {
                self.ws();
                if self.i >= self.s.len() && start == Start::Root && steps.is_empty() {
                    break;
                }
                steps.push(self.step(false)?);
            } else {
                break;
            }
        }
        Ok(Path {
            start,
            steps,
            union: Vec::new(),
        })
    }

    fn step(&mut self, deep: bool) -> Result<Step, String> {
        self.ws();
        if self.eat("..") {
            return Ok(Step {
                deep,
                axis: Axis::Parent,
                test: Test::Node,
                preds: Vec::new(),
            });
        }
        if self.eat(".") {
            return Ok(Step {
                deep,
                axis: Axis::SelfNode,
                test: Test::Node,
                preds: Vec::new(),
            });
        }
        let mut axis = Axis::Child;
        if self.eat("@") {
            axis = Axis::Attribute;
        } else if self.eat("child::") {
        } else if self.eat("attribute::") {
            axis = Axis::Attribute;
        } else if self.eat("self::") {
            axis = Axis::SelfNode;
        }
        let test = self.node_test()?;
        let mut preds = Vec::new();
        while self.eat("[") {
            preds.push(self.pred()?);
            if !self.eat("]") {
                return Err("expected `]`".into());
            }
        }
        Ok(Step {
            deep,
            axis,
            test,
            preds,
        })
    }

    fn ncname(&mut self) -> Option<&str> {
        self.ws();
        let start = self.i;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.' || c >= 0x80;
            if !ok || (self.i == start && (c.is_ascii_digit() || c == b'-' || c == b'.')) {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| &self.text[start..self.i])
    }

    fn resolve(&self, prefix: &str) -> Result<String, String> {
        if prefix == "xml" {
            return Ok("http://www.w3.org/XML/1998/namespace".into());
        }
        self.ns
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.clone())
            .ok_or_else(|| format!("namespace prefix `{prefix}` is not declared"))
    }

    /// `prefix:local` or `local` (no default namespace for XPath names).
    fn qname(&mut self) -> Result<Option<(String, String)>, String> {
        let Some(first) = self.ncname().map(str::to_string) else {
            return Ok(None);
        };
        if self.peek() == Some(b':') && self.s.get(self.i + 1) != Some(&b':') {
            self.i += 1;
            let ns = self.resolve(&first)?;
            if self.peek() == Some(b'*') {
                self.i += 1;
                return Ok(Some((ns, "*".into())));
            }
            let local = self
                .ncname()
                .ok_or("expected a local name after the prefix")?
                .to_string();
            return Ok(Some((ns, local)));
        }
        Ok(Some((String::new(), first)))
    }

    fn node_test(&mut self) -> Result<Test, String> {
        self.ws();
        if self.eat("*") {
            return Ok(Test::AnyName(None));
        }
        if self.eat("text()") {
            return Ok(Test::Text);
        }
        if self.eat("node()") {
            return Ok(Test::Node);
        }
        match self.qname()? {
            Some((ns, local)) if local == "*" => Ok(Test::AnyName(Some(ns))),
            Some((ns, local)) => {
                self.ws();
                if self.peek() == Some(b'(') {
                    return Err(format!("function `{local}()` in a location step"));
                }
                Ok(Test::Name { ns, local })
            }
            None => Err(format!(
                "expected a node test at `{}`",
                &self.text[self.i.min(self.text.len())..]
            )),
        }
    }

    fn pred(&mut self) -> Result<Pred, String> {
        self.ws();
        if let Some(n) = self.number() {
            return Ok(Pred::Position(n));
        }
        // `fn:` is the XPath functions' prefix Synapse declares
        self.ws();
        let rest = &self.text[self.i..];
        if rest.starts_with("fn:position()") || rest.starts_with("fn:last()") {
            self.i += 3;
        }
        if self.eat("last()") {
            return Ok(Pred::Last);
        }
        if self.eat("position()") {
            if !self.eat("=") {
                return Err("expected `= n` after position()".into());
            }
            self.ws();
            return self
                .number()
                .map(Pred::Position)
                .ok_or_else(|| "expected a number after position() =".into());
        }
        let (op, lit_first) = match self.literal() {
            Some(l) => {
                let neg = if self.eat("!=") {
                    true
                } else if self.eat("=") {
                    false
                } else {
                    return Err("expected `=` after a literal".into());
                };
                (self.operand()?, Some((l, neg)))
            }
            None => (self.operand()?, None),
        };
        if let Some((l, neg)) = lit_first {
            return Ok(Pred::Eq(op, l, neg));
        }
        let neg = if self.eat("!=") {
            true
        } else if self.eat("=") {
            false
        } else {
            return Ok(Pred::Exists(op));
        };
        self.ws();
        let lit = self
            .literal()
            .ok_or("only a string literal may be compared in an enrich path predicate")?;
        Ok(Pred::Eq(op, lit, neg))
    }

    fn number(&mut self) -> Option<usize> {
        self.ws();
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start {
            return None;
        }
        let n = self.text[start..self.i].parse().ok();
        self.ws();
        if !matches!(self.peek(), Some(b']')) {
            self.i = start;
            return None;
        }
        n
    }

    fn literal(&mut self) -> Option<String> {
        self.ws();
        let q = self.peek().filter(|c| *c == b'\'' || *c == b'"')?;
        let rest = &self.text[self.i + 1..];
        let end = rest.find(q as char)?;
        let lit = rest[..end].to_string();
        self.i += end + 2;
        Some(lit)
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.ws();
        if self.eat("local-name()") {
            return Ok(Operand::LocalName);
        }
        if self.eat("name()") {
            return Ok(Operand::Name);
        }
        if self.eat("text()") {
            return Ok(Operand::Text);
        }
        if self.eat("@") {
            return match self.qname()? {
                Some((ns, local)) if local != "*" => Ok(Operand::Attr { ns, local }),
                _ => Err("expected an attribute name after `@`".into()),
            };
        }
        if self.peek() == Some(b'.') && self.s.get(self.i + 1) != Some(&b'.') {
            self.i += 1;
            return Ok(Operand::Dot);
        }
        match self.qname()? {
            Some((ns, local)) if local != "*" => {
                self.ws();
                if self.peek() == Some(b'(') {
                    return Err(format!("function `{local}()` in a predicate"));
                }
                Ok(Operand::Child { ns, local })
            }
            _ => Err(format!(
                "unsupported predicate at `{}`",
                &self.text[self.i.min(self.text.len())..]
            )),
        }
    }
}

// === evaluate ===

/// The selected nodes, in document order (as far as the subset allows).
pub(crate) fn select(path: &Path, env: &Envelope) -> Vec<NodeRef> {
    if path.union.is_empty() {
        return select_one(path, env);
    }
    let mut all = select_one(path, env);
    for p in &path.union {
        for n in select_one(p, env) {
            if !all.contains(&n) {
                all.push(n);
            }
        }
    }
    all.sort_by_key(order_key);
    all
}

/// Where a node comes in document order: the envelope, the header and its nodes, the body and
/// its nodes (an element before its text and attributes, which come in their own order).
fn order_key(n: &NodeRef) -> (u8, Vec<usize>, u8, usize) {
    let part = |p: &Part| match p {
        Part::Header => 2,
        Part::Body => 3,
    };
    match n {
        NodeRef::Root => (0, Vec::new(), 0, 0),
        NodeRef::Envelope => (1, Vec::new(), 0, 0),
        NodeRef::Part(p) => (part(p), Vec::new(), 0, 0),
        NodeRef::Elem(p, path) => (part(p), path.clone(), 0, 0),
        NodeRef::Attr(p, path, i) => (part(p), path.clone(), 1, *i),
        NodeRef::Text(p, path, i) => (part(p), path.clone(), 2, *i),
    }
}

fn select_one(path: &Path, env: &Envelope) -> Vec<NodeRef> {
    let mut cur = vec![match path.start {
        Start::Root => NodeRef::Root,
        Start::Context => NodeRef::Envelope,
        Start::Body => NodeRef::Part(Part::Body),
        Start::Header => NodeRef::Part(Part::Header),
    }];
    for step in &path.steps {
        let mut ctxs = Vec::new();
        if step.deep {
            for c in &cur {
                descendants_or_self(env, c, &mut ctxs);
            }
        } else {
            ctxs = cur;
        }
        let mut next: Vec<NodeRef> = Vec::new();
        for c in &ctxs {
            let cands: Vec<NodeRef> = match step.axis {
                Axis::Child => children(env, c)
                    .into_iter()
                    .filter(|n| test(env, n, &step.test, false))
                    .collect(),
                Axis::Attribute => attributes(env, c)
                    .into_iter()
                    .filter(|n| test(env, n, &step.test, true))
                    .collect(),
                Axis::SelfNode => vec![c.clone()]
                    .into_iter()
                    .filter(|n| test(env, n, &step.test, false))
                    .collect(),
                Axis::Parent => parent(c).into_iter().collect(),
            };
            let mut cands = cands;
            for p in &step.preds {
                let len = cands.len();
                cands = cands
                    .into_iter()
                    .enumerate()
                    .filter(|(i, n)| pred_holds(env, n, p, i + 1, len))
                    .map(|(_, n)| n)
                    .collect();
            }
            for n in cands {
                if !next.contains(&n) {
                    next.push(n);
                }
            }
        }
        cur = next;
    }
    cur
}

fn env_ns(env: &Envelope) -> &'static str {
    match env.version {
        synaptic_payload::SoapVersion::Soap12 => SOAP12_NS,
        _ => SOAP11_NS,
    }
}

/// The element at a part and path.
pub(crate) fn element<'e>(env: &'e Envelope, part: Part, path: &[usize]) -> Option<&'e Element> {
    let list = match part {
        Part::Header => &env.header,
        Part::Body => &env.body,
    };
    let (first, rest) = path.split_first()?;
    let mut e = list.get(*first)?;
    for i in rest {
        match e.children.get(*i)? {
            Node::Element(c) => e = c,
            _ => return None,
        }
    }
    Some(e)
}

pub(crate) fn element_mut<'e>(
    env: &'e mut Envelope,
    part: Part,
    path: &[usize],
) -> Option<&'e mut Element> {
    let list = match part {
        Part::Header => &mut env.header,
        Part::Body => &mut env.body,
    };
    let (first, rest) = path.split_first()?;
    let mut e = list.get_mut(*first)?;
    for i in rest {
        match e.children.get_mut(*i)? {
            Node::Element(c) => e = c,
            _ => return None,
        }
    }
    Some(e)
}

fn children(env: &Envelope, n: &NodeRef) -> Vec<NodeRef> {
    match n {
        NodeRef::Root => vec![NodeRef::Envelope],
        NodeRef::Envelope => vec![NodeRef::Part(Part::Header), NodeRef::Part(Part::Body)],
        NodeRef::Part(p) => {
            let len = match p {
                Part::Header => env.header.len(),
                Part::Body => env.body.len(),
            };
            (0..len).map(|i| NodeRef::Elem(*p, vec![i])).collect()
        }
        NodeRef::Elem(p, path) => match element(env, *p, path) {
            Some(e) => e
                .children
                .iter()
                .enumerate()
                .filter_map(|(i, c)| match c {
                    Node::Element(_) => {
                        let mut q = path.clone();
                        q.push(i);
                        Some(NodeRef::Elem(*p, q))
                    }
                    Node::Text(_) => Some(NodeRef::Text(*p, path.clone(), i)),
                    Node::Comment(_) | Node::Pi { .. } => None,
                })
                .collect(),
            None => Vec::new(),
        },
        NodeRef::Text(..) | NodeRef::Attr(..) => Vec::new(),
    }
}

fn attributes(env: &Envelope, n: &NodeRef) -> Vec<NodeRef> {
    match n {
        NodeRef::Elem(p, path) => match element(env, *p, path) {
            Some(e) => (0..e.attributes.len())
                .map(|i| NodeRef::Attr(*p, path.clone(), i))
                .collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

fn parent(n: &NodeRef) -> Option<NodeRef> {
    match n {
        NodeRef::Root => None,
        NodeRef::Envelope => Some(NodeRef::Root),
        NodeRef::Part(_) => Some(NodeRef::Envelope),
        NodeRef::Elem(p, path) if path.len() == 1 => Some(NodeRef::Part(*p)),
        NodeRef::Elem(p, path) => Some(NodeRef::Elem(*p, path[..path.len() - 1].to_vec())),
        NodeRef::Text(p, path, _) | NodeRef::Attr(p, path, _) => {
            Some(NodeRef::Elem(*p, path.clone()))
        }
    }
}

fn descendants_or_self(env: &Envelope, n: &NodeRef, out: &mut Vec<NodeRef>) {
    out.push(n.clone());
    for c in children(env, n) {
        descendants_or_self(env, &c, out);
    }
}

/// (namespace, local name, prefix) of an element-like node or attribute.
fn name_of(env: &Envelope, n: &NodeRef) -> Option<(String, String, String)> {
    let ns = env_ns(env);
    match n {
        NodeRef::Envelope => Some((ns.into(), "Envelope".into(), "soapenv".into())),
        NodeRef::Part(Part::Header) => Some((ns.into(), "Header".into(), "soapenv".into())),
        NodeRef::Part(Part::Body) => Some((ns.into(), "Body".into(), "soapenv".into())),
        NodeRef::Elem(p, path) => element(env, *p, path).map(|e| {
            (
                e.name.ns.clone(),
                e.name.local.clone(),
                e.name.prefix.clone(),
            )
        }),
        NodeRef::Attr(p, path, i) => element(env, *p, path)
            .and_then(|e| e.attributes.get(*i))
            .map(|a| {
                (
                    a.name.ns.clone(),
                    a.name.local.clone(),
                    a.name.prefix.clone(),
                )
            }),
        NodeRef::Root | NodeRef::Text(..) => None,
    }
}

fn test(env: &Envelope, n: &NodeRef, t: &Test, attr_axis: bool) -> bool {
    let is_text = matches!(n, NodeRef::Text(..));
    match t {
        Test::Node => true,
        Test::Text => is_text,
        Test::AnyName(ns) => {
            let principal = if attr_axis {
                matches!(n, NodeRef::Attr(..))
            } else {
                !is_text && !matches!(n, NodeRef::Root)
            };
            principal
                && match ns {
                    None => true,
                    Some(u) => name_of(env, n).is_some_and(|(nns, _, _)| &nns == u),
                }
        }
        Test::Name { ns, local } => {
            name_of(env, n).is_some_and(|(nns, nl, _)| &nns == ns && &nl == local)
        }
    }
}

/// The XPath string value of a node.
pub(crate) fn string_value(env: &Envelope, n: &NodeRef) -> String {
    match n {
        NodeRef::Root | NodeRef::Envelope => {
            let mut s = String::new();
            for e in env.header.iter().chain(env.body.iter()) {
                s.push_str(&e.string_value());
            }
            s
        }
        NodeRef::Part(Part::Header) => env.header.iter().map(|e| e.string_value()).collect(),
        NodeRef::Part(Part::Body) => env.body.iter().map(|e| e.string_value()).collect(),
        NodeRef::Elem(p, path) => element(env, *p, path)
            .map(|e| e.string_value())
            .unwrap_or_default(),
        NodeRef::Text(p, path, i) => {
            match element(env, *p, path).and_then(|e| e.children.get(*i)) {
                Some(Node::Text(t)) => t.clone(),
                _ => String::new(),
            }
        }
        NodeRef::Attr(p, path, i) => element(env, *p, path)
            .and_then(|e| e.attributes.get(*i))
            .map(|a| a.value.clone())
            .unwrap_or_default(),
    }
}

fn operand_values(env: &Envelope, n: &NodeRef, op: &Operand) -> Vec<String> {
    match op {
        Operand::LocalName => vec![name_of(env, n).map(|x| x.1).unwrap_or_default()],
        Operand::Name => vec![name_of(env, n)
            .map(|(_, l, p)| if p.is_empty() { l } else { format!("{p}:{l}") })
            .unwrap_or_default()],
        Operand::Dot => vec![string_value(env, n)],
        Operand::Text => children(env, n)
            .iter()
            .filter(|c| matches!(c, NodeRef::Text(..)))
            .map(|c| string_value(env, c))
            .collect(),
        Operand::Attr { ns, local } => attributes(env, n)
            .iter()
            .filter(|a| name_of(env, a).is_some_and(|(an, al, _)| &an == ns && &al == local))
            .map(|a| string_value(env, a))
            .collect(),
        Operand::Child { ns, local } => children(env, n)
            .iter()
            .filter(|c| {
                !matches!(c, NodeRef::Text(..))
                    && name_of(env, c).is_some_and(|(cn, cl, _)| &cn == ns && &cl == local)
            })
            .map(|c| string_value(env, c))
            .collect(),
    }
}

fn pred_holds(env: &Envelope, n: &NodeRef, p: &Pred, pos: usize, len: usize) -> bool {
    match p {
        Pred::Position(k) => pos == *k,
        Pred::Last => pos == len,
        Pred::Exists(op) => match op {
            // strings: non-empty; node-sets: non-empty
            Operand::LocalName | Operand::Name | Operand::Dot => operand_values(env, n, op)
                .first()
                .is_some_and(|s| !s.is_empty()),
            _ => !operand_values(env, n, op).is_empty(),
        },
        Pred::Eq(op, lit, neg) => {
            let vals = operand_values(env, n, op);
            // existential comparison, as XPath does for node-sets
            if *neg {
                vals.iter().any(|v| v != lit)
            } else {
                vals.iter().any(|v| v == lit)
            }
        }
    }
}

/// The XML view of a payload a selection works on (the envelope itself when it is XML).
pub(crate) fn envelope_of(payload: &synaptic_payload::Payload) -> Envelope {
    match payload {
        synaptic_payload::Payload::Xml(env) => env.clone(),
        other => synaptic_payload::to_envelope(other),
    }
}

/// Remove the element at `at` (a path from [`select`]) from `env`.
pub(crate) fn detach(env: &mut Envelope, part: Part, at: &[usize]) {
    let Some((last, parent)) = at.split_last() else {
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
    } else if let Some(p) = element_mut(env, part, parent) {
        if *last < p.children.len() {
            p.children.remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(body: &str) -> Envelope {
        match synaptic_payload::build(body.as_bytes(), Some("application/xml")) {
            Ok(synaptic_payload::Payload::Xml(e)) => e,
            other => panic!("{other:?}"),
        }
    }

    /// Select with `path` (prefix `m` bound to `urn:m`) and show each node's string value
    /// (attributes as `@value`, text as `"text"`).
    fn check(body: &str, path: &str, expect: &[&str]) {
        let ns = vec![
            ("m".to_string(), "urn:m".to_string()),
            ("soapenv".to_string(), SOAP11_NS.to_string()),
        ];
        let p = parse(path, &ns).unwrap_or_else(|e| panic!("{path}: {e}"));
        let e = env(body);
        let got: Vec<String> = select(&p, &e)
            .iter()
            .map(|n| match n {
                NodeRef::Attr(..) => format!("@{}", string_value(&e, n)),
                NodeRef::Text(..) => format!("{:?}", string_value(&e, n)),
                NodeRef::Elem(..) => name_of(&e, n).map(|x| x.1).unwrap_or_default(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(got, expect, "{path}");
    }

    const DOC: &str =
        r#"<m:r xmlns:m="urn:m"><m:a id="1">x</m:a><m:a id="2"><b>y</b></m:a><c>z</c></m:r>"#;

    #[test]
    fn location_paths() {
        check(DOC, "//m:a", &["a", "a"]);
        check(DOC, "//m:a[2]", &["a"]);
        check(DOC, "//m:a[@id='2']/b", &["b"]);
        check(DOC, "//m:a[last()]/@id", &["@2"]);
        check(DOC, "//m:a/text()", &["\"x\""]);
        check(DOC, "/soapenv:Envelope/soapenv:Body/m:r/c", &["c"]);
        check(DOC, "soapenv:Body/m:r/m:a/@id", &["@1", "@2"]);
        check(DOC, "$body/m:r/c", &["c"]);
        check(DOC, "$body/m:r/*", &["a", "a", "c"]);
        check(DOC, "//*[local-name()='c']", &["c"]);
        check(DOC, "//m:a[b]", &["a"]);
        check(DOC, "//m:a[b='y']/..", &["r"]);
        check(DOC, "//a", &[]);
        check(DOC, "Body/m:r", &[]);
        check(DOC, "//m:a[position() = 1]/@*", &["@1"]);
        // unions, in document order
        check(DOC, "//c | //m:a[1]", &["a", "c"]);
        check(DOC, "//m:a/@id | //m:a[1]", &["a", "@1", "@2"]);
        check(
            DOC,
            "soapenv:Body/child::*[fn:position()=1] | m:x/child::*[fn:position()=1]",
            &["r"],
        );
        check(DOC, "$body/m:r/*[fn:last()]", &["c"]);
    }

    #[test]
    fn outside_the_subset_is_refused() {
        let ns = vec![("m".to_string(), "urn:m".to_string())];
        for p in [
            "//a | count(//b)",
            "count(//a)",
            "//a[contains(., 'x')]",
            "//x:a",
            "//a[1 + 1]",
        ] {
            assert!(parse(p, &ns).is_err(), "{p} should be refused");
        }
        assert!(parse("soapenv:Body", &ns).is_err(), "undeclared prefix");
    }

    #[test]
    fn parsers_never_panic_on_prefixes_of_odd_input() {
        let inputs = [
            "//é:ü[@ß='ö' and 1]/text()[last()]",
            "$body/m:a[local-name()=\"x\"][2]/@*",
            "json-eval($.a['é'][-3].b)",
            "/[]@::'\"..//*:*",
        ];
        let ns = vec![("m".to_string(), "urn:m".to_string())];
        for input in inputs {
            for (i, _) in input.char_indices() {
                let _ = parse(&input[..i], &ns);
                let _ = parse(&input[i..], &ns);
                let _ = crate::jpath::parse(&input[..i]);
                let _ = crate::jpath::parse(&input[i..]);
            }
        }
    }
}
