//! XML Schema 1.0 for `<validate>`, through the `xsd-schema` crate (ADR 0500).
//!
//! The `<schema key>` documents of one `validate` are compiled together into one schema set;
//! an `xs:import` / `xs:include` whose `schemaLocation` a `<resource location key>` names reads
//! that key's text. Nothing is read from a file or the network: a location no `<resource>`
//! names is not read at all (as a hint that cannot be followed: a reference into it then fails
//! to resolve, unless another document supplies the namespace).
//!
//! A compiled set is not `Sync` (its name table interns the names of the documents validated
//! against it), so each `XsdSchema` keeps a few compiled copies: a validation takes one, and
//! gives it back unless the names it interned made it grow past [`NAME_GROWTH`] (a copy that
//! grew is dropped, so hostile documents with ever new names cannot grow memory without end).

use std::collections::HashMap;
use std::sync::Mutex;

use xsd_schema::validation::{
    drive_quick_xml, DriveError, SchemaValidator, ValidationError, ValidationFlags, ValidationSink,
    ValidationWarning,
};
use xsd_schema::xml::ParseLimits;
use xsd_schema::{
    LocationRequest, SchemaError, SchemaLoader, SchemaResolver, SchemaResult, SchemaSet,
    SchemaSetBuilder,
};

/// Compiled copies kept for reuse (more are compiled while more validations run at once).
const POOL_MAX: usize = 8;
/// Names a copy may intern from validated documents before it is dropped rather than reused.
pub(crate) const NAME_GROWTH: usize = 4096;
/// Errors kept from one validation (`ERROR_MESSAGE` lists them); the rest are counted.
pub(crate) const MAX_ERRORS: usize = 32;

/// Bounds on the document validated. It is a part of a message already parsed within the
/// payload limits, so these only restate them.
fn limits() -> ParseLimits {
    ParseLimits::none()
        .with_max_depth(1024)
        .with_max_name_bytes(4096)
        .with_max_namespace_uri_bytes(8192)
        .with_max_attributes(1024)
        .with_max_namespace_declarations(1024)
        .with_max_namespaces_in_scope(1024)
}

/// One schema document's text, under the key it came from.
#[derive(Clone, Debug)]
pub(crate) struct Doc {
    pub key: String,
    pub text: Option<String>,
}

/// A schema set compiled from the `<schema key>` documents, with the `<resource>` documents
/// its imports and includes read.
#[derive(Debug)]
pub(crate) struct XsdSchema {
    schemas: Vec<Doc>,
    /// `<resource location>` → the URI its key's document is known by.
    locations: HashMap<String, String>,
    /// URI → text, for every document a directive may read.
    texts: HashMap<String, String>,
    pool: Mutex<Vec<SchemaSet>>,
    /// Each document's URI and the key it stands for (longest URI first).
    named: Vec<(String, String)>,
    /// Names interned right after compiling.
    names: usize,
}

/// Why a schema set does not compile: the message, and the key of the document at fault when
/// the message names one.
#[derive(Debug, PartialEq)]
pub(crate) struct XsdError {
    pub key: Option<String>,
    pub message: String,
}

/// One validation error: the constraint's code (`cvc-…`), its message and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Issue {
    pub text: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// What a validation found.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub issues: Vec<Issue>,
    /// Errors found past [`MAX_ERRORS`].
    pub more: usize,
}

/// The URI a key's document is known by while compiling (its messages name the key again).
fn uri_of(key: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'[')
        .add(b']')
        .add(b'\\')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    format!(
        "synaptic-key:{}",
        percent_encoding::utf8_percent_encode(key, SET)
    )
}

/// Does `text` look like an XML document (rather than JSON)?
pub(crate) fn is_xml(text: &str) -> bool {
    text.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with('<')
}

#[derive(Debug)]
struct Loader {
    texts: HashMap<String, String>,
}

impl SchemaLoader for Loader {
    fn load(&self, location: &str) -> SchemaResult<String> {
        let embedded = match location {
            "embedded://xml.xsd" => Some(xsd_schema::XML_XSD),
            "embedded://xlink.xsd" => Some(xsd_schema::XLINK_XSD),
            _ => None,
        };
        if let Some(bytes) = embedded {
            return Ok(String::from_utf8_lossy(bytes).into_owned());
        }
        self.texts
            .get(location)
            .cloned()
            .ok_or_else(|| SchemaError::ResolutionError {
                message: format!(
                    "`{}` is not read: no <resource location> of the validate names it",
                    location
                        .strip_prefix("synaptic-unresolved:")
                        .unwrap_or(location)
                ),
            })
    }

    fn can_load(&self, _: &str) -> bool {
        true
    }
}

