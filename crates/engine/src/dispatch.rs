//! What the transport and Axis2's dispatch phase set on a request as it enters Synapse, before
//! any sequence runs: `TRANSPORT_IN_NAME` (the transport's name, `http` or `https`) and the Axis2
//! operation the request is dispatched to (`get-property('OperationName')`).
//!
//! The operation: an `<api>` resource and the main sequence run in Synapse's own service, whose
//! one operation is `mediate`; a proxy service without a published WSDL has only `mediate` too.
//! A proxy that publishes a WSDL has its operations, and Micro Integrator's dispatchers pick one
//! (its `axis2.xml`): by the request's SOAP action (the `SOAPAction` header, quotes removed, or
//! the `action` parameter of a SOAP 1.2 content type: an operation of that name, or one whose
//! binding `soapAction` or input `wsaw:Action` it is), then by the path after
//! `/services/<proxy>/` (an operation of that name); else `mediate`
//! (`SynapseDispatcher`'s default). The operation's name is a QName: its namespace
//! (`get-property('OperationNamespace')`) is the target namespace of the WSDL port type it comes
//! from, and empty for `mediate` (Synapse's `new QName("mediate")`). The pass-through transport builds no envelope before
//! dispatch, so neither WS-Addressing headers nor the body's first element choose an operation.

use std::sync::Arc;

use synaptic_syntax::wsdl::WsdlOperation;

use crate::{MessageContext, Value};

/// The operation of Synapse's own service and of a proxy without a WSDL.
pub(crate) const MEDIATE: &str = "mediate";

/// [`MEDIATE`] and its namespace (none), shared: most requests are dispatched to it, and take
/// it without allocating.
fn mediate() -> (Arc<str>, Arc<str>) {
    static M: std::sync::LazyLock<(Arc<str>, Arc<str>)> =
        std::sync::LazyLock::new(|| (Arc::from(MEDIATE), Arc::from("")));
    M.clone()
}

/// Where a request is received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service<'a> {
    /// An `<api>` resource, or the main sequence.
    Synapse,
    /// The proxy service of this name.
    Proxy(&'a str),
}

impl<'a> Service<'a> {
    /// The service whose flow `flow` is: a proxy's for its flows (`proxy:NAME/inSequence`, as
    /// the program names a proxy's inline flows), else Synapse's.
    pub fn of_flow(flow: &'a str) -> Service<'a> {
        flow.strip_prefix("proxy:")
            .and_then(|r| r.split_once('/'))
            .map_or(Service::Synapse, |(name, _)| Service::Proxy(name))
    }
}

/// The operation a request to a proxy with these WSDL operations is dispatched to: its name
/// and its namespace.
pub(crate) fn operation(
    ops: &[WsdlOperation],
    proxy: &str,
    ctx: &MessageContext,
) -> (Arc<str>, Arc<str>) {
    let by_action = ctx.soap_action().and_then(|a| by_action(ops, &a));
    let by_uri = || {
        let path = ctx.uri.split_once('?').map_or(ctx.uri.as_str(), |(p, _)| p);
        // Axis2 takes what follows the last `services/` segment's service name
        let rest = path.rsplit_once("/services/")?.1;
        let (service, op) = rest.split_once('/')?;
        (service == proxy && !op.is_empty())
            .then(|| ops.iter().find(|o| &*o.name == op))
            .flatten()
    };
    match by_action.or_else(by_uri) {
        Some(o) => (o.name.clone(), o.namespace.clone()),
        None => mediate(),
    }
}

/// Axis2's `getOperationBySOAPAction`: an operation of that name, else the one operation the
/// action is an alias of (an action two operations share names neither).
fn by_action<'o>(ops: &'o [WsdlOperation], action: &str) -> Option<&'o WsdlOperation> {
    if let Some(o) = ops.iter().find(|o| &*o.name == action) {
        return Some(o);
    }
    let mut named = ops.iter().filter(|o| o.actions.iter().any(|a| a == action));
    match (named.next(), named.next()) {
        (Some(o), None) => Some(o),
        _ => None,
    }
}

