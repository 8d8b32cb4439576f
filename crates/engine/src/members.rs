//! `<loadbalance>` over static `<member hostName httpPort httpsPort/>`s, as Synapse's
//! `LoadbalanceEndpoint.sendToApplicationMember` sends: the message goes to
//! `transport://hostName:port` followed by the path of its `To` address, where the transport is
//! the one the message came in on (`TRANSPORT_IN_NAME`: `http` takes `httpPort`, `https`
//! `httpsPort`), the members taking turns (round robin). With `failover` (the default) a member
//! that fails is taken out and the message goes to the next one. A member taken out comes back
//! when a TCP connection to it succeeds, as Synapse's `MemberActivatorTask` re-admits it: the
//! engine lists the members to probe ([`Engine::probe_members`]) and the host probes them
//! ([`crate::Invoker::connect`]) on its own timer ([`PROBE_FIRST`], [`PROBE_EVERY`]).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::convert::value_string;
use crate::endpoints::Sent;
use crate::{
    error_codes, EndpointStatus, Engine, ErrorKind, MediationError, MessageContext, Origin,
};
use synaptic_expr::Value;

/// When the host first probes the members taken out, after the program is loaded (Synapse's
/// timer starts one second after the endpoint is built).
pub const PROBE_FIRST: Duration = Duration::from_secs(1);
/// How often the host probes the members taken out (Synapse's timer: every 500 ms).
pub const PROBE_EVERY: Duration = Duration::from_millis(500);
/// How long one probe's connection may take (Synapse's: 10 s).
pub const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub(crate) struct Members {
    /// The endpoint's name, or `anonymous`.
    pub name: String,
    pub members: Vec<Member>,
    pub failover: bool,
    /// The next member's turn.
    cursor: AtomicUsize,
}

#[derive(Debug)]
pub(crate) struct Member {
    pub host: String,
    pub http_port: Option<u16>,
    pub https_port: Option<u16>,
    /// `http://hostName:httpPort` and `https://hostName:httpsPort` (an IPv6 address in
    /// brackets), each when its port is set: made once, the message's path appended per send.
    http_base: Option<String>,
    https_base: Option<String>,
    /// Taken out after a failure, until a probe connects to it.
    inactive: AtomicBool,
}

impl Member {
    pub(crate) fn new(host: String, http_port: Option<u16>, https_port: Option<u16>) -> Member {
        let bracketed = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let base =
            |scheme: &str, port: Option<u16>| port.map(|p| format!("{scheme}://{bracketed}:{p}"));
        Member {
            http_base: base("http", http_port),
            https_base: base("https", https_port),
            host,
            http_port,
            https_port,
            inactive: AtomicBool::new(false),
        }
    }

    fn active(&self) -> bool {
        !self.inactive.load(Ordering::Relaxed)
    }
}

impl Members {
    pub(crate) fn new(name: String, members: Vec<Member>, failover: bool) -> Members {
        Members {
            name,
            members,
            failover,
            cursor: AtomicUsize::new(0),
        }
    }

    /// At least one member is in.
    pub(crate) fn ready(&self) -> bool {
        self.members.iter().any(Member::active)
    }
}

/// A member taken out of its `<loadbalance>` after a failure, for the host to probe: when a
/// TCP connection to each of its ports succeeds (Synapse connects to the http and the https
/// port, each that is set), [`MemberProbe::readmit`] puts it back in turn.
#[derive(Clone, Debug)]
pub struct MemberProbe {
    group: Arc<Members>,
    index: usize,
}

impl MemberProbe {
    /// The `<loadbalance>` endpoint's name (`anonymous` without one).
    pub fn endpoint(&self) -> &str {
        &self.group.name
    }
    /// The member's `hostName`.
    pub fn host(&self) -> &str {
        &self.group.members[self.index].host
    }
    /// The ports to connect to: `httpPort` and `httpsPort`, each that is set.
    pub fn ports(&self) -> Vec<u16> {
        let m = &self.group.members[self.index];
        m.http_port.into_iter().chain(m.https_port).collect()
    }
    /// Put the member back in turn.
    pub fn readmit(&self) {
        self.group.members[self.index]
            .inactive
            .store(false, Ordering::Relaxed);
    }
}

