//! `<throttle>`: Synapse's throttle mediator. On a request it takes a place among the messages
//! in flight (`MaximumConcurrentAccess`, local to this process, freed when the message is
//! answered), then counts the caller against the policy's rate (`throttle:ID` by IP or domain,
//! `MaximumCount` per `UnitTime` ms, `ProhibitTimePeriod`, `Allow`/`Deny`) through
//! [`SharedState`](crate::SharedState): counters in memory, or in Redis shared by every
//! gateway. Then `onAccept` or `onReject` runs, and mediation goes on after the `<throttle>`; a
//! refused message without `onReject` is dropped. On a response it does nothing.
//!
//! As in Synapse, a caller is matched to a `throttle:ID` of the policy (domain from
//! `X-Forwarded-Host` first, then IP: the first `X-Forwarded-For` address, else `REMOTE_ADDR`),
//! and the counter belongs to that ID: every caller `other` matches shares one counter.

use std::sync::{Arc, Mutex};

use synaptic_diag::{codes, Span};
use synaptic_expr::Value;
use synaptic_payload::xml::Element;
use synaptic_syntax::ast;

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::exec::Step;
use crate::ir::{BlockId, SeqId};
use crate::mediators::{block, Node};
use crate::shared::{Gate, Window};
use crate::{Engine, ErrorKind, Flow, MediationError, MessageContext};

/// What a matched caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Allow,
    Deny,
    Control(Window),
}

/// One `throttle:ID` of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The ID as written (an address, the first address of a range, `10.1.2.*`, a domain,
    /// `*.example.com`, or `other`).
    key: String,
    /// The last address of a range `a - b`.
    last: Option<String>,
    access: Access,
}

/// A throttle policy, read from its WS-Policy XML.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Policy {
    pub max_concurrent: Option<u64>,
    ip: Vec<Caller>,
    domain: Vec<Caller>,
    /// The values of `throttle:ID type="ROLE"`: read and checked as Synapse's policy reader
    /// does, never matched, as Synapse's mediator matches callers by DOMAIN and IP only.
    pub roles: Vec<String>,
}

const OTHER: &str = "other";

fn local(e: &Element) -> &str {
    e.name.local.as_str()
}

fn text(e: &Element) -> String {
    e.string_value().trim().to_string()
}

/// The first child of `e` with the local name `name`.
fn child<'e>(e: &'e Element, name: &str) -> Option<&'e Element> {
    e.child_elements().find(|c| local(c) == name)
}

/// The namespace of the throttle assertions.
const THROTTLE_NS: &str = "http://www.wso2.org/products/wso2commons/throttle";

fn is_assertion(e: &Element) -> bool {
    e.name.ns == THROTTLE_NS
        && matches!(local(e), "MediatorThrottleAssertion" | "ThrottleAssertion")
}

/// Read a policy (the `wsp:Policy`, or the assertion itself). `None`: the policy holds no
/// throttle assertion (in the throttle namespace), and so throttles nothing, as in Synapse.
pub(crate) fn parse_policy(xml: &str) -> Result<Option<Policy>, String> {
    let root =
        synaptic_payload::xml::parse(xml).map_err(|e| format!("the policy is not XML: {e}"))?;
    let assertion = if is_assertion(&root) {
        &root
    } else {
        match root.child_elements().find(|c| is_assertion(c)) {
            Some(a) => a,
            None => return Ok(None),
        }
    };
    let mut p = Policy::default();
    for c in assertion.child_elements() {
        match local(c) {
            "MaximumConcurrentAccess" => {
                let t = text(c);
                let n: u64 = t
                    .parse()
                    .map_err(|_| format!("MaximumConcurrentAccess `{t}` is not a whole number"))?;
                p.max_concurrent = Some(n);
            }
            "Policy" | "All" => {
                let id = child(c, "ID").ok_or(
                    "a caller's wsp:Policy needs a throttle:ID and one control (Control, Allow, \
                     Deny)",
                )?;
                let ty = id
                    .attributes
                    .iter()
                    .find(|a| a.name.local == "type")
                    .map(|a| a.value.trim().to_string())
                    .ok_or("throttle:ID needs throttle:type=\"IP\", \"DOMAIN\" or \"ROLE\"")?;
                let value = text(id);
                if value.is_empty() {
                    return Err("throttle:ID has no value".into());
                }
                let access = access_of(c)?.ok_or_else(|| {
                    format!(
                        "throttle:ID `{value}` has no control (throttle:Control with MaximumCount \
                         and UnitTime, throttle:Allow or throttle:Deny)"
                    )
                })?;
                let (key, last) = match value.split_once('-') {
                    Some((a, b)) if ty == "IP" => {
                        (a.trim().to_string(), Some(b.trim().to_string()))
                    }
                    _ => (value, None),
                };
                let caller = Caller { key, last, access };
                match ty.as_str() {
                    "IP" => p.ip.push(caller),
                    "DOMAIN" => p.domain.push(caller),
                    "ROLE" => p.roles.push(caller.key),
                    other => return Err(format!("unsupported throttle type `{other}`")),
                }
            }
            _ => {}
        }
    }
    Ok(Some(p))
}

