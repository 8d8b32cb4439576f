//! The mediators, one module each: its element's attributes and children read into the AST,
//! with structural diagnostics. Here: the names synaptic knows and the dispatch from an element
//! to its mediator's parser.
//!
//! Adding a mediator: a module here (and its compilation and execution in `synaptic-engine`'s
//! `mediators/`), a variant of [`MediatorKind`], its name in [`SUPPORTED`] and one line in
//! [`Cx::mediator`]'s `match`.

mod aggregate;
mod cache;
mod call;
mod call_template;
mod callout;
mod clone;
mod dblookup;
mod dbreport;
mod direction;
mod drop;
mod enrich;
mod filter;
mod foreach;
mod header;
mod iterate;
mod log;
mod loopback;
mod makefault;
mod payload_factory;
mod property;
mod respond;
mod rewrite;
mod scatter_gather;
mod script;
mod send;
mod sequence;
mod store;
mod switch;
mod throttle;
mod validate;
mod variable;
mod xslt;

use synaptic_diag::codes;
use synaptic_diag::suggest::did_you_mean;

use crate::ast::*;
use crate::parse::{known_children, Cx, El};
use crate::xml::Node;

/// The mediators synaptic runs (the names "did you mean" picks from, with [`UNSUPPORTED`]).
pub(crate) const SUPPORTED: &[&str] = &[
    "property",
    "filter",
    "payloadFactory",
    "header",
    "call",
    "callout",
    "send",
    "log",
    "respond",
    "drop",
    "loopback",
    "sequence",
    "switch",
    "enrich",
    "makefault",
    "validate",
    "variable",
    "rewrite",
    "script",
    "xslt",
    "throttle",
    "cache",
    "call-template",
    "in",
    "out",
    "iterate",
    "clone",
    "aggregate",
    "store",
    "foreach",
    "scatter-gather",
    "dblookup",
    "dbreport",
];

/// Synapse / Micro Integrator mediators we recognise but do not run yet (E0108).
pub(crate) const UNSUPPORTED: &[&str] = &[
    "bam",
    "bean",
    "builder",
    "class",
    "conditionalRouter",
    "datamapper",
    "ejb",
    "enqueue",
    "entitlementService",
    "event",
    "fastXSLT",
    "jsontransform",
    "kill",
    "ntlm",
    "oauthService",
    "pojoCommand",
    "publishEvent",
    "router",
    "rule",
    "sampler",
    "smooks",
    "spring",
    "switch-case",
    "throwError",
    "transaction",
    "xquery",
];

/// Stack left below which parsing a nested mediator continues on a new stack segment.
const STACK_RED_ZONE: usize = 64 * 1024;
/// Size of each new stack segment.
const STACK_SEGMENT: usize = 1024 * 1024;

impl<'d, 'a> Cx<'d, 'a> {
    pub(crate) fn mediators(&mut self, parent: El<'d, 'a>) -> Vec<Mediator> {
        self.mediators_of(parent, parent.children.iter())
    }