impl Engine {
    /// The members of the program's `<loadbalance>` groups that are taken out now, for the
    /// host to probe (the engine does no I/O).
    pub fn probe_members(&self) -> Vec<MemberProbe> {
        self.program.member_probes(false)
    }
}

impl crate::Program {
    /// Whether some `<loadbalance>` of the program is over `<member>`s, or may be (an
    /// endpoint named by a key may be a registry resource's `<loadbalance>`): the host then
    /// runs a prober.
    pub fn has_members(&self) -> bool {
        !self.ir.member_groups.is_empty() || self.ir.endpoint_keys
    }

    /// The state of every endpoint that keeps one, for metrics: the named endpoints
    /// ([`crate::Program::endpoint_states`]), the members of every named `<loadbalance>`
    /// group, each named `group/index` as an unnamed child of a named group is (active, or
    /// suspended while taken out), and the same of the registry endpoints the program holds
    /// compiled now, labelled by their registry key (`gov:/endpoints/b.xml`, its members
    /// `gov:/endpoints/b.xml/0`, a child it names `x` as `gov:/endpoints/b.xml/x`).
    pub fn endpoint_statuses(&self) -> Vec<(String, EndpointStatus)> {
        let mut out: Vec<(String, EndpointStatus)> = self
            .ir
            .endpoint_states
            .iter()
            .map(|s| (s.name.clone(), s.status()))
            .collect();
        member_statuses(&self.ir.member_groups, &|n| n.to_string(), &mut out);
        for (key, ep) in self.ir.registry.endpoints.entries() {
            let label = |n: &str| ep.label(&key, n);
            out.extend(ep.states().iter().map(|s| (label(&s.name), s.status())));
            member_statuses(ep.member_groups(), &label, &mut out);
        }
        out
    }

    /// The members of every group: all of them, or those taken out. The groups are the
    /// program's and those of the registry endpoints it holds compiled now (a member a
    /// registry endpoint took out comes back as a deployed one's does).
    fn member_probes(&self, all: bool) -> Vec<MemberProbe> {
        let mut out = Vec::new();
        let registry = self.ir.registry.endpoints.entries();
        let groups = self
            .ir
            .member_groups
            .iter()
            .chain(registry.iter().flat_map(|(_, ep)| ep.member_groups()));
        for g in groups {
            for (index, m) in g.members.iter().enumerate() {
                if all || !m.active() {
                    out.push(MemberProbe {
                        group: g.clone(),
                        index,
                    });
                }
            }
        }
        out
    }
}

/// The members of the named groups among `groups`, each labelled `label(group/index)`: active,
/// or suspended while taken out.
fn member_statuses(
    groups: &[Arc<Members>],
    label: &dyn Fn(&str) -> String,
    out: &mut Vec<(String, EndpointStatus)>,
) {
    for g in groups.iter().filter(|g| g.name != "anonymous") {
        for (i, m) in g.members.iter().enumerate() {
            let now = if m.active() {
                EndpointStatus::Active
            } else {
                EndpointStatus::Suspended
            };
            out.push((label(&format!("{}/{i}", g.name)), now));
        }
    }
}

fn fault(message: String) -> MediationError {
    MediationError::new(
        ErrorKind::Fault,
        Origin::Internal,
        error_codes::ENDPOINT_NOT_READY,
        message,
    )
}

/// The transport the message came in on (`TRANSPORT_IN_NAME`, `http` when unset), borrowed
/// when it is a string.
fn transport_in(ctx: &MessageContext) -> Cow<'_, str> {
    match ctx.properties.default.get("TRANSPORT_IN_NAME") {
        Some(Value::String(s)) => Cow::Borrowed(s),
        Some(v) => Cow::Owned(value_string(v).unwrap_or_else(|| "http".to_string())),
        None => Cow::Borrowed("http"),
    }
}

/// The transport the members are sent over: the one the message came in on, when it is
/// `http` or `https`.
fn transport(ctx: &MessageContext) -> Option<&'static str> {
    match &*transport_in(ctx) {
        "http" => Some("http"),
        "https" => Some("https"),
        _ => None,
    }
}

impl Member {
    /// `transport://hostName:port` + `path`, with the port of `transport`; `None` when the
    /// member has none.
    fn url(&self, transport: &str, path: &str) -> Option<String> {
        let base = if transport == "https" {
            self.https_base.as_deref()
        } else {
            self.http_base.as_deref()
        }?;
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(base);
        url.push_str(path);
        Some(url)
    }
}

