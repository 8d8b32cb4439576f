//! `<cache>`: Micro Integrator's cache mediator. `collector="false"` (in the request flow)
//! answers a request from a stored response; `collector="true"` (in the response flow) stores
//! the response. The older form (`id`, `scope`, `hashGenerator=`, `<implementation>`) is read
//! too.
//!
//! ```xml
//! <cache collector="false" timeout="60" maxMessageSize="10000">
//!   <protocol type="HTTP">
//!     <methods>GET</methods>
//!     <headersToExcludeInHash>X-Request-Id</headersToExcludeInHash>
//!     <responseCodes>2[0-9][0-9]</responseCodes>
//!     <enableCacheControl>true</enableCacheControl>
//!     <includeAgeHeader>true</includeAgeHeader>
//!   </protocol>
//!   <onCacheHit sequence="cached"/>
//! </cache>
//! ```

use synaptic_diag::{codes, Span, Spanned};

use crate::ast::{Cache, SeqBranch};
use crate::parse::{Cx, El};

/// Methods Micro Integrator accepts in `<methods>`.
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "CONNECT", "PATCH", "*",
];

/// Largest `timeout` (seconds): ten years.
const MAX_TIMEOUT_SECS: u64 = 10 * 365 * 24 * 3600;

impl<'d, 'a> Cx<'d, 'a> {
    fn cache_number(&mut self, el: El<'d, 'a>, name: &str) -> Option<Option<u64>> {
        let Some(a) = el.attr(name) else {
            return Some(None);
        };
        match a.value.trim().parse::<i64>() {
            Ok(n) if n < 0 => Some(None),
            Ok(n) => Some(Some(n as u64)),
            Err(_) => {
                self.err(
                    codes::E0321,
                    a.value_span,
                    format!("{name}=\"{}\" is not a whole number", a.value),
                );
                None
            }
        }
    }

    fn cache_list(&mut self, el: El<'d, 'a>) -> (Vec<String>, Span) {
        let (t, span) = self.text_of(el);
        let list = t
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        (list, span)
    }

    fn cache_bool(&mut self, el: El<'d, 'a>) -> bool {
        let (t, _) = self.text_of(el);
        // Boolean.parseBoolean: "true" in any case, anything else is false
        t.trim().eq_ignore_ascii_case("true")
    }