    pub(crate) fn mediators_of<'n>(
        &mut self,
        parent: El<'d, 'a>,
        nodes: impl Iterator<Item = &'n Node<'a>>,
    ) -> Vec<Mediator>
    where
        'a: 'n,
        'd: 'n,
        'n: 'd,
    {
        let mut out = Vec::new();
        let mut text_reported = false;
        for node in nodes {
            match node {
                Node::Element(el) => {
                    // mediators nest (up to the XML depth limit): the stack grows on the heap
                    // when little is left, whatever the thread's stack size
                    let m = stacker::maybe_grow(STACK_RED_ZONE, STACK_SEGMENT, || {
                        self.mediator(el, parent)
                    });
                    if let Some(m) = m {
                        out.push(m);
                    }
                }
                Node::Pi(_) => {}
                Node::Text { text, span, cdata } => {
                    if !text_reported && (*cdata || !text.trim().is_empty()) {
                        text_reported = true;
                        self.ignored_text(parent, *span, " (only mediators are read here)");
                    }
                }
            }
        }
        out
    }

    /// `<script>` and `<xslt>`, out of [`Cx::mediator`]'s frame (it recurses through nested
    /// mediators, and an unoptimised build gives every arm its own stack slots).
    #[inline(never)]
    fn transformer(&mut self, el: El<'d, 'a>, name: &str) -> Option<Mediator> {
        let kind = match name {
            "script" => MediatorKind::Script(Box::new(self.script(el)?)),
            _ => MediatorKind::Xslt(Box::new(self.xslt(el)?)),
        };
        Some(Mediator {
            span: el.span,
            kind,
        })
    }

    pub(crate) fn mediator(&mut self, el: El<'d, 'a>, parent: El<'d, 'a>) -> Option<Mediator> {
        let Some(name) = self.syn_name(el) else {
            self.err(
                codes::E0103,
                el.name_span,
                format!(
                    "unknown mediator <{}> (namespace `{}`, not Synapse)",
                    el.qname, el.ns
                ),
            );
            return None;
        };
        let kind = match name {
            "property" => MediatorKind::Property(self.property(el)?),
            "filter" => MediatorKind::Filter(self.filter(el)?),
            "payloadFactory" => MediatorKind::PayloadFactory(self.payload_factory(el)?),
            "header" => MediatorKind::Header(self.header(el)?),
            "call" => MediatorKind::Call(self.call(el)),
            "callout" => MediatorKind::Callout(Box::new(self.callout(el)?)),
            "send" => MediatorKind::Send(self.send(el)),
            "log" => MediatorKind::Log(self.log(el)),
            "variable" => MediatorKind::Variable(self.variable(el)?),
            "validate" => MediatorKind::Validate(self.validate(el)?),
            "rewrite" => MediatorKind::Rewrite(self.rewrite(el)?),
            "script" | "xslt" => return self.transformer(el, name),
            "throttle" => MediatorKind::Throttle(Box::new(self.throttle(el)?)),
            "cache" => MediatorKind::Cache(Box::new(self.cache(el)?)),
            "call-template" => self.call_template(el)?,
            "iterate" => MediatorKind::Iterate(Box::new(self.iterate(el)?)),
            "clone" => MediatorKind::Clone(Box::new(self.clone_m(el)?)),
            "aggregate" => MediatorKind::Aggregate(Box::new(self.aggregate(el)?)),
            "foreach" => MediatorKind::Foreach(Box::new(self.foreach(el)?)),
            "scatter-gather" => MediatorKind::ScatterGather(Box::new(self.scatter_gather(el)?)),
            "respond" => self.respond(el),
            "drop" => self.drop(el),
            "loopback" => self.loopback(el),
            "sequence" => self.sequence_ref(el)?,
            "store" => self.store(el)?,
            "dblookup" => self.dblookup(el)?,
            "dbreport" => self.dbreport(el)?,
            "switch" => MediatorKind::Switch(self.switch(el)?),
            "enrich" => MediatorKind::Enrich(self.enrich(el)?),
            "makefault" => MediatorKind::MakeFault(self.makefault(el)?),
            "in" | "out" => self.direction(el, name),
            "description" => return None,
            n if UNSUPPORTED.contains(&n) || n.contains('.') => {
                self.err(
                    codes::E0108,
                    el.name_span,
                    format!("mediator <{n}> is not supported yet"),
                );
                MediatorKind::Unsupported {
                    name: n.to_string(),
                }
            }
            n => {
                let hint = [SUPPORTED, known_children(parent.local()), UNSUPPORTED]
                    .into_iter()
                    .map(|names| did_you_mean(n, names))
                    .find(|h| !h.is_empty())
                    .unwrap_or_default();
                self.err(
                    codes::E0103,
                    el.name_span,
                    format!("unknown mediator <{n}> in <{}>{hint}", parent.qname),
                );
                return None;
            }
        };
        Some(Mediator {
            span: el.span,
            kind,
        })
    }
}
