//! `compile`: artifacts → arena IR with resolved references, checked expressions and semantic
//! diagnostics.

use crate::compiler::{Compiler, Unresolved};
use crate::ir::{BlockId, EndpointIr, SeqId};
use crate::mediators::{self, Node};
use crate::{CompileOptions, Program};
use std::collections::{HashMap, HashSet};
use synaptic_diag::{codes, Diagnostic, Span};
use synaptic_syntax::ast;

// ===== IR =====

#[derive(Debug)]
pub(crate) struct Ir {
    pub seqs: Vec<Seq>,
    pub seq_by_name: HashMap<String, SeqId>,
    pub blocks: Vec<Vec<Node>>,
    pub endpoints: HashMap<String, EndpointIr>,
    /// In-flow name → out-flow name, as `<api>` resources and `<proxy>` targets pair them.
    pub out_flows: HashMap<String, String>,
    /// `<localEntry>` texts (text or XML) by key: `get-property('key')` reads them when no
    /// property of that name is set, as in Synapse.
    pub local_entries: std::sync::Arc<HashMap<String, String>>,
    /// The states of named endpoints that keep one ([`crate::EndpointState`]), for metrics.
    pub endpoint_states: Vec<std::sync::Arc<crate::EndpointState>>,
    /// Every `<loadbalance>` over `<member>`s, for probing their inactive members and for
    /// metrics.
    pub member_groups: Vec<std::sync::Arc<crate::members::Members>>,
    /// Some endpoint is named by a key: registry endpoints (and their `<member>` groups) may
    /// be compiled while the program runs.
    pub endpoint_keys: bool,
    /// Message stores and processors.
    pub stores: crate::store::Defs,
    /// The in- and out-flows `<api>` resources and `<proxy>` targets name that no artifact
    /// defines, each to the stand-in that faults as Synapse does when a message gets there
    /// (not sequences of the program: `has_sequence` does not know them).
    pub unresolved_flows: HashMap<String, SeqId>,
    /// The `faultSequence`s `<api>` resources and `<proxy>`s name that no artifact defines,
    /// each to its stand-in: the registry's sequence of that key, else the `fault` sequence.
    pub fault_flows: HashMap<String, SeqId>,
    /// The data sources of `<dblookup>`/`<dbreport>`, by id.
    pub data_sources: Vec<std::sync::Arc<crate::db::DataSourceDef>>,
    /// The operations of each proxy service that publishes a WSDL 1.1 document, by proxy
    /// name (the others have only `mediate`).
    pub proxy_operations: HashMap<String, Vec<synaptic_syntax::wsdl::WsdlOperation>>,
    /// What each proxy service with a `<publishWSDL>` publishes, by proxy name.
    pub published_wsdl: HashMap<String, crate::PublishedWsdl>,
    /// The proxy services Synapse would not start (`enablePublishWSDLSafeMode` and a WSDL
    /// that cannot be read).
    pub unstarted_proxies: HashSet<String>,
    /// The proxy services pinned to other servers (`pinnedServers` without this server's
    /// name), with the servers they are pinned to: not deployed here.
    pub pinned_elsewhere: Vec<(String, Vec<String>)>,
    /// The registry resources static references name (no artifact defines the name), each
    /// compiled on its own when a message first reaches it and kept with its text.
    pub registry: RegistryArtifacts,
}

/// The sequences and endpoints a program's references name by a key no artifact defines, read
/// from the registry at first use, each compiled on its own and kept with its text (at most
/// [`crate::text_cache::MAX_ENTRIES`] keys of each).
#[derive(Debug, Default)]
pub(crate) struct RegistryArtifacts {
    pub sequences: crate::text_cache::TextCache<crate::mediators::RegistrySequence>,
    pub endpoints: crate::text_cache::TextCache<crate::endpoints::RegistryEndpoint>,
}

/// Registry artifacts nested deeper than this (one naming itself, say) fault.
pub(crate) const MAX_REGISTRY_NESTING: u32 = 16;