impl XsdSchema {
    /// Compile `schemas` (each an XML Schema document) with `resources` (`location`, key
    /// document) for their imports and includes.
    pub(crate) fn compile(
        schemas: Vec<Doc>,
        resources: &[(String, Doc)],
    ) -> Result<Self, XsdError> {
        let mut locations = HashMap::new();
        let mut texts = HashMap::new();
        for (location, doc) in resources {
            let uri = uri_of(&doc.key);
            locations.insert(location.clone(), uri.clone());
            if let Some(t) = &doc.text {
                texts.insert(uri, t.clone());
            }
        }
        for d in &schemas {
            if let Some(t) = &d.text {
                texts.insert(uri_of(&d.key), t.clone());
            }
        }
        let mut named: Vec<(String, String)> = schemas
            .iter()
            .chain(resources.iter().map(|(_, d)| d))
            .map(|d| (uri_of(&d.key), d.key.clone()))
            .collect();
        named.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        named.dedup();
        let mut s = XsdSchema {
            schemas,
            named,
            locations,
            texts,
            pool: Mutex::new(Vec::new()),
            names: 0,
        };
        let set = s.build()?;
        s.names = set.name_table.len();
        s.pool
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .push(set);
        Ok(s)
    }

    fn build(&self) -> Result<SchemaSet, XsdError> {
        let mut builder = SchemaSetBuilder::with_loader(Box::new(Loader {
            texts: self.texts.clone(),
        }));
        let locations = self.locations.clone();
        builder.set_location_rewriter(move |r: &LocationRequest<'_>, _: &SchemaResolver| {
            // the documents given to the builder keep their URI; a directive reads what a
            // <resource> maps its location to, and nothing else
            r.kind?;
            if r.location.starts_with("embedded://") {
                return None;
            }
            Some(
                locations
                    .get(r.location)
                    .cloned()
                    .unwrap_or_else(|| format!("synaptic-unresolved:{}", r.location)),
            )
        });
        for d in &self.schemas {
            let text = d.text.as_deref().unwrap_or_default();
            builder = builder
                .add_source(text, &uri_of(&d.key))
                .map_err(|e| self.error(e))?;
        }
        let compiled = builder.compile().map_err(|e| self.error(e))?;
        let set = compiled.into_schema_set();
        // an element whose `type` names no type compiles, its error kept for the first
        // instance that reaches it; Xerces refuses such a schema, and so does synaptic
        if let Some(d) = set
            .arenas
            .elements
            .values()
            .find_map(|e| e.deferred_type_error.as_ref())
        {
            let mut e = self.error_text(format!("src-resolve: {}", d.message));
            if e.key.is_none() {
                e.key = self.schemas.first().map(|d| d.key.clone());
            }
            return Err(e);
        }
        Ok(set)
    }

    /// A compile error, with our URIs given back as the keys they stand for; the key is the
    /// one of the document the message names first.
    fn error(&self, e: SchemaError) -> XsdError {
        self.error_text(e.to_string())
    }

    fn error_text(&self, mut message: String) -> XsdError {
        let mut first: Option<(usize, &str)> = None;
        for (uri, key) in &self.named {
            if let Some(at) = message.find(uri.as_str()) {
                if first.is_none_or(|(f, _)| at < f) {
                    first = Some((at, key));
                }
            }
        }
        let key = first.map(|(_, k)| k.to_string());
        for (uri, key) in &self.named {
            message = message.replace(uri.as_str(), key);
        }
        XsdError {
            key,
            message: message.replace("synaptic-unresolved:", ""),
        }
    }

    /// Validate `instance` (an element serialized with the namespaces it needs).
    pub(crate) fn validate(&self, instance: &str) -> Result<Outcome, XsdError> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let set = match taken {
            Some(s) => s,
            None => self.build()?,
        };
        let outcome = run(&set, instance);
        if set.name_table.len() <= self.names + NAME_GROWTH {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < POOL_MAX {
                pool.push(set);
            }
        }
        Ok(outcome)
    }

    /// Names interned by the copies kept for reuse, beyond those of the compiled schema.
    #[cfg(test)]
    pub(crate) fn pooled_growth(&self) -> Vec<usize> {
        self.pool
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|s| s.name_table.len() - self.names)
            .collect()
    }
}

/// Keeps the first [`MAX_ERRORS`] errors; warnings are not errors (Synapse ignores them).
struct Sink<'a> {
    out: &'a mut Outcome,
}

impl ValidationSink for Sink<'_> {
    fn on_error(&mut self, e: ValidationError) {
        if self.out.issues.len() >= MAX_ERRORS {
            self.out.more += 1;
            return;
        }
        let (line, column) = match &e.location {
            Some(l) => (Some(l.line), Some(l.column)),
            None => (None, None),
        };
        self.out.issues.push(Issue {
            text: format!("{}: {}", e.constraint, e.message),
            line,
            column,
        });
    }

    fn on_warning(&mut self, _: ValidationWarning) {}
}