/// The first control under a caller (the first alternative of a `wsp:ExactlyOne` wins).
fn access_of(e: &Element) -> Result<Option<Access>, String> {
    if e.child_elements()
        .any(|c| matches!(local(c), "MaximumCount" | "UnitTime" | "ProhibitTimePeriod"))
    {
        return control(e).map(Some);
    }
    for c in e.child_elements() {
        let found = match local(c) {
            "ID" => None,
            "Allow" => Some(Access::Allow),
            "Deny" => Some(Access::Deny),
            "IsAllow" => match text(c).as_str() {
                "true" => Some(Access::Allow),
                "false" => Some(Access::Deny),
                t => return Err(format!("throttle:IsAllow `{t}` is neither true nor false")),
            },
            "Policy" | "ExactlyOne" | "All" | "Control" => access_of(c)?,
            _ => None,
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn control(e: &Element) -> Result<Access, String> {
    let mut max = None;
    let mut unit = None;
    let mut prohibit = 0u64;
    for c in e.child_elements() {
        let t = text(c);
        match local(c) {
            "MaximumCount" => {
                max = Some(
                    t.parse::<u64>()
                        .map_err(|_| format!("MaximumCount `{t}` is not a whole number"))?,
                )
            }
            "UnitTime" => {
                let u = t
                    .parse::<u64>()
                    .map_err(|_| format!("UnitTime `{t}` is not a whole number of ms"))?;
                if u == 0 {
                    return Err("UnitTime must be more than 0 ms".into());
                }
                unit = Some(u);
            }
            "ProhibitTimePeriod" if t.is_empty() => {}
            "ProhibitTimePeriod" => {
                prohibit = t
                    .parse::<u64>()
                    .map_err(|_| format!("ProhibitTimePeriod `{t}` is not a whole number of ms"))?
            }
            other => return Err(format!("unknown throttle policy property `{other}`")),
        }
    }
    match (max, unit) {
        (Some(max), Some(window_ms)) => Ok(Access::Control(Window {
            max,
            window_ms,
            block_ms: prohibit,
        })),
        _ => Err("MaximumCount and UnitTime are mandatory in a throttle:Control".into()),
    }
}

fn last_octet(s: &str) -> Option<u32> {
    s.rsplit_once('.').map_or(s, |(_, h)| h).trim().parse().ok()
}

impl Policy {
    /// The IP ID a caller address falls under (Synapse's `IPBaseThrottleConfiguration`).
    fn match_ip(&self, ip: &str) -> Option<&Caller> {
        let ip = ip.trim();
        if let Some(c) = self.ip.iter().find(|c| c.key == ip) {
            return Some(c);
        }
        if let Some((net, host)) = ip.rsplit_once('.') {
            if let Ok(host) = host.parse::<u32>() {
                let in_range = self.ip.iter().find(|c| {
                    c.key.starts_with(net)
                        && last_octet(&c.key).is_some_and(|f| f <= host)
                        && c.last
                            .as_deref()
                            .and_then(last_octet)
                            .is_some_and(|l| l >= host)
                });
                if in_range.is_some() {
                    return in_range;
                }
            }
            let all = format!("{net}.*");
            if let Some(c) = self.ip.iter().find(|c| c.key == all) {
                return Some(c);
            }
        }
        self.ip.iter().find(|c| c.key == OTHER)
    }

    /// The domain ID a caller's domain falls under (`DomainBaseThrottleConfiguration`).
    fn match_domain(&self, domain: &str) -> Option<&Caller> {
        let mut d = domain.trim();
        loop {
            if let Some(c) = self.domain.iter().find(|c| c.key == d) {
                return Some(c);
            }
            let root = d.split_once('.').map(|(_, r)| r);
            let all = format!("*.{}", root.unwrap_or(d));
            if let Some(c) = self.domain.iter().find(|c| c.key.ends_with(&all)) {
                return Some(c);
            }
            match root {
                Some(r) if !r.is_empty() => d = r,
                _ => break,
            }
        }
        self.domain.iter().find(|c| c.key == OTHER)
    }
}

#[derive(Debug)]
enum PolicySrc {
    None,
    Fixed {
        policy: Arc<Policy>,
        gate: Option<Arc<Gate>>,
    },
    /// A registry key: read at first use, then kept with the text it was read from.
    Registry {
        key: String,
        cache: Mutex<Option<(String, Arc<Policy>)>>,
    },
}

#[derive(Debug)]
enum Branch {
    Block(BlockId),
    Seq(SeqId),
}

#[derive(Debug)]
pub(crate) struct ThrottleOp {
    id: String,
    policy: PolicySrc,
    on_accept: Option<Branch>,
    on_reject: Option<Branch>,
    at: Span,
}

/// The registry key read when a message is throttled (a policy no local entry holds).
pub(crate) fn registry_keys(op: &ThrottleOp, keys: &mut std::collections::BTreeSet<String>) {
    if let PolicySrc::Registry { key, .. } = &op.policy {
        keys.insert(key.clone());
    }
}

fn branch(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    b: &Option<ast::SeqBranch>,
    which: &str,
) -> Result<Option<Branch>, ()> {
    Ok(match b {
        None => None,
        Some(ast::SeqBranch::Inline(ms)) => Some(Branch::Block(block(c, blocks, ms))),
        // Synapse's `ThrottleMediator` looks the key up when it decides
        Some(ast::SeqBranch::Key(k)) => Some(Branch::Seq(
            c.resolve_seq_lazy(
                k,
                crate::compiler::Unresolved::Fault(format!(
                    "Unable to find {which} sequence with key : {}",
                    k.value
                )),
            )
            .ok_or(())?,
        )),
    })
}

/// What a policy's role-based callers do: nothing, as in Synapse.
fn role_warning(roles: &[String]) -> String {
    let names: Vec<String> = roles.iter().map(|r| format!("`{r}`")).collect();
    format!(
        "throttle policy: throttle:ID type=\"ROLE\" ({}) is never applied: Synapse's throttle \
         mediator reads role-based callers but matches a caller by DOMAIN and IP only, so their \
         controls limit nobody (as in Synapse)",
        names.join(", ")
    )
}

fn fixed(c: &mut Compiler<'_>, id: &str, policy: Option<Policy>, at: Span) -> PolicySrc {
    let Some(policy) = policy else {
        c.warn(
            codes::W0322,
            at,
            format!(
                "throttle policy: no throttle:MediatorThrottleAssertion in the namespace \
                 {THROTTLE_NS}; nothing is throttled (as in Synapse)"
            ),
        );
        return PolicySrc::None;
    };
    if !policy.roles.is_empty() {
        c.warn(codes::W0323, at, role_warning(&policy.roles));
    }
    let gate = policy.max_concurrent.map(|n| Gate::of(id, n));
    PolicySrc::Fixed {
        policy: Arc::new(policy),
        gate,
    }
}

pub(crate) fn compile(
    c: &mut Compiler<'_>,
    blocks: &mut Vec<Vec<Node>>,
    t: &ast::Throttle,
    at: Span,
) -> Option<ThrottleOp> {
    let id = t.id.value.trim().to_string();
    let policy = if let Some(p) = &t.policy {
        match parse_policy(&p.value) {
            Ok(pol) => fixed(c, &id, pol, p.span),
            Err(m) => {
                c.err(codes::E0320, p.span, format!("throttle policy: {m}"));
                PolicySrc::None
            }
        }
    } else if let Some(k) = &t.policy_key {
        match c.local_entries.get(&k.value).cloned() {
            Some(text) => match parse_policy(&text) {
                Ok(pol) => fixed(c, &id, pol, k.span),
                Err(m) => {
                    c.err(
                        codes::E0320,
                        k.span,
                        format!("throttle policy `{}`: {m}", k.value),
                    );
                    PolicySrc::None
                }
            },
            None => PolicySrc::Registry {
                key: k.value.clone(),
                cache: Mutex::new(None),
            },
        }
    } else {
        PolicySrc::None
    };
    let on_accept = branch(c, blocks, &t.on_accept, "onAccept");
    let on_reject = branch(c, blocks, &t.on_reject, "onReject");
    Some(ThrottleOp {
        id,
        policy,
        on_accept: on_accept.ok()?,
        on_reject: on_reject.ok()?,
        at,
    })
}

fn fault(msg: impl Into<String>, at: Span) -> MediationError {
    MediationError::internal(ErrorKind::SharedState, msg).at(at)
}

/// A policy and its concurrency gate, if it limits concurrency.
type PolicyAndGate = (Arc<Policy>, Option<Arc<Gate>>);

/// The policy and its gate for this message.
fn policy_of(
    op: &ThrottleOp,
    ctx: &MessageContext,
) -> Result<Option<PolicyAndGate>, MediationError> {
    match &op.policy {
        PolicySrc::None => Ok(None),
        PolicySrc::Fixed { policy, gate } => Ok(Some((policy.clone(), gate.clone()))),
        PolicySrc::Registry { key, cache } => {
            let text = ctx.registry_value(key).ok_or_else(|| {
                MediationError::internal(
                    ErrorKind::Registry,
                    format!("Cannot find throttling policy using key : {key}"),
                )
                .at(op.at)
            })?;
            let mut guard = cache.lock().unwrap_or_else(|p| p.into_inner());
            let policy = match guard.as_ref() {
                Some((t, p)) if *t == text => p.clone(),
                _ => {
                    let parsed = parse_policy(&text).map_err(|m| {
                        MediationError::internal(
                            ErrorKind::Registry,
                            format!("Error processing the throttling policy `{key}`: {m}"),
                        )
                        .at(op.at)
                    })?;
                    let p = Arc::new(parsed.unwrap_or_default());
                    if !p.roles.is_empty() {
                        tracing::warn!(target: "synaptic::throttle", policy = %key, "{}", role_warning(&p.roles));
                    }
                    *guard = Some((text, p.clone()));
                    p
                }
            };
            let gate = policy.max_concurrent.map(|n| Gate::of(&op.id, n));
            Ok(Some((policy, gate)))
        }
    }
}

/// The caller's address: the first `X-Forwarded-For` entry, else `REMOTE_ADDR`.
fn caller_ip(ctx: &MessageContext) -> Option<String> {
    let xff = ctx
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty());
    xff.or_else(|| {
        ctx.properties
            .axis2
            .get("REMOTE_ADDR")
            .and_then(value_string)
    })
}

/// The caller's domain: `X-Forwarded-Host`, else `REMOTE_HOST`.
fn caller_domain(ctx: &MessageContext) -> Option<String> {
    ctx.headers
        .get("x-forwarded-host")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            ctx.properties
                .axis2
                .get("REMOTE_HOST")
                .and_then(value_string)
        })
}

