//! The registry of stable diagnostic codes. A released code is never reused or renumbered;
//! every code is documented in `docs/DIAGNOSTICS.md` (a tidy test checks it).
//!
//! Ranges: `E01xx` XML and structure, `E02xx` expressions, `E03xx` semantics and compilation,
//! `E04xx` configuration (`synaptic.toml`), `W01xx`–`W04xx` the matching warnings, `W09xx`
//! portability notes (deliberate deviations from Synapse).

use crate::Severity;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code {
    pub id: &'static str,
    pub name: &'static str,
}

impl Code {
    pub const fn new(id: &'static str, name: &'static str) -> Code {
        Code { id, name }
    }
    pub fn severity(&self) -> Severity {
        if self.id.starts_with('W') {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
}

macro_rules! codes {
    ($($(#[$m:meta])* $id:ident = $name:literal;)*) => {
        $( $(#[$m])* pub const $id: Code = Code::new(stringify!($id), $name); )*
        /// Every code, for documentation checks.
        pub const ALL: &[Code] = &[$($id),*];
    };
}

codes! {
    // XML and structure
    E0101 = "malformed-xml";
    E0102 = "doctype-or-entity";
    E0103 = "unknown-element";
    E0104 = "unknown-attribute";
    E0105 = "missing-attribute";
    E0106 = "invalid-attribute-value";
    E0107 = "duplicate-attribute";
    E0108 = "unsupported-mediator";
    E0109 = "wrong-root";
    E0110 = "unexpected-content";
    E0111 = "duplicate-element";
    E0112 = "unfilled-placeholder";
    // expressions
    E0201 = "xpath-syntax";
    E0202 = "jsonpath-syntax";
    E0203 = "unknown-function";
    E0204 = "wrong-arity";
    E0205 = "w3c-fn-namespace";
    // E0206 "undeclared-prefix": retired (Jaxen resolves prefixes when it evaluates: W0206);
    // never reused
    E0207 = "dynamic-registry-key";
    E0208 = "invalid-regex";
    // E0209 "unknown-variable": retired (Jaxen resolves variables when it evaluates: W0209);
    // never reused
    // semantics
    E0301 = "unknown-scope";
    E0302 = "unknown-type";
    E0303 = "literal-type-mismatch";
    E0304 = "undefined-sequence";
    // E0305 "unbindable-uri-variable": retired (Synapse deploys such a template: W0305);
    // never reused
    E0306 = "read-only-scope";
    E0307 = "duplicate-sequence";
    E0308 = "invalid-uri";
    // configuration
    E0401 = "config-syntax";
    E0402 = "config-invalid";
    // warnings
    W0101 = "ignored-attribute";
    W0201 = "property-never-set";
    W0202 = "axis2-client-read";
    W0203 = "unstable-date-format";
    W0301 = "no-effect";
    W0302 = "unknown-action";
    W0901 = "numeric-type-empty-value";
    W0902 = "numeric-property-in-xpath";
    // appended by syntax
    E0113 = "nesting-too-deep";
    E0114 = "missing-element";
    E0115 = "conflicting-attributes";
    W0102 = "missing-synapse-namespace";
    W0105 = "ignored-text";
    W0103 = "skipped-artifact";
    // appended by engine (enrich, makefault)
    E0116 = "invalid-combination";
    // appended by Synapse Expressions (`${…}`)
    E0230 = "synapse-expression-syntax";
    E0231 = "synapse-expression-unknown-function";
    E0232 = "synapse-expression-arity";
    // appended by the gateway's artifact deployment (`<api>` contexts)
    E0117 = "context-served-twice";
    // appended by unit-test suites (`synaptic test`)
    E0130 = "unit-test-suite";
    E0131 = "unit-test-artifact";
    W0104 = "unit-test-ignored";
    // appended by the script and xslt mediators
    E0330 = "script-language-unsupported";
    E0331 = "script-syntax";
    E0332 = "xslt-stylesheet-invalid";
    E0333 = "script-result-target";
    W0330 = "xslt-feature-ignored";
    W0331 = "xslt-resource-unresolved";
    // appended by the throttle and cache mediators, and `rate_limit`
    E0320 = "invalid-throttle-policy";
    E0321 = "invalid-cache-setting";
    W0320 = "cache-hash-generator-replaced";
    W0321 = "cache-setting-ignored";
    W0322 = "throttle-policy-without-assertion";
    W0323 = "throttle-role-never-applied";
    // appended by endpoint groups, templates and proxy services
    E0120 = "empty-endpoint-group";
    E0121 = "invalid-endpoint-option";
    E0122 = "wsdl-port-unresolved";
    E0123 = "published-wsdl-unresolved";
    W0123 = "proxy-not-started";
    W0124 = "published-wsdl-source-unchecked";
    W0125 = "proxy-parameter-ignored";
    E0340 = "undefined-template";
    E0341 = "missing-template-parameter";
    E0342 = "proxy-served-twice";
    W0340 = "unsupported-balancing";
    W0341 = "unknown-template-parameter";
    W0342 = "proxy-transport-not-served";
    W0344 = "duplicate-group-endpoint";
    // appended by the EIP mediators (iterate, clone, aggregate)
    E0350 = "eip-target";
    E0351 = "eip-expression";
    E0352 = "eip-number";
    // appended by the foreach mediator
    E0353 = "foreach-leaves-flow";
    E0354 = "foreach-result";
    // appended by the scatter-gather mediator
    E0355 = "scatter-gather-result";
    // appended by the callout mediator
    E0360 = "callout-ws-security";
    E0361 = "callout-xpath";
    W0360 = "callout-client-configuration-ignored";
    W0361 = "callout-endpoint-overridden";
    // appended by the store mediator, message stores and message processors
    E0370 = "unknown-message-store";
    E0371 = "invalid-store-parameter";
    E0372 = "unsupported-message-processor";
    E0373 = "message-processor-target";
    E0374 = "message-store-defined-twice";
    E0375 = "invalid-cron-expression";
    W0370 = "message-store-not-persistent";
    W0371 = "unknown-store-parameter";
    W0372 = "store-parameter-ignored";
    // appended by lazily resolved references and expressions Synapse checks when they run
    W0304 = "unresolved-sequence";
    W0343 = "unresolved-template";
    W0305 = "unbound-uri-variable";
    W0204 = "unresolved-function";
    W0209 = "unresolved-variable";
    W0206 = "unresolved-prefix";
    // appended by the database mediators (dblookup, dbreport)
    E0380 = "unknown-jdbc-type";
    E0381 = "invalid-db-result";
    E0382 = "unknown-data-source";
    W0380 = "database-unavailable";
    W0381 = "db-pool-property-ignored";
    // appended by `[configs]` and `[secrets]`
    W0401 = "secret-in-config-file";
    W0402 = "configurable-without-value";
    // appended by deploy-time parameters ($SYSTEM:, $FILE:, ${configs.})
    E0403 = "deploy-parameter-unresolved";
    W0403 = "deploy-parameter-suffix";
    // appended by JSONPath as Jayway reads it
    W0210 = "jsonpath-character-ignored";
}