    pub(crate) fn cache(&mut self, el: El<'d, 'a>) -> Option<Cache> {
        self.check_attrs(
            el,
            &[
                "collector",
                "timeout",
                "maxMessageSize",
                "id",
                "scope",
                "hashGenerator",
                "description",
            ],
        );
        let collector = match el.attr("collector") {
            Some(a) if a.value == "true" => true,
            Some(a) if a.value == "false" => false,
            Some(a) => {
                self.err(
                    codes::E0106,
                    a.value_span,
                    format!(
                        "collector=\"{}\": the value has to be either true or false",
                        a.value
                    ),
                );
                return None;
            }
            None => {
                self.missing_attr(el, "collector");
                return None;
            }
        };
        let mut ignored = Vec::new();
        if let Some(a) = el.attr("scope") {
            ignored.push(Spanned::new(format!("scope=\"{}\"", a.value), a.name_span));
        }
        let id = self.attr_s(el, "id");
        if collector {
            for name in ["timeout", "maxMessageSize", "hashGenerator"] {
                if let Some(a) = el.attr(name) {
                    ignored.push(Spanned::new(format!("{name} on a collector"), a.name_span));
                }
            }
            for c in self.children(el) {
                if self.syn_name_quiet(c) != Some("description") {
                    self.err(
                        codes::E0103,
                        c.name_span,
                        format!(
                            "unexpected element <{}> in a collector <cache> (it only stores the \
                             response)",
                            c.qname
                        ),
                    );
                }
            }
            return Some(Cache {
                collector,
                id,
                timeout_secs: 5000,
                max_message_size: None,
                hash_generator: None,
                methods: vec!["*".into()],
                headers_to_include: Vec::new(),
                headers_to_exclude: Vec::new(),
                response_codes: None,
                cache_control: false,
                age_header: false,
                max_entries: None,
                on_cache_hit: None,
                ignored,
            });
        }
        let timeout = self.cache_number(el, "timeout");
        let max_message_size = self.cache_number(el, "maxMessageSize");
        let mut hash_generator = self.attr_s(el, "hashGenerator");
        let mut methods = vec!["*".to_string()];
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        let mut response_codes = None;
        let mut cache_control = false;
        let mut age_header = false;
        let mut max_entries = None;
        let mut on_cache_hit = None;
        let mut ok = true;
        for child in self.children(el) {
            match self.syn_name(child) {
                Some("protocol") => {
                    self.check_attrs(child, &["type"]);
                    if let Some(t) = child.attr("type") {
                        if !t.value.trim().eq_ignore_ascii_case("HTTP") {
                            self.err(
                                codes::E0321,
                                t.value_span,
                                format!("protocol type \"{}\": only HTTP is supported", t.value),
                            );
                            ok = false;
                        }
                    }
                    for p in self.children(child) {
                        match self.syn_name(p) {
                            Some("methods") => {
                                let (list, span) = self.cache_list(p);
                                let list: Vec<String> =
                                    list.into_iter().map(|m| m.to_ascii_uppercase()).collect();
                                if let Some(bad) = list.iter().find(|m| !METHODS.contains(&&***m)) {
                                    self.err(
                                        codes::E0321,
                                        span,
                                        format!("unexpected method type: {bad}"),
                                    );
                                    ok = false;
                                }
                                if !list.is_empty() {
                                    methods = list;
                                }
                            }
                            Some("headersToIncludeInHash") => include = self.cache_list(p).0,
                            Some("headersToExcludeInHash") => exclude = self.cache_list(p).0,
                            Some("responseCodes") => {
                                let (t, span) = self.text_of(p);
                                if !t.trim().is_empty() {
                                    response_codes = Some(Spanned::new(t.trim().to_string(), span));
                                }
                            }
                            Some("enableCacheControl") => cache_control = self.cache_bool(p),
                            Some("includeAgeHeader") => age_header = self.cache_bool(p),
                            Some("hashGenerator") => {
                                let (t, span) = self.text_of(p);
                                if !t.trim().is_empty() {
                                    hash_generator = Some(Spanned::new(t.trim().to_string(), span));
                                }
                            }
                            _ => self.unknown_element(p, child),
                        }
                    }
                }
                Some("onCacheHit") => {
                    self.check_attrs(child, &["sequence"]);
                    let ms = self.mediators(child);
                    let branch = match child.attr("sequence") {
                        Some(s) => SeqBranch::Key(self.spanned(s)),
                        None => SeqBranch::Inline(ms),
                    };
                    if on_cache_hit.is_some() {
                        self.dup_element(child);
                    } else {
                        on_cache_hit = Some(branch);
                    }
                }
                Some("implementation") => {
                    self.check_attrs(child, &["type", "maxSize"]);
                    self.no_children(child);
                    if let Some(t) = child.attr("type") {
                        if t.value.trim() != "memory" {
                            ignored.push(Spanned::new(
                                format!("implementation type=\"{}\"", t.value),
                                t.value_span,
                            ));
                        }
                    }
                    match self.cache_number(child, "maxSize") {
                        Some(n) => max_entries = n,
                        None => ok = false,
                    }
                }
                Some("description") => {}
                _ => self.unknown_element(child, el),
            }
        }
        let (Some(timeout), Some(max_message_size)) = (timeout, max_message_size) else {
            return None;
        };
        let timeout_secs = timeout.unwrap_or(5000);
        if timeout_secs > MAX_TIMEOUT_SECS {
            if let Some(a) = el.attr("timeout") {
                self.err(
                    codes::E0321,
                    a.value_span,
                    format!("timeout=\"{}\" is over ten years", a.value),
                );
            }
            return None;
        }
        if !ok {
            return None;
        }
        Some(Cache {
            collector,
            id,
            timeout_secs,
            max_message_size,
            hash_generator,
            methods,
            headers_to_include: include,
            headers_to_exclude: exclude,
            response_codes,
            cache_control,
            age_header,
            max_entries,
            on_cache_hit,
            ignored,
        })
    }
}