/// Whether the caller may pass the policy's rate.
async fn rate(
    engine: &Engine,
    op: &ThrottleOp,
    p: &Policy,
    ctx: &MessageContext,
) -> Result<bool, MediationError> {
    let mut caller = None;
    if !p.domain.is_empty() {
        if let Some(d) = caller_domain(ctx) {
            caller = p.match_domain(&d).map(|c| ("DOMAIN", c));
        }
    }
    if caller.is_none() {
        let Some(ip) = caller_ip(ctx) else {
            return Ok(true);
        };
        caller = p.match_ip(&ip).map(|c| ("IP", c));
    }
    let Some((ty, c)) = caller else {
        return Ok(true);
    };
    match c.access {
        Access::Allow => Ok(true),
        Access::Deny => Ok(false),
        Access::Control(w) => {
            let artifact = ctx
                .properties
                .default
                .get("SYNAPSE_REST_API")
                .and_then(value_string)
                .unwrap_or_default();
            let key = format!("throttle:{}:{artifact}:{ty}:{}", op.id, c.key);
            let hit = engine
                .state
                .hit(&key, w, engine.clock.now_ms())
                .await
                .map_err(|e| fault(format!("Error occurred during throttling: {e}"), op.at))?;
            Ok(hit.allowed)
        }
    }
}