/// Set `TRANSPORT_IN_NAME` and the operation on a request entering the program.
pub(crate) fn receive(
    ctx: &mut MessageContext,
    operations: Option<&[WsdlOperation]>,
    service: Service<'_>,
    transport: &str,
) {
    ctx.properties
        .default
        .insert("TRANSPORT_IN_NAME", Value::String(transport.to_string()));
    let (op, ns) = match (service, operations) {
        (Service::Proxy(name), Some(ops)) => operation(ops, name, ctx),
        _ => mediate(),
    };
    ctx.st.operation = Some(crate::context::Operation {
        name: op,
        namespace: ns,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ops() -> Vec<WsdlOperation> {
        vec![
            WsdlOperation {
                name: "getQuote".into(),
                actions: vec!["urn:getQuote".into(), "urn:shared".into()],
                namespace: "urn:stock".into(),
            },
            WsdlOperation {
                name: "placeOrder".into(),
                actions: vec!["urn:placeOrder".into(), "urn:shared".into()],
                namespace: "urn:orders".into(),
            },
        ]
    }

    fn ctx(uri: &str, headers: &[(&str, &str)]) -> MessageContext {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        MessageContext::from_request(http::Method::POST, uri, h, Bytes::new(), None)
    }

    fn op(uri: &str, headers: &[(&str, &str)]) -> String {
        operation(&ops(), "StockQuoteProxy", &ctx(uri, headers))
            .0
            .to_string()
    }

    #[test]
    fn a_soap_action_names_the_operation_by_its_name_or_its_actions() {
        let p = "/services/StockQuoteProxy";
        assert_eq!(op(p, &[("soapaction", "\"urn:placeOrder\"")]), "placeOrder");
        assert_eq!(op(p, &[("soapaction", "getQuote")]), "getQuote");
        assert_eq!(
            op(
                p,
                &[(
                    "content-type",
                    "application/soap+xml; charset=UTF-8; action=\"urn:getQuote\""
                )]
            ),
            "getQuote"
        );
        // an action two operations share, an unknown one, none: `mediate`
        assert_eq!(op(p, &[("soapaction", "urn:shared")]), "mediate");
        assert_eq!(op(p, &[("soapaction", "urn:other")]), "mediate");
        assert_eq!(op(p, &[]), "mediate");
    }

    #[test]
    fn the_path_after_the_proxy_names_the_operation() {
        assert_eq!(
            op("/services/StockQuoteProxy/placeOrder?x=1", &[]),
            "placeOrder"
        );
        assert_eq!(op("/services/StockQuoteProxy/nothing", &[]), "mediate");
        // the SOAP action comes first
        assert_eq!(
            op(
                "/services/StockQuoteProxy/placeOrder",
                &[("soapaction", "urn:getQuote")]
            ),
            "getQuote"
        );
    }

    #[test]
    fn a_proxy_flow_names_its_proxy() {
        assert_eq!(Service::of_flow("proxy:P/inSequence"), Service::Proxy("P"));
        assert_eq!(
            Service::of_flow("proxy:P/faultSequence"),
            Service::Proxy("P")
        );
        assert_eq!(Service::of_flow("api:A/r0/inSequence"), Service::Synapse);
        assert_eq!(Service::of_flow("main"), Service::Synapse);
    }

    #[test]
    fn receive_sets_the_transport_and_the_operation() {
        let mut c = ctx("/services/P/getQuote", &[]);
        receive(&mut c, Some(&ops()), Service::Proxy("P"), "https");
        assert_eq!(
            c.properties.default.get("TRANSPORT_IN_NAME"),
            Some(&Value::String("https".into()))
        );
        assert_eq!(c.st.operation.as_ref().map(|o| &*o.name), Some("getQuote"));
        assert_eq!(
            c.st.operation.as_ref().map(|o| &*o.namespace),
            Some("urn:stock")
        );
        let mut c = ctx("/services/P/placeOrder", &[]);
        receive(&mut c, Some(&ops()), Service::Proxy("P"), "https");
        assert_eq!(
            c.st.operation.as_ref().map(|o| &*o.namespace),
            Some("urn:orders")
        );
        let mut c = ctx("/services/P/getQuote", &[]);
        receive(&mut c, None, Service::Proxy("P"), "http");
        assert_eq!(c.st.operation.as_ref().map(|o| &*o.name), Some("mediate"));
        assert_eq!(c.st.operation.as_ref().map(|o| &*o.namespace), Some(""));
        let mut c = ctx("/api/getQuote", &[("soapaction", "urn:getQuote")]);
        receive(&mut c, Some(&ops()), Service::Synapse, "http");
        assert_eq!(c.st.operation.as_ref().map(|o| &*o.name), Some("mediate"));
    }
}