/// The copies a `<recipientlist>` over `<member>`s sends, as Synapse's
/// `RecipientListEndpoint.sendToApplicationMembers`: an address per member,
/// `transport://hostName:port` followed by the path of the message's `To`, without a state. A
/// member without the port of the transport is passed by; with none left (or a message that
/// came in on another transport) the message faults with "no ready child members".
pub(crate) fn recipients(
    m: &Members,
    ctx: &MessageContext,
) -> Result<crate::ir::Group, MediationError> {
    let path = to_path(ctx)?;
    let children: Vec<crate::ir::EndpointIr> = match transport(ctx) {
        Some(transport) => m
            .members
            .iter()
            .filter_map(|member| member.url(transport, &path))
            .map(crate::ir::EndpointIr::Url)
            .collect(),
        None => Vec::new(),
    };
    if children.is_empty() {
        return Err(MediationError::new(
            ErrorKind::ConnectFailed,
            Origin::Upstream,
            error_codes::GROUP_NOT_READY,
            format!(
                "Recipient List endpoint : {} - no ready child members (the message came in \
                 over {}; members need its port)",
                m.name,
                transport_in(ctx)
            ),
        ));
    }
    Ok(crate::ir::Group {
        name: m.name.clone(),
        kind: crate::ir::GroupKind::RecipientList,
        children,
        cursor: AtomicUsize::new(0),
    })
}

/// The path the members are sent: the message's `To` (one a `<header name="To">` set, else the
/// request's own path and query), or the path of it when it is a URL (`URL.getPath()`: no
/// query).
fn to_path(ctx: &MessageContext) -> Result<String, MediationError> {
    let to = match ctx.st.addressing.get("To") {
        Some(to) if !ctx.st.inbound.contains("To") => to.clone(),
        _ => ctx.uri.clone(),
    };
    if !to.contains(':') {
        return Ok(to);
    }
    match url::Url::parse(&to) {
        Ok(u) if u.has_host() => Ok(u.path().to_string()),
        _ => Err(fault(format!("URL {to} is malformed"))),
    }
}