pub(crate) async fn run(
    engine: &Engine,
    op: &ThrottleOp,
    ctx: &mut MessageContext,
) -> Result<Step, MediationError> {
    if ctx.response {
        return Ok(Step::Next);
    }
    let mut allowed = true;
    let mut permit = None;
    let policy = policy_of(op, ctx)?;
    if let Some((_, Some(gate))) = &policy {
        permit = gate.try_acquire();
        allowed = permit.is_some();
    }
    if allowed {
        if let Some((p, _)) = &policy {
            allowed = rate(engine, op, p, ctx).await?;
        }
    }
    // a place taken is held until the message is answered; a refused message frees it now
    if let (true, Some(p)) = (allowed, permit) {
        ctx.st.permits.push(p);
    }
    ctx.properties.default.insert(
        "synapse.is.concurrent.access.allowed",
        Value::Boolean(allowed),
    );
    let branch = if allowed {
        &op.on_accept
    } else {
        &op.on_reject
    };
    Ok(match branch {
        Some(Branch::Block(b)) => Step::Push(*b),
        Some(Branch::Seq(s)) => Step::PushSeq(*s),
        None if allowed => Step::Next,
        None => Step::End(Flow::Drop),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = r#"xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy" xmlns:throttle="http://www.wso2.org/products/wso2commons/throttle""#;

    fn caller(p: &Policy, ip: &str) -> Option<String> {
        p.match_ip(ip).map(|c| c.key.clone())
    }

    #[test]
    fn reads_the_normalised_and_the_nested_policy_forms() {
        // the two forms of Synapse's ThrottleMediatorTest
        let normalised = format!(
            r#"<wsp:Policy {NS}><throttle:ThrottleAssertion>
              <throttle:MaximumConcurrentAccess>10</throttle:MaximumConcurrentAccess>
              <wsp:All><throttle:ID throttle:type="IP">other</throttle:ID>
                <wsp:ExactlyOne><wsp:All><throttle:MaximumCount>8</throttle:MaximumCount>
                  <throttle:UnitTime>800000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true">10</throttle:ProhibitTimePeriod>
                </wsp:All><throttle:IsAllow>true</throttle:IsAllow></wsp:ExactlyOne></wsp:All>
              <wsp:All><throttle:ID throttle:type="IP">192.168.8.200-192.168.8.222</throttle:ID>
                <wsp:ExactlyOne><wsp:All><throttle:MaximumCount>3</throttle:MaximumCount>
                  <throttle:UnitTime>800000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true">10000</throttle:ProhibitTimePeriod>
                </wsp:All><throttle:IsAllow>true</throttle:IsAllow></wsp:ExactlyOne></wsp:All>
              <wsp:All><throttle:ID throttle:type="IP">192.168.8.201</throttle:ID>
                <wsp:ExactlyOne><wsp:All><throttle:MaximumCount>200</throttle:MaximumCount>
                  <throttle:UnitTime>600000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true"></throttle:ProhibitTimePeriod>
                </wsp:All><throttle:IsAllow>true</throttle:IsAllow></wsp:ExactlyOne></wsp:All>
            </throttle:ThrottleAssertion></wsp:Policy>"#
        );
        let nested = format!(
            r#"<wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
              <throttle:MaximumConcurrentAccess>10</throttle:MaximumConcurrentAccess>
              <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID>
                <wsp:Policy><throttle:Control><wsp:Policy>
                  <throttle:MaximumCount>8</throttle:MaximumCount>
                  <throttle:UnitTime>800000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true">10
                  </throttle:ProhibitTimePeriod>
                </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
              <wsp:Policy><throttle:ID throttle:type="IP">192.168.8.200-192.168.8.222</throttle:ID>
                <wsp:Policy><throttle:Control><wsp:Policy>
                  <throttle:MaximumCount>3</throttle:MaximumCount>
                  <throttle:UnitTime>800000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true">10000</throttle:ProhibitTimePeriod>
                </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
              <wsp:Policy><throttle:ID throttle:type="IP">192.168.8.201</throttle:ID>
                <wsp:Policy><throttle:Control><wsp:Policy>
                  <throttle:MaximumCount>200</throttle:MaximumCount>
                  <throttle:UnitTime>600000</throttle:UnitTime>
                  <throttle:ProhibitTimePeriod wsp:Optional="true"></throttle:ProhibitTimePeriod>
                </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
            </throttle:MediatorThrottleAssertion></wsp:Policy>"#
        );
        let a = parse_policy(&normalised).unwrap().unwrap();
        let b = parse_policy(&nested).unwrap().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.max_concurrent, Some(10));
        assert_eq!(
            a.match_ip("192.168.8.212").unwrap().access,
            Access::Control(Window {
                max: 3,
                window_ms: 800_000,
                block_ms: 10_000
            })
        );
        assert_eq!(
            caller(&a, "192.168.8.201").as_deref(),
            Some("192.168.8.201")
        );
        assert_eq!(caller(&a, "192.168.8.223").as_deref(), Some("other"));
        assert_eq!(caller(&a, "10.0.0.1").as_deref(), Some("other"));
    }

    #[test]
    fn allow_deny_wildcards_and_domains() {
        let p = parse_policy(&format!(
            r#"<wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
              <wsp:Policy><throttle:ID throttle:type="IP">10.1.2.*</throttle:ID>
                <wsp:Policy><throttle:Allow/></wsp:Policy></wsp:Policy>
              <wsp:Policy><throttle:ID throttle:type="IP">10.1.2.7</throttle:ID>
                <wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
              <wsp:Policy><throttle:ID throttle:type="DOMAIN">*.example.com</throttle:ID>
                <wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
            </throttle:MediatorThrottleAssertion></wsp:Policy>"#
        ))
        .unwrap()
        .unwrap();
        assert_eq!(p.match_ip("10.1.2.9").unwrap().access, Access::Allow);
        assert_eq!(p.match_ip("10.1.2.7").unwrap().access, Access::Deny);
        assert!(p.match_ip("10.1.3.1").is_none());
        assert_eq!(
            p.match_domain("api.eu.example.com").unwrap().access,
            Access::Deny
        );
        assert!(p.match_domain("example.org").is_none());
        assert_eq!(p.max_concurrent, None);
    }

    #[test]
    fn invalid_policies_are_refused_with_a_reason() {
        // InvalidThrottlingPolicyTest: an assertion in another namespace throttles nothing
        let other_ns = r#"<wsp:Policy xmlns:wsp="w" xmlns:throttle="http://www.wso2.org/products/google/throttle"><throttle:MediatorThrottleAssertion/></wsp:Policy>"#;
        assert_eq!(parse_policy(other_ns), Ok(None));
        assert_eq!(parse_policy("<nope/>"), Ok(None));
        let t = THROTTLE_NS;
        for (policy, reason) in [
            ("<nope".to_string(), "not XML"),
            (
                format!(
                    r#"<throttle:MediatorThrottleAssertion xmlns:throttle="{t}"><throttle:MaximumConcurrentAccess>ten</throttle:MaximumConcurrentAccess></throttle:MediatorThrottleAssertion>"#
                ),
                "not a whole number",
            ),
            (
                format!(
                    r#"<a:MediatorThrottleAssertion xmlns:a="{t}" xmlns:w="w"><w:Policy><a:ID a:type="IP">other</a:ID><w:Policy><a:Control><w:Policy><a:MaximumCount>3</a:MaximumCount></w:Policy></a:Control></w:Policy></w:Policy></a:MediatorThrottleAssertion>"#
                ),
                "mandatory",
            ),
            (
                format!(
                    r#"<a:MediatorThrottleAssertion xmlns:a="{t}" xmlns:w="w"><w:Policy><a:ID a:type="USER">x</a:ID><w:Policy><a:Allow/></w:Policy></w:Policy></a:MediatorThrottleAssertion>"#
                ),
                "unsupported throttle type",
            ),
            (
                // a role-based caller is checked as the others are (a control is mandatory)
                format!(
                    r#"<a:MediatorThrottleAssertion xmlns:a="{t}" xmlns:w="w"><w:Policy><a:ID a:type="ROLE">admin</a:ID></w:Policy></a:MediatorThrottleAssertion>"#
                ),
                "no control",
            ),
            (
                format!(
                    r#"<a:MediatorThrottleAssertion xmlns:a="{t}" xmlns:w="w"><w:Policy><a:ID a:type="IP">other</a:ID></w:Policy></a:MediatorThrottleAssertion>"#
                ),
                "no control",
            ),
        ] {
            let e = parse_policy(&policy).unwrap_err();
            assert!(e.contains(reason), "{policy}: {e}");
        }
    }

    // ===== whole mediations =====

    use crate::{
        compile, CompileOptions, Engine, FixedClock, Flow, InboundResponse, InvokeError, Invoker,
        Limits, MemoryState, MessageContext, OutboundRequest,
    };

    struct NoNet;

    #[async_trait::async_trait]
    impl Invoker for NoNet {
        async fn invoke(&self, _: OutboundRequest) -> Result<InboundResponse, InvokeError> {
            Err(InvokeError::Connect("no network here".into()))
        }
    }

    fn engine(xml: &str) -> Engine {
        let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), xml);
        assert!(
            p.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            p.diagnostics
        );
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        Engine {
            configurables: std::sync::Arc::new(crate::NoConfigurables),
            program: Arc::new(prog.unwrap_or_else(|| panic!("{diags:?}"))),
            invoker: Arc::new(NoNet),
            registry: Arc::new(synaptic_registry::MemoryRegistry::new()),
            clock: Arc::new(FixedClock(1_700_000_000_000)),
            state: Arc::new(MemoryState::default()),
            db: std::sync::Arc::new(crate::NoDatabase),
            limits: Limits::default(),
        }
    }

    fn request(ip: &str) -> MessageContext {
        let mut ctx = MessageContext::from_request(
            http::Method::GET,
            "/x",
            http::HeaderMap::new(),
            bytes::Bytes::new(),
            None,
        );
        ctx.properties
            .axis2
            .insert("REMOTE_ADDR", Value::String(ip.into()));
        ctx
    }

    fn verdict(ctx: &MessageContext) -> Option<String> {
        ctx.properties.default.get("verdict").and_then(value_string)
    }

    /// `throttle:ID type="ROLE"`: Synapse's policy reader takes it, its mediator never matches
    /// a caller by role. The policy deploys with W0323, the role's control limits nobody, and a
    /// caller the policy's IP entries match is still counted.
    #[tokio::test]
    async fn role_based_callers_are_read_and_never_applied() {
        let xml = format!(
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <throttle id="R"><policy><wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
                  <wsp:Policy><throttle:ID throttle:type="ROLE">admin</throttle:ID>
                    <wsp:Policy><throttle:Control><wsp:Policy>
                      <throttle:MaximumCount>1</throttle:MaximumCount>
                      <throttle:UnitTime>800000</throttle:UnitTime>
                    </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
                  <wsp:Policy><throttle:ID throttle:type="IP">10.0.0.9</throttle:ID>
                    <wsp:Policy><throttle:Control><wsp:Policy>
                      <throttle:MaximumCount>2</throttle:MaximumCount>
                      <throttle:UnitTime>800000</throttle:UnitTime>
                    </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
                </throttle:MediatorThrottleAssertion></wsp:Policy></policy>
                  <onAccept><property name="verdict" value="accept"/></onAccept>
                  <onReject><property name="verdict" value="reject"/></onReject>
                </throttle>
              </sequence>"#
        );
        let p = synaptic_syntax::parse_artifact(synaptic_diag::SourceId(0), &xml);
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        assert!(prog.is_some(), "{diags:?}");
        let w: Vec<_> = diags.iter().filter(|d| d.code == codes::W0323).collect();
        assert_eq!(w.len(), 1, "{diags:?}");
        assert!(w[0].message.contains("(`admin`) is never applied"), "{w:?}");
        let e = engine(&xml);
        // callers no IP entry matches: never refused, whatever the role's control says
        for _ in 0..5 {
            let mut ctx = request("192.168.1.1");
            e.mediate("s", None, &mut ctx).await.unwrap();
            assert_eq!(verdict(&ctx).as_deref(), Some("accept"));
        }
        let verdicts: Vec<_> = futures::future::join_all((0..3).map(|_| async {
            let mut ctx = request("10.0.0.9");
            e.mediate("s", None, &mut ctx).await.unwrap();
            verdict(&ctx)
        }))
        .await;
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| v.as_deref() == Some("reject"))
                .count(),
            1,
            "{verdicts:?}"
        );
    }

    /// ThrottleMediatorTest.testMediate: a policy from a local entry; 192.168.8.212 falls in
    /// the range 200–222 (3 per 800 s, 10 s prohibited): the 4th to 6th messages are refused.
    #[tokio::test]
    async fn policy_from_a_local_entry_refuses_the_fourth_message_of_a_range() {
        let e = engine(&format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
              <localEntry key="throttlepolicy"><wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
                <wsp:Policy><throttle:ID throttle:type="IP">192.168.8.200-192.168.8.222</throttle:ID>
                  <wsp:Policy><throttle:Control><wsp:Policy>
                    <throttle:MaximumCount>3</throttle:MaximumCount>
                    <throttle:UnitTime>800000</throttle:UnitTime>
                    <throttle:ProhibitTimePeriod wsp:Optional="true">10000</throttle:ProhibitTimePeriod>
                  </wsp:Policy></throttle:Control></wsp:Policy></wsp:Policy>
              </throttle:MediatorThrottleAssertion></wsp:Policy></localEntry>
              <sequence name="s">
                <throttle id="A">
                  <policy key="throttlepolicy"/>
                  <onAccept><property name="verdict" value="accept"/></onAccept>
                  <onReject><property name="verdict" value="reject"/></onReject>
                </throttle>
                <property name="after" value="yes"/>
              </sequence>
            </definitions>"#
        ));
        let mut seen = Vec::new();
        for _ in 0..6 {
            let mut ctx = request("192.168.8.212");
            let flow = e.mediate("s", None, &mut ctx).await.unwrap();
            assert_eq!(flow, Flow::Continue);
            // mediation goes on after the throttle either way
            assert!(ctx.properties.default.contains_key("after"));
            seen.push(verdict(&ctx).unwrap());
        }
        assert_eq!(
            seen,
            ["accept", "accept", "accept", "reject", "reject", "reject"]
        );
        // another caller of the range shares the range's counter; one outside has no rule
        let mut ctx = request("192.168.8.200");
        e.mediate("s", None, &mut ctx).await.unwrap();
        assert_eq!(verdict(&ctx).as_deref(), Some("reject"));
        let mut ctx = request("10.0.0.1");
        e.mediate("s", None, &mut ctx).await.unwrap();
        assert_eq!(verdict(&ctx).as_deref(), Some("accept"));
    }

    /// ThrottleMediatorTest's concurrency policy and MI's ConcurrencyThrottlingMaxAccessOneTest:
    /// messages in flight beyond MaximumConcurrentAccess are refused; an answered message frees
    /// its place. Without onReject a refused message is dropped.
    #[tokio::test]
    async fn concurrency_refuses_beyond_the_limit_until_a_message_is_answered() {
        let e = engine(&format!(
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <throttle id="concurrency-unit-test">
                  <policy><wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
                    <throttle:MaximumConcurrentAccess>4</throttle:MaximumConcurrentAccess>
                  </throttle:MediatorThrottleAssertion></wsp:Policy></policy>
                </throttle>
                <property name="verdict" value="accept"/>
              </sequence>"#
        ));
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut ctx = request("127.0.0.1");
            assert_eq!(
                e.mediate("s", None, &mut ctx).await.unwrap(),
                Flow::Continue
            );
            held.push(ctx);
        }
        let mut ctx = request("127.0.0.1");
        assert_eq!(e.mediate("s", None, &mut ctx).await.unwrap(), Flow::Drop);
        assert_eq!(verdict(&ctx), None);
        held.pop();
        let mut ctx = request("127.0.0.1");
        assert_eq!(
            e.mediate("s", None, &mut ctx).await.unwrap(),
            Flow::Continue
        );
    }

    #[tokio::test]
    async fn deny_runs_the_on_reject_sequence_and_responses_pass() {
        let e = engine(&format!(
            r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
              <sequence name="rejected"><property name="verdict" value="reject"/><drop/></sequence>
              <sequence name="s">
                <throttle id="B" onReject="rejected">
                  <policy><wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
                    <wsp:Policy><throttle:ID throttle:type="IP">other</throttle:ID>
                      <wsp:Policy><throttle:Deny/></wsp:Policy></wsp:Policy>
                  </throttle:MediatorThrottleAssertion></wsp:Policy></policy>
                </throttle>
                <property name="verdict" value="accept"/>
              </sequence>
            </definitions>"#
        ));
        let mut ctx = request("10.9.9.9");
        assert_eq!(e.mediate("s", None, &mut ctx).await.unwrap(), Flow::Drop);
        assert_eq!(verdict(&ctx).as_deref(), Some("reject"));
        // a response passes untouched
        let mut ctx = request("10.9.9.9");
        ctx.response = true;
        assert_eq!(
            e.mediate("s", None, &mut ctx).await.unwrap(),
            Flow::Continue
        );
        assert_eq!(verdict(&ctx).as_deref(), Some("accept"));
    }

    #[test]
    fn lint_reports_a_bad_policy_and_a_missing_id() {
        let p = synaptic_syntax::parse_artifact(
            synaptic_diag::SourceId(0),
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <throttle id="x"><policy><wsp:Policy xmlns:wsp="w"><nothing/></wsp:Policy></policy></throttle>
              </sequence>"#,
        );
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        assert!(diags.iter().any(|d| d.code == codes::W0322), "{diags:?}");
        assert!(
            prog.is_some(),
            "a policy without an assertion still deploys"
        );
        let p = synaptic_syntax::parse_artifact(
            synaptic_diag::SourceId(0),
            &format!(
                r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">
                <throttle id="x"><policy><wsp:Policy {NS}><throttle:MediatorThrottleAssertion>
                  <throttle:MaximumConcurrentAccess>many</throttle:MaximumConcurrentAccess>
                </throttle:MediatorThrottleAssertion></wsp:Policy></policy></throttle>
              </sequence>"#
            ),
        );
        let (prog, diags) = compile(std::slice::from_ref(&p.tree), &CompileOptions::default());
        assert!(diags.iter().any(|d| d.code == codes::E0320), "{diags:?}");
        assert!(prog.is_none());
        let p = synaptic_syntax::parse_artifact(
            synaptic_diag::SourceId(0),
            r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s"><throttle/></sequence>"#,
        );
        assert!(
            p.diagnostics.iter().any(|d| d.code == codes::E0105),
            "{:?}",
            p.diagnostics
        );
    }
}