fn run(set: &SchemaSet, instance: &str) -> Outcome {
    let mut out = Outcome::default();
    let flags = ValidationFlags::default()
        - ValidationFlags::BUILD_PSVI_TYPED_VALUES
        - ValidationFlags::REPORT_WARNINGS;
    let validator = SchemaValidator::new(set, flags);
    let result = {
        let mut runtime = validator.start_run(Sink { out: &mut out });
        runtime.set_parse_limits(limits());
        drive_quick_xml(instance.as_bytes(), &mut runtime, set)
    };
    if let Err(e) = result {
        // a document the validator refuses to read is a fatal error of the validation, as
        // Xerces reports one
        let text = match e {
            DriveError::Validation(e) => format!("{}: {}", e.constraint, e.message),
            other => other.to_string(),
        };
        if out.issues.len() < MAX_ERRORS {
            out.issues.push(Issue {
                text,
                line: None,
                column: None,
            });
        } else {
            out.more += 1;
        }
    }
    out
}

#[cfg(test)]
// wall-clock bounds on the work a hostile input causes: real time is what is measured
#[allow(clippy::disallowed_types)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const XS: &str = "http://www.w3.org/2001/XMLSchema";

    fn doc(key: &str, text: &str) -> Doc {
        Doc {
            key: key.into(),
            text: Some(text.into()),
        }
    }

    fn schema(body: &str) -> XsdSchema {
        let text = format!(r#"<xs:schema xmlns:xs="{XS}">{body}</xs:schema>"#);
        XsdSchema::compile(vec![doc("s", &text)], &[]).unwrap()
    }

    fn errors(s: &XsdSchema, instance: &str) -> Vec<String> {
        s.validate(instance)
            .unwrap()
            .issues
            .into_iter()
            .map(|i| i.text)
            .collect()
    }

    #[test]
    fn compiled_schemas_are_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<XsdSchema>();
        let s = Arc::new(schema(r#"<xs:element name="n" type="xs:integer"/>"#));
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|j| {
                            let v = if (i + j) % 2 == 0 { "12" } else { "twelve" };
                            (v, errors(&s, &format!("<n>{v}</n>")).is_empty())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (v, ok) in h.join().unwrap() {
                assert_eq!(ok, v == "12", "{v}");
            }
        }
    }

    #[test]
    fn errors_carry_the_constraint_code_and_are_capped() {
        let s = schema(
            r#"<xs:element name="r"><xs:complexType><xs:sequence>
                 <xs:element name="n" type="xs:integer" maxOccurs="unbounded"/>
               </xs:sequence></xs:complexType></xs:element>"#,
        );
        let e = errors(&s, "<r><n>x</n></r>");
        assert!(e[0].starts_with("cvc-"), "{e:?}");
        assert!(e[0].contains('x'), "{e:?}");
        let many = format!("<r>{}</r>", "<n>x</n>".repeat(500));
        let out = s.validate(&many).unwrap();
        assert_eq!(out.issues.len(), MAX_ERRORS);
        assert!(out.more > 0);
    }

    #[test]
    fn names_from_documents_do_not_grow_a_kept_copy_without_bound() {
        let s = schema(
            r#"<xs:element name="r"><xs:complexType><xs:sequence>
                 <xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
               </xs:sequence></xs:complexType></xs:element>"#,
        );
        for round in 0..6 {
            let mut d = String::from("<r>");
            for i in 0..2000 {
                d.push_str(&format!("<n{round}x{i}/>"));
            }
            d.push_str("</r>");
            assert!(errors(&s, &d).is_empty());
            for g in s.pooled_growth() {
                assert!(g <= NAME_GROWTH, "a kept copy grew by {g} names");
            }
        }
        // and it still validates
        assert!(!errors(&s, "<other/>").is_empty());
    }

    #[test]
    fn a_pathological_pattern_takes_linear_time() {
        let s = schema(
            r#"<xs:element name="r"><xs:simpleType><xs:restriction base="xs:string">
                 <xs:pattern value="(a*)*b"/></xs:restriction></xs:simpleType></xs:element>"#,
        );
        let t = std::time::Instant::now();
        let e = errors(&s, &format!("<r>{}c</r>", "a".repeat(100_000)));
        assert!(e[0].starts_with("cvc-pattern-valid"), "{e:?}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn hostile_schemas_are_refused_with_an_error() {
        // a pattern too large to compile
        let text = format!(
            r#"<xs:schema xmlns:xs="{XS}"><xs:element name="r"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="((a{{1000}}){{1000}}){{1000}}"/></xs:restriction></xs:simpleType></xs:element></xs:schema>"#
        );
        let e = XsdSchema::compile(vec![doc("big", &text)], &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("big"));
        assert!(e.message.contains("pattern"), "{}", e.message);
        // nesting deeper than the schema parser allows
        let deep = format!(
            r#"<xs:schema xmlns:xs="{XS}"><xs:element name="r"><xs:complexType>{}{}</xs:complexType></xs:element></xs:schema>"#,
            "<xs:sequence>".repeat(5000),
            "</xs:sequence>".repeat(5000)
        );
        let e = XsdSchema::compile(vec![doc("deep", &deep)], &[]).unwrap_err();
        assert!(e.message.contains("depth"), "{}", e.message);
        // huge occurrence counts compile to counters, not to states
        let t = std::time::Instant::now();
        let s = schema(
            r#"<xs:element name="r"><xs:complexType><xs:sequence minOccurs="1000" maxOccurs="100000">
                 <xs:element name="a" minOccurs="0" maxOccurs="99999999"/>
               </xs:sequence></xs:complexType></xs:element>"#,
        );
        assert!(!errors(&s, "<r><b/></r>").is_empty());
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        // not a schema at all
        let e = XsdSchema::compile(vec![doc("k", "<a/>")], &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("k"));
        assert!(!e.message.contains("synaptic-key"), "{}", e.message);
    }

    #[test]
    fn deep_documents_are_bounded() {
        let s = schema(
            r#"<xs:element name="a"><xs:complexType><xs:sequence>
                 <xs:element ref="a" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>"#,
        );
        let ok = format!("{}{}", "<a>".repeat(1000), "</a>".repeat(1000));
        assert!(errors(&s, &ok).is_empty());
        let deep = format!("{}{}", "<a>".repeat(5000), "</a>".repeat(5000));
        let e = errors(&s, &deep);
        assert!(e.iter().any(|e| e.contains("depth")), "{e:?}");
    }

    #[test]
    fn a_document_both_given_and_imported_is_loaded_once() {
        let base = format!(
            r#"<xs:schema xmlns:xs="{XS}" targetNamespace="urn:b" elementFormDefault="qualified"><xs:element name="b" type="xs:string"/></xs:schema>"#
        );
        let outer = format!(
            r#"<xs:schema xmlns:xs="{XS}" xmlns:b="urn:b" targetNamespace="urn:o" elementFormDefault="qualified"><xs:import namespace="urn:b" schemaLocation="base.xsd"/><xs:element name="o"><xs:complexType><xs:sequence><xs:element ref="b:b"/></xs:sequence></xs:complexType></xs:element></xs:schema>"#
        );
        let s = XsdSchema::compile(
            vec![doc("base", &base), doc("outer", &outer)],
            &[("base.xsd".into(), doc("base", &base))],
        )
        .unwrap();
        let ok = r#"<o xmlns="urn:o"><b xmlns="urn:b">x</b></o>"#;
        assert!(errors(&s, ok).is_empty());
        assert!(!errors(&s, r#"<o xmlns="urn:o"/>"#).is_empty());
    }

    #[test]
    fn imports_read_resources_and_nothing_else() {
        let common = format!(
            r#"<xs:schema xmlns:xs="{XS}" targetNamespace="urn:c"><xs:simpleType name="code"><xs:restriction base="xs:string"><xs:maxLength value="3"/></xs:restriction></xs:simpleType></xs:schema>"#
        );
        let main = format!(
            r#"<xs:schema xmlns:xs="{XS}" xmlns:c="urn:c"><xs:import namespace="urn:c" schemaLocation="common.xsd"/><xs:import namespace="http://www.w3.org/XML/1998/namespace"/><xs:element name="r"><xs:complexType><xs:simpleContent><xs:extension base="c:code"><xs:attribute ref="xml:lang"/></xs:extension></xs:simpleContent></xs:complexType></xs:element></xs:schema>"#
        );
        let s = XsdSchema::compile(
            vec![doc("main", &main)],
            &[("common.xsd".into(), doc("conf:/common", &common))],
        )
        .unwrap();
        assert!(errors(&s, r#"<r xml:lang="en">abc</r>"#).is_empty());
        assert!(!errors(&s, "<r>abcd</r>").is_empty());
        // without the resource the import is not read: the reference does not resolve
        let e = XsdSchema::compile(vec![doc("main", &main)], &[]).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("main"));
        assert!(e.message.contains("common.xsd"), "{}", e.message);
        // an absolute location is not fetched either
        let remote = main.replace("common.xsd", "file:///etc/passwd");
        let e = XsdSchema::compile(vec![doc("main", &remote)], &[]).unwrap_err();
        assert!(e.message.contains("file:///etc/passwd"), "{}", e.message);
    }
}