/// Send the message to the next member, and on a backend failure (with failover) to the next.
pub(crate) async fn send(
    engine: &Engine,
    m: &Members,
    blocking: bool,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<Sent, MediationError> {
    let Some(transport) = transport(ctx) else {
        return Err(fault(format!(
            "Cannot load balance for non-HTTP/S transport {}",
            transport_in(ctx)
        )));
    };
    let path = to_path(ctx)?;
    let n = m.members.len();
    let mut tried = vec![false; n];
    let mut last: Option<MediationError> = None;
    loop {
        let start = m.cursor.load(Ordering::Relaxed) % n.max(1);
        let pick = (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| !tried[i] && m.members[i].active());
        let Some(i) = pick else {
            let mut msg = format!(
                "Loadbalance endpoint : {} - No application members available",
                m.name
            );
            if let Some(e) = last {
                msg.push_str(&format!(
                    "\nlast failure: {}",
                    e.message.replace('\n', ": ")
                ));
            }
            return Err(MediationError::new(
                ErrorKind::ConnectFailed,
                Origin::Upstream,
                error_codes::GROUP_NOT_READY,
                msg,
            ));
        };
        tried[i] = true;
        // the next turn is the member after this one (left-out members are passed by)
        m.cursor.store(i + 1, Ordering::Relaxed);
        let member = &m.members[i];
        let result = match member.url(transport, &path) {
            Some(url) => crate::endpoints::send_to_url(engine, url, blocking, mediator, ctx).await,
            None => Err(MediationError::new(
                ErrorKind::ConnectFailed,
                Origin::Upstream,
                error_codes::CONNECTION_FAILED,
                format!(
                    "Error connecting to the back end\nmember {} has no {transport} port",
                    member.host
                ),
            )),
        };
        match result {
            Err(e) if e.origin == Origin::Upstream => {
                ctx.properties.default.remove("BLOCKING_SENDER_ERROR");
                if !m.failover {
                    return Err(e);
                }
                // taken out until a probe connects to it
                member.inactive.store(true, Ordering::Relaxed);
                last = Some(e);
            }
            Err(e) => return Err(e),
            Ok(()) => return Ok(Sent::Answered),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;

    /// Backends by host: `down*` refuse connections, the others answer with the URL they got.
    #[derive(Default)]
    struct Hosts {
        log: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Invoker for Hosts {
        async fn invoke(&self, req: OutboundRequest) -> Result<InboundResponse, InvokeError> {
            self.log.lock().unwrap().push(req.url.clone());
            let host = url::Url::parse(&req.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            if host.starts_with("down") {
                return Err(InvokeError::Connect("refused".into()));
            }
            Ok(InboundResponse {
                status: 200,
                headers: http::HeaderMap::new(),
                body: Bytes::from(req.url),
            })
        }
    }

    #[derive(Default)]
    struct Manual(AtomicI64);
    impl Clock for Manual {
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    struct T {
        engine: Engine,
        hosts: Arc<Hosts>,
        clock: Arc<Manual>,
        rt: tokio::runtime::Runtime,
    }

    const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

    impl T {
        fn new(members: &str, attrs: &str) -> T {
            let xml = format!(
                r#"<definitions {NS}>
                   <endpoint name="E"><loadbalance {attrs}>{members}</loadbalance></endpoint>
                   <sequence name="s"><call><endpoint key="E"/></call><respond/></sequence>
                   <sequence name="h"><header name="To" value="http://elsewhere.test:8080/svc/q?x=1"/>
                     <call><endpoint key="E"/></call><respond/></sequence>
                   </definitions>"#
            );
            let hosts = Arc::new(Hosts::default());
            let clock = Arc::new(Manual::default());
            T {
                engine: Engine {
                    invoker: hosts.clone(),
                    clock: clock.clone(),
                    ..crate::test_support::engine_of(&xml)
                },
                hosts,
                clock,
                rt: crate::test_support::rt(),
            }
        }
        /// Run `seq` on `GET uri` received over `transport`: the answer, or the error.
        fn run(&self, seq: &str, uri: &str, transport: &str) -> Result<String, MediationError> {
            let mut ctx = MessageContext::from_request(
                http::Method::GET,
                uri,
                http::HeaderMap::new(),
                Bytes::new(),
                None,
            );
            ctx.properties
                .default
                .insert("TRANSPORT_IN_NAME", Value::String(transport.to_string()));
            self.rt.block_on(self.engine.mediate(seq, None, &mut ctx))?;
            Ok(String::from_utf8_lossy(&ctx.body_bytes().unwrap().0).into_owned())
        }
        fn get(&self, uri: &str) -> String {
            self.run("s", uri, "http").unwrap()
        }
        fn sent(&self) -> Vec<String> {
            std::mem::take(&mut *self.hosts.log.lock().unwrap())
        }
    }

    const TWO: &str = r#"<member hostName="a.test" httpPort="9001" httpsPort="9441"/>
                         <member hostName="b.test" httpPort="9002" httpsPort="9442"/>"#;

    #[test]
    fn members_take_turns_with_the_path_of_the_request() {
        let t = T::new(TWO, "");
        assert_eq!(
            t.get("/services/P?q=1"),
            "http://a.test:9001/services/P?q=1"
        );
        assert_eq!(t.get("/t/x"), "http://b.test:9002/t/x");
        assert_eq!(t.get("/t/y"), "http://a.test:9001/t/y");
        // over https, the https port
        assert_eq!(
            t.run("s", "/t/z", "https").unwrap(),
            "https://b.test:9442/t/z"
        );
        // a `To` set by the flow: its path (a URL's path has no query, as `URL.getPath()`)
        assert_eq!(
            t.run("h", "/t/w", "http").unwrap(),
            "http://a.test:9001/svc/q"
        );
    }

    #[test]
    fn a_refusing_member_is_taken_out_until_a_probe_readmits_it() {
        let t = T::new(
            r#"<member hostName="down.test" httpPort="9001"/>
               <member hostName="b.test" httpPort="9002"/>
               <member hostName="c.test" httpPort="9003"/>"#,
            "",
        );
        assert_eq!(t.get("/p"), "http://b.test:9002/p");
        assert_eq!(
            t.sent(),
            ["http://down.test:9001/p", "http://b.test:9002/p"]
        );
        // left out: the turns go on among the others
        assert_eq!(t.get("/p"), "http://c.test:9003/p");
        assert_eq!(t.get("/p"), "http://b.test:9002/p");
        assert_eq!(t.get("/p"), "http://c.test:9003/p");
        assert!(t.sent().iter().all(|u| !u.contains("down")));
        // however long it has been out: only a probe puts it back
        t.clock.0.store(3_600_000, Ordering::Relaxed);
        for _ in 0..4 {
            let _ = t.get("/p");
        }
        assert!(t.sent().iter().all(|u| !u.contains("down")));
        // the host is told which member to probe, and where
        let probes = t.engine.probe_members();
        assert_eq!(probes.len(), 1);
        assert_eq!(
            (probes[0].endpoint(), probes[0].host(), probes[0].ports()),
            ("E", "down.test", vec![9001])
        );
        assert_eq!(
            t.engine.program.endpoint_statuses(),
            [
                ("E/0".to_string(), EndpointStatus::Suspended),
                ("E/1".to_string(), EndpointStatus::Active),
                ("E/2".to_string(), EndpointStatus::Active)
            ]
        );
        probes[0].readmit();
        assert!(t.engine.probe_members().is_empty());
        // back in turn: its turn comes round again
        let _ = t.get("/p");
        let _ = t.get("/p");
        let _ = t.get("/p");
        assert!(t.sent().iter().any(|u| u.contains("down")));
    }

    #[test]
    fn a_member_with_both_ports_is_probed_on_both() {
        let t = T::new(
            r#"<member hostName="down.test" httpPort="9001" httpsPort="9443"/>
               <member hostName="b.test" httpPort="9002"/>"#,
            "",
        );
        assert!(t.engine.probe_members().is_empty());
        assert_eq!(t.get("/p"), "http://b.test:9002/p");
        assert_eq!(t.engine.probe_members()[0].ports(), [9001, 9443]);
    }

    #[test]
    fn member_ports_take_deploy_time_parameters() {
        struct Env;
        impl Configurables for Env {
            fn config(&self, name: &str) -> Option<String> {
                (name == "b_port").then(|| "9442".into())
            }
            fn secret(&self, _: &str) -> Option<String> {
                None
            }
            fn env(&self, name: &str) -> Option<String> {
                match name {
                    "A_PORT" => Some(" 9001 ".into()),
                    "NOT_A_PORT" => Some("http".into()),
                    _ => None,
                }
            }
        }
        let compile = |members: &str, deploy: bool| {
            let xml = format!(
                r#"<endpoint {NS} name="E"><loadbalance>{members}</loadbalance></endpoint>"#
            );
            let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &xml);
            assert!(p.is_ok(), "{:?}", p.diagnostics);
            let opts = CompileOptions {
                deploy: deploy.then(|| DeployValues(Arc::new(Env))),
                ..Default::default()
            };
            let (prog, diags) = compile(std::slice::from_ref(&p.tree), &opts);
            (prog, diags, xml)
        };
        let (prog, diags, _) = compile(
            r#"<member hostName="a.test" httpPort="$SYSTEM:A_PORT" httpsPort="${configs.b_port}"/>"#,
            true,
        );
        let prog = prog.unwrap_or_else(|| panic!("{diags:?}"));
        assert_eq!(prog.member_probes(true)[0].ports(), [9001, 9442]);
        // lint leaves them for deployment
        let (prog, diags, _) = compile(
            r#"<member hostName="a" httpPort="$SYSTEM:NOT_A_PORT"/>"#,
            false,
        );
        assert!(prog.is_some() && diags.is_empty(), "{diags:?}");
        // a value that is not a port, or no value at all, where it is written
        for (members, code, says) in [
            (
                r#"<member hostName="a" httpPort="$SYSTEM:NOT_A_PORT"/>"#,
                "E0121",
                "is `http`, which is not a port number",
            ),
            (
                r#"<member hostName="a" httpPort="$SYSTEM:UNSET"/>"#,
                "E0403",
                "UNSET",
            ),
        ] {
            let (prog, diags, xml) = compile(members, true);
            assert!(prog.is_none(), "{members}");
            let e: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
            assert_eq!(e.len(), 1, "{diags:?}");
            assert_eq!(e[0].code.id, code, "{diags:?}");
            assert!(e[0].message.contains(says), "{}", e[0].message);
            let sp = e[0].primary_span();
            assert!(
                xml[sp.start as usize..sp.end as usize].starts_with("$SYSTEM:"),
                "{members}"
            );
        }
    }

    #[test]
    fn without_failover_a_failure_is_the_flows_and_no_member_left_is_a_fault() {
        let t = T::new(
            r#"<member hostName="down-a.test" httpPort="9001"/>
               <member hostName="b.test" httpPort="9002"/>"#,
            r#"failover="false""#,
        );
        let e = t.run("s", "/p", "http").unwrap_err();
        assert_eq!(e.code, error_codes::CONNECTION_FAILED);
        assert_eq!(t.get("/p"), "http://b.test:9002/p");
        // every member refusing: Synapse's "No application members available"
        let t = T::new(
            r#"<member hostName="down-a.test" httpPort="9001"/>
               <member hostName="down-b.test" httpPort="9002"/>"#,
            "",
        );
        let e = t.run("s", "/p", "http").unwrap_err();
        assert_eq!(e.code, error_codes::GROUP_NOT_READY);
        assert!(
            e.message.contains("No application members available"),
            "{}",
            e.message
        );
        assert_eq!(t.sent().len(), 2);
        // a member without the port of the transport counts as refusing
        let t = T::new(r#"<member hostName="a.test" httpPort="9001"/>"#, "");
        let e = t.run("s", "/p", "https").unwrap_err();
        assert!(
            e.message.contains("No application members"),
            "{}",
            e.message
        );
        assert!(t.sent().is_empty());
    }

    #[test]
    fn a_recipient_list_of_members_sends_a_copy_to_each_member() {
        let t = T::new(TWO, "");
        let xml = format!(
            r#"<definitions {NS}>
               <endpoint name="R"><recipientlist>{TWO}
                 <member hostName="down.test" httpPort="9003"/>
                 <member hostName="c.test" httpsPort="9444"/></recipientlist></endpoint>
               <sequence name="s"><call><endpoint key="R"/></call><respond/></sequence>
               </definitions>"#
        );
        let t = T {
            engine: Engine {
                invoker: t.hosts.clone(),
                clock: t.clock.clone(),
                ..crate::test_support::engine_of(&xml)
            },
            ..t
        };
        // over http: the members with an http port, each with the request's path and query; a
        // member that refuses does not stop the others
        let answer = t.get("/t/x?q=1");
        let mut sent = t.sent();
        sent.sort();
        assert_eq!(
            sent,
            [
                "http://a.test:9001/t/x?q=1",
                "http://b.test:9002/t/x?q=1",
                "http://down.test:9003/t/x?q=1"
            ]
        );
        assert!(answer.ends_with("/t/x?q=1"), "{answer}");
        // none is taken out: the refusing member gets the next copy too
        let _ = t.get("/t/y");
        assert_eq!(t.sent().len(), 3);
        // over https, the https ports
        let _ = t.run("s", "/t/z", "https").unwrap();
        let mut sent = t.sent();
        sent.sort();
        assert_eq!(
            sent,
            [
                "https://a.test:9441/t/z",
                "https://b.test:9442/t/z",
                "https://c.test:9444/t/z"
            ]
        );
        // another transport: nothing is sent
        let e = t.run("s", "/t/z", "vfs").unwrap_err();
        assert_eq!(e.code, error_codes::GROUP_NOT_READY);
        assert!(
            e.message.contains("no ready child members"),
            "{}",
            e.message
        );
        assert!(t.sent().is_empty());
    }

    #[test]
    fn members_are_checked_when_the_configuration_is_read() {
        for (members, code) in [
            (r#"<member hostName="a" httpPort="x"/>"#, "E0121"),
            (r#"<member hostName="a"/>"#, "E0105"),
            (r#"<member httpPort="80"/>"#, "E0105"),
            (
                r#"<member hostName="a" httpPort="80"/><endpoint><address uri="http://b/"/></endpoint>"#,
                "E0115",
            ),
        ] {
            for group in ["loadbalance", "recipientlist"] {
                let xml =
                    format!(r#"<endpoint {NS} name="E"><{group}>{members}</{group}></endpoint>"#);
                let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &xml);
                let codes: Vec<&str> = p.diagnostics.iter().map(|d| d.code.id).collect();
                assert!(codes.contains(&code), "{group} {members}: {codes:?}");
            }
        }
    }
}
