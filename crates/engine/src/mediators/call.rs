//! `<call>`: send the message to an endpoint (blocking: the response replaces the body and the
//! flow goes on; non-blocking: the response becomes the message).

use crate::compiler::Compiler;
use crate::convert::value_string;
use crate::exec::body_has_fault;
use crate::ir::EndpointIr;
use crate::uri::{expand_uri_template, join_rest_postfix};
use crate::{error_codes, Engine, ErrorKind, InvokeError, MediationError, MessageContext, Origin};
use http::header::CONTENT_TYPE;
use std::collections::HashMap;
use std::time::Duration;
use synaptic_expr::Value;
use synaptic_syntax::ast;

#[derive(Debug)]
pub(crate) struct CallOp {
    pub blocking: bool,
    pub endpoint: Option<EndpointIr>,
}

pub(crate) fn compile(c: &mut Compiler<'_>, call: &ast::Call) -> Option<CallOp> {
    let endpoint = match &call.endpoint {
        Some(e) => Some(c.endpoint(e)?),
        None => None,
    };
    Some(CallOp {
        blocking: call.blocking,
        endpoint,
    })
}

fn lookup_uri_var(ctx: &MessageContext, name: &str) -> Option<String> {
    ctx.properties.default.get(name).and_then(value_string)
}

fn safe_target(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map(|p| format!(":{p}")).unwrap_or_default()
        ),
        Err(_) => "the endpoint".to_string(),
    }
}

pub(crate) async fn call(
    engine: &Engine,
    endpoints: &HashMap<String, EndpointIr>,
    c: &CallOp,
    mediator: &'static str,
    ctx: &mut MessageContext,
) -> Result<(), MediationError> {
    let mut ep = c.endpoint.clone();
    if let Some(EndpointIr::Key(k)) = &ep {
        match endpoints.get(k) {
            Some(e) => ep = Some(e.clone()),
            None => {
                return Err(MediationError::new(
                    ErrorKind::Fault,
                    Origin::Internal,
                    error_codes::ENDPOINT_NOT_READY,
                    format!("endpoint `{k}` is not defined"),
                ))
            }
        }
    }
    let postfix = ctx.axis2_string("REST_URL_POSTFIX").unwrap_or_default();
    let (method, url, timeout_ms) = match &ep {
        Some(EndpointIr::Http {
            method,
            template,
            timeout_ms,
        }) => {
            let mut url = expand_uri_template(template, &|n| lookup_uri_var(ctx, n));
            if c.blocking {
                url = join_rest_postfix(&url, &postfix);
            }
            (ctx.http_method(method.as_ref()), url, *timeout_ms)
        }
        Some(EndpointIr::Address { uri, timeout_ms }) => (
            ctx.http_method(None),
            join_rest_postfix(uri, &postfix),
            *timeout_ms,
        ),
        Some(EndpointIr::Key(_)) | Some(EndpointIr::Default) | None => {
            let to = match ctx.st.addressing.get("To") {
                Some(to) if !ctx.st.inbound.contains("To") => to.clone(),
                _ => String::new(),
            };
            (ctx.http_method(None), to, None)
        }
    };
    if url.trim().is_empty() {
        return Err(MediationError::new(
            ErrorKind::Fault,
            Origin::Internal,
            error_codes::ENDPOINT_NOT_READY,
            "the call has no endpoint address",
        ));
    }
    let timeout = timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(engine.limits.call_timeout);
    let target = safe_target(&url);
    let mut req = ctx.outbound(method, url, Some(timeout))?;
    crate::observe::outbound(ctx, mediator, &mut req);
    let res = engine.invoker.invoke(req).await;
    crate::observe::outbound_done(ctx, res.as_ref().map(|r| r.status));
    if c.blocking {
        for h in [
            "content-type",
            "content-length",
            "transfer-encoding",
            "connection",
            "date",
        ] {
            ctx.headers.remove(h);
        }
    }
    match res {
        Ok(resp) => {
            if c.blocking {
                let ct = resp
                    .headers
                    .get(CONTENT_TYPE)
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                ctx.properties
                    .axis2
                    .insert("HTTP_SC".into(), Value::Integer(resp.status as i64));
                ctx.set_body_raw(resp.body, ct, true);
            } else {
                ctx.set_response(resp);
                // in a fan-out branch, the flow goes on after the `iterate`/`clone` (Synapse's
                // continuation of a non-blocking call)
                ctx.st.resumed = true;
                // `FORCE_ERROR_ON_SOAP_FAULT`: a SOAP fault answer fails the endpoint, as
                // Synapse's callback receiver does (the fault handler sees the fault message)
                let force = ctx.properties.default.get("FORCE_ERROR_ON_SOAP_FAULT");
                if force.and_then(value_string).as_deref() == Some("true") {
                    ctx.ensure_built()?;
                    if body_has_fault(ctx) {
                        return Err(MediationError::new(
                            ErrorKind::Fault,
                            Origin::Upstream,
                            error_codes::ENDPOINT_CUSTOM_ERROR,
                            format!("{target} answered with a SOAP fault"),
                        ));
                    }
                }
            }
            Ok(())
        }
        Err(e) => {
            if c.blocking {
                ctx.properties
                    .default
                    .insert("BLOCKING_SENDER_ERROR".into(), Value::String("true".into()));
            }
            Err(match e {
                // the first line is Synapse's ERROR_MESSAGE wording (its transport's), the
                // second names the target for ERROR_DETAIL
                InvokeError::Connect(_) => MediationError::new(
                    ErrorKind::ConnectFailed,
                    Origin::Upstream,
                    error_codes::CONNECTION_FAILED,
                    format!("Error connecting to the back end\nconnection to {target} failed"),
                ),
                InvokeError::Timeout => MediationError::new(
                    ErrorKind::Timeout,
                    Origin::Upstream,
                    error_codes::TIMEOUT,
                    format!(
                        "Error in Sender\n{target} did not answer within {} ms",
                        timeout.as_millis()
                    ),
                ),
                InvokeError::TooLarge => MediationError::new(
                    ErrorKind::BodyTooLarge,
                    Origin::Upstream,
                    error_codes::RECEIVE_FAILED,
                    format!("the response from {target} is too large"),
                ),
                InvokeError::Other(_) => MediationError::new(
                    ErrorKind::ConnectFailed,
                    Origin::Upstream,
                    error_codes::SEND_FAILED,
                    format!("Error in Sender\nsending to {target} failed"),
                ),
            })
        }
    }
}