#[derive(Debug)]
pub(crate) struct Seq {
    pub name: String,
    pub body: BlockId,
    pub on_error: Option<SeqId>,
    /// A stand-in for a name no artifact defines (`Compiler::unresolved`).
    pub stand_in: bool,
    /// The stand-in of an `onError` no artifact defines: it handles a fault only when the
    /// registry holds its key (`run::handles`).
    pub registry_handler: bool,
    /// An inline flow (an API resource's, a proxy's, a template's body): no `<sequence key>`
    /// names it.
    pub anonymous: bool,
}

impl Ir {
    /// The sequence a dynamic `<sequence key>` names: a named sequence (or local-entry
    /// sequence) of the program, never an inline flow nor a stand-in.
    pub(crate) fn named_sequence(&self, name: &str) -> Option<SeqId> {
        let id = *self.seq_by_name.get(name)?;
        let s = self.seqs.get(id as usize)?;
        (!s.anonymous && !s.stand_in).then_some(id)
    }
}

// ===== compile =====

pub(crate) fn compile(
    artifacts: &[ast::Artifact],
    opts: &CompileOptions,
) -> (Option<Program>, Vec<Diagnostic>) {
    let mut ir = Ir {
        seqs: Vec::new(),
        seq_by_name: HashMap::new(),
        blocks: Vec::new(),
        endpoints: HashMap::new(),
        out_flows: HashMap::new(),
        local_entries: Default::default(),
        endpoint_states: Vec::new(),
        member_groups: Vec::new(),
        endpoint_keys: false,
        stores: Default::default(),
        unresolved_flows: HashMap::new(),
        fault_flows: HashMap::new(),
        data_sources: Vec::new(),
        proxy_operations: HashMap::new(),
        published_wsdl: HashMap::new(),
        unstarted_proxies: HashSet::new(),
        pinned_elsewhere: Vec::new(),
        registry: Default::default(),
    };
    let mut c = Compiler {
        opts,
        diags: Vec::new(),
        seq_by_name: HashMap::new(),
        set_names: HashSet::new(),
        dynamic_set: false,
        numeric_names: HashSet::new(),
        reads: Vec::new(),
        numeric_uses: Vec::new(),
        local_entries: HashMap::new(),
        local_xml: HashSet::new(),
        foreach_refs: Vec::new(),
        data_sources: Vec::new(),
        endpoint_states: Vec::new(),
        member_groups: Vec::new(),
        endpoint_keys: false,
        templates: HashMap::new(),
        stores: HashMap::new(),
        endpoint_templates: HashMap::new(),
        expanding: 0,
        seq_count: 0,
        unresolved: Vec::new(),
        current_seq: String::new(),
    };
    // templates first: endpoints instantiate them while names are collected
    for a in artifacts {
        for t in &a.templates {
            if let Some(seq) = &t.sequence {
                c.templates.insert(
                    t.name.value.clone(),
                    crate::compiler::TemplateDecl {
                        sequence: seq.clone(),
                        params: t.params.clone(),
                    },
                );
            }
            if let Some(ep) = &t.endpoint {
                c.endpoint_templates.insert(
                    t.name.value.clone(),
                    crate::compiler::EndpointTemplate {
                        params: t.params.clone(),
                        xml: ep.value.clone(),
                    },
                );
            }
        }
    }

    // pass 1: names
    let mut first_span: HashMap<String, Span> = HashMap::new();
    let mut order: Vec<&ast::Sequence> = Vec::new();
    let mut duplicates: Vec<&ast::Sequence> = Vec::new();
    for a in artifacts {
        for s in &a.sequences {
            let name = s.name.value.clone();
            if let Some(prev) = first_span.get(&name) {
                c.diags.push(
                    Diagnostic::error(
                        codes::E0307,
                        s.name.span,
                        format!("sequence `{name}` is defined more than once"),
                    )
                    .with_label(*prev, "first defined here"),
                );
                duplicates.push(s);
                continue;
            }
            first_span.insert(name.clone(), s.name.span);
            let id = ir.seqs.len() as SeqId;
            c.seq_by_name.insert(name.clone(), id);
            ir.seqs.push(Seq {
                name,
                body: 0,
                on_error: None,
                stand_in: false,
                registry_handler: false,
                anonymous: s.anonymous,
            });
            order.push(s);
        }
        for e in &a.endpoints {
            if matches!(e.kind, ast::EndpointKind::Unsupported { .. }) {
                continue;
            }
            if let Some(n) = &e.name {
                if let Some(ep) = c.endpoint(e) {
                    ir.endpoints.insert(n.value.clone(), ep);
                }
            }
        }
    }
    for a in artifacts {
        for le in &a.local_entries {
            match &le.value {
                ast::LocalEntryValue::Text(t) => {
                    c.local_entries
                        .insert(le.key.value.clone(), t.value.clone());
                }
                ast::LocalEntryValue::Xml(x) => {
                    c.local_entries
                        .insert(le.key.value.clone(), x.value.clone());
                    c.local_xml.insert(le.key.value.clone());
                }
                ast::LocalEntryValue::Src(_) | ast::LocalEntryValue::Sequence(_) => {}
            }
        }
    }
    ir.local_entries = std::sync::Arc::new(c.local_entries.clone());
    crate::store::compile_stores(&mut c, artifacts);
    c.seq_count = ir.seqs.len();
    // pass 2: bodies
    for (i, s) in order.iter().enumerate() {
        c.current_seq.clone_from(&s.name.value);
        let body = mediators::block(&mut c, &mut ir.blocks, &s.mediators);
        ir.seqs[i].body = body;
        if let Some(on_err) = &s.on_error {
            ir.seqs[i].on_error = c.resolve_on_error(on_err);
        }
    }
    c.current_seq.clear();
    // duplicates are still checked
    for s in duplicates {
        mediators::block(&mut c, &mut ir.blocks, &s.mediators);
    }
    // the named endpoints, for `<publishWSDL endpoint>`
    let named_endpoints: HashMap<&str, &ast::Endpoint> = artifacts
        .iter()
        .flat_map(|a| &a.endpoints)
        .filter_map(|e| Some((e.name.as_ref()?.value.as_str(), e)))
        .collect();
    // flows named by APIs and proxies
    for a in artifacts {
        let mut refs: Vec<(&ast::FlowRef, Option<String>)> = Vec::new();
        let pairs = a
            .apis
            .iter()
            .flat_map(|api| {
                api.resources
                    .iter()
                    .map(|r| (&r.in_sequence, &r.out_sequence))
            })
            .map(|(i, o)| (i.as_ref().map(flow_name), o))
            .chain(
                a.proxies
                    .iter()
                    .map(|p| (p.in_sequence.as_ref().map(flow_name), &p.out_sequence)),
            )
            // a proxy's in-flow is its target (in-sequence, then the endpoint) when it has one
            .chain(
                a.proxies
                    .iter()
                    .map(|p| (p.target.clone(), &p.out_sequence)),
            );
        for (i, o) in pairs {
            if let (Some(i), Some(o)) = (i, o) {
                ir.out_flows.insert(i, flow_name(o));
            }
        }
        // Synapse's messages when a message reaches a flow no artifact defines (`Resource`,
        // `ProxyServiceMessageReceiver`, `Axis2SynapseEnvironment`); a fault sequence that
        // is not there gives way to the `fault` sequence, as in Synapse
        let api_flow = |k: &str| format!("Specified sequence: {k} cannot be found");
        for api in &a.apis {
            for r in &api.resources {
                for f in [&r.in_sequence, &r.out_sequence].into_iter().flatten() {
                    refs.push((f, Some(api_flow(flow_key(f)))));
                }
                refs.extend(r.fault_sequence.iter().map(|f| (f, None)));
            }
        }
        for p in &a.proxies {
            if let Some(servers) = c.pinned_elsewhere(p) {
                // Synapse does not build the proxy: its WSDL is not read either
                ir.pinned_elsewhere.push((p.name.value.clone(), servers));
                continue;
            }
            match c.publish_wsdl(p, &named_endpoints) {
                crate::publish_wsdl::Outcome::Published(w, ops) => {
                    if !ops.is_empty() {
                        ir.proxy_operations.insert(p.name.value.clone(), ops);
                    }
                    ir.published_wsdl.insert(p.name.value.clone(), w);
                }
                crate::publish_wsdl::Outcome::NotStarted => {
                    ir.unstarted_proxies.insert(p.name.value.clone());
                }
                crate::publish_wsdl::Outcome::Nothing | crate::publish_wsdl::Outcome::Failed => {}
            }
            if let Some(f) = &p.in_sequence {
                // with an endpoint, the target's `<sequence key>` runs it (and reports it)
                if p.target.is_none() {
                    let k = flow_key(f);
                    refs.push((f, Some(format!("Unable to find in-sequence : {k}"))));
                }
            }
            if let Some(f) = &p.out_sequence {
                let k = flow_key(f);
                refs.push((
                    f,
                    Some(format!(
                        "Unable to find the out-sequence specified by the name {k}"
                    )),
                ));
            }
            refs.extend(p.fault_sequence.iter().map(|f| (f, None)));
        }
        for (r, message) in refs {
            let ast::FlowRef::Key(k) = r else { continue };
            match message {
                Some(m) => {
                    if let Some(id) = c.resolve_seq_lazy(k, Unresolved::Fault(m)) {
                        if id as usize >= c.seq_count {
                            ir.unresolved_flows.entry(k.value.clone()).or_insert(id);
                        }
                    }
                }
                None => fault_flow(&mut c, &mut ir, k),
            }
        }
    }
    // the stand-ins, after every sequence (their ids follow)
    for (name, u, span) in std::mem::take(&mut c.unresolved) {
        let body = ir.blocks.len() as BlockId;
        let registry_handler = matches!(u, Unresolved::Handler(_));
        ir.blocks.push(vec![Node {
            op: mediators::Op::Sequence(mediators::sequence_stand_in(&name, u)),
            span,
            registry_keys: Box::new([]),
            touches_body: false,
            raw_json_ok: false,
            reads_addressing: false,
            sync: false,
        }]);
        ir.seqs.push(Seq {
            name,
            body,
            on_error: None,
            stand_in: true,
            registry_handler,
            anonymous: true,
        });
    }
    ir.stores.processors = crate::store::compile_processors(&mut c, artifacts, &ir.endpoints);
    ir.stores.stores = std::mem::take(&mut c.stores);
    crate::mediators::check_foreach_refs(&mut c, &ir);
    c.finish_checks();

    let mut diags = std::mem::take(&mut c.diags);
    synaptic_diag::sort(&mut diags);
    diags.dedup_by(|a, b| {
        a.code == b.code && a.primary_span() == b.primary_span() && a.message == b.message
    });
    let ok = !diags.iter().any(|d| d.is_error());
    ir.seq_by_name = std::mem::take(&mut c.seq_by_name);
    let scripts = ir
        .blocks
        .iter()
        .flatten()
        .any(|n| mediators::runs_script(&n.op));
    ir.endpoint_states = std::mem::take(&mut c.endpoint_states);
    ir.member_groups = std::mem::take(&mut c.member_groups);
    ir.endpoint_keys = c.endpoint_keys;
    ir.data_sources = std::mem::take(&mut c.data_sources);
    (ok.then_some(Program { ir, scripts }), diags)
}

fn flow_key(f: &ast::FlowRef) -> &str {
    match f {
        ast::FlowRef::Inline(n) => n,
        ast::FlowRef::Key(k) => &k.value,
    }
}

/// A `faultSequence` key no artifact defines: as Synapse's lookup, the registry's sequence of
/// that key, else Synapse's `fault` sequence (W0304); its stand-in is kept in
/// `Ir::fault_flows`.
fn fault_flow(c: &mut Compiler<'_>, ir: &mut Ir, k: &synaptic_diag::Spanned<String>) {
    let message = format!("Unable to find fault-sequence : {}", k.value);
    if let Some(id) = c.resolve_seq_lazy(k, Unresolved::FaultFlow(message)) {
        if id as usize >= c.seq_count {
            ir.fault_flows.entry(k.value.clone()).or_insert(id);
        }
    }
}

fn flow_name(f: &ast::FlowRef) -> String {
    match f {
        ast::FlowRef::Inline(n) => n.clone(),
        ast::FlowRef::Key(k) => k.value.clone(),
    }
}
