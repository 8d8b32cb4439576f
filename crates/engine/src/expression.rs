//! A Synapse Expression (`${…}`) used outside a sequence: the gateway's configuration compiles
//! one where a value is read from each request (a rate limit's key), and evaluates it over the
//! request's message context exactly as a mediator attribute would be.

use synaptic_diag::Span;
use synaptic_expr::synexpr::{self, SynExpr};

use crate::context::Env;
use crate::MessageContext;

/// A compiled `${…}`. Cheap to clone, `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Expression(SynExpr);

impl Expression {
    /// Compile `${…}` (the whole value; anything around the braces is an error). The error
    /// says what is wrong and where inside the expression.
    pub fn compile(value: &str) -> Result<Expression, String> {
        if !synexpr::is_expression_attr(value) {
            return Err(format!(
                "{value:?} is not a Synapse Expression: write it as ${{…}}, e.g. \
                 ${{headers[\"X-Tenant\"]}}"
            ));
        }
        let v = value.trim();
        let inner = &v[2..v.len() - 1];
        match synexpr::compile(inner, Span::new(Default::default(), 0, inner.len()), &[]) {
            Ok(e) => Ok(Expression(e)),
            Err(diags) => Err(diags
                .first()
                .map(|d| format!("{value}: {}", d.message))
                .unwrap_or_else(|| format!("{value} does not compile"))),
        }
    }

    /// Whether evaluating it reads the message body (`payload`, `xpath(…)` on the body).
    pub fn reads_body(&self) -> bool {
        self.0.is_content_aware()
    }

    /// Its value as text, as Micro Integrator's `stringValueOf` gives it: `""` for null or an
    /// evaluation error. `now_ms` is the time date functions read; `values` what `configs.*`
    /// and `wso2-vault(…)` read.
    pub fn string_value(
        &self,
        ctx: &MessageContext,
        now_ms: i64,
        values: &dyn crate::Configurables,
    ) -> String {
        synexpr::string_value_of(&self.0, &Env::at(ctx, now_ms, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    fn ctx() -> MessageContext {
        let mut h = HeaderMap::new();
        h.insert("x-tenant", HeaderValue::from_static("acme"));
        MessageContext::from_request(
            Method::GET,
            "/shop/items?user=ann",
            h,
            Bytes::new(),
            Some("/shop"),
        )
    }

    #[test]
    fn reads_headers_and_query_parameters() {
        let c = ctx();
        let e = Expression::compile("${headers[\"X-Tenant\"]}").unwrap();
        assert!(!e.reads_body());
        assert_eq!(e.string_value(&c, 0, &crate::NoConfigurables), "acme");
        let e = Expression::compile(" ${params.queryParams.user} ").unwrap();
        assert_eq!(e.string_value(&c, 0, &crate::NoConfigurables), "ann");
        let e = Expression::compile("${headers[\"X-Tenant\"] + '-' + params.queryParams.user}")
            .unwrap();
        assert_eq!(e.string_value(&c, 0, &crate::NoConfigurables), "acme-ann");
        // missing values read as empty, as in Micro Integrator
        let e = Expression::compile("${headers[\"X-Missing\"]}").unwrap();
        assert_eq!(e.string_value(&c, 0, &crate::NoConfigurables), "");
    }

    #[test]
    fn body_readers_are_known_and_mistakes_are_explained() {
        assert!(Expression::compile("${payload.user}").unwrap().reads_body());
        let e = Expression::compile("headers.x").unwrap_err();
        assert!(e.contains("not a Synapse Expression"), "{e}");
        let e = Expression::compile("${headers[}").unwrap_err();
        assert!(e.starts_with("${headers[}: "), "{e}");
        let e = Expression::compile("${nosuch(1)}").unwrap_err();
        assert!(e.contains("nosuch"), "{e}");
    }
}
