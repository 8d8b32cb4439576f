//! `<xslt>` `<resource location key>`: an `xsl:import`/`xsl:include` of `location` reads the
//! local entry or registry resource `key` names; any other href fails, and nothing is read
//! from a file or URL. Compiled stylesheets are cached by their text and their imports' texts.
//! (A stylesheet in a local entry inherits the Synapse namespace as its default: the
//! stylesheets here say `xmlns=""`.)

use crate::*;

use crate::test_support::{compiled, engine_of, request, rt};

const MAIN: &str = r#"<xsl:stylesheet version="1.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:import href="common.xsl"/>
  <xsl:include href="names.xsl"/>
  <xsl:template match="/"><out><xsl:apply-templates select="order/*"/><xsl:call-template name="stamp"/></out></xsl:template>
  <xsl:template match="id"><order-id><xsl:value-of select="."/></order-id></xsl:template>
</xsl:stylesheet>"#;

const COMMON: &str = r#"<xsl:stylesheet version="1.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:template match="id"><common-id/></xsl:template>
  <xsl:template match="qty"><quantity><xsl:value-of select=". * 2"/></quantity></xsl:template>
</xsl:stylesheet>"#;

fn names(stamp: &str) -> String {
    format!(
        r#"<xsl:stylesheet version="1.0" xmlns="" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template name="stamp"><{stamp}/></xsl:template></xsl:stylesheet>"#
    )
}

fn defs(entries: &str, xslt: &str) -> String {
    format!(
        r#"<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="main.xsl">{MAIN}</localEntry>
  {entries}
  <sequence name="main" onError="err">{xslt}</sequence>
  <sequence name="err"><property name="SEEN" expression="get-property('ERROR_MESSAGE')"/><drop/></sequence>
</definitions>"#
    )
}

fn transform(e: &Engine) -> (String, Option<String>) {
    let mut ctx = request("application/xml", "<order><id>7</id><qty>3</qty></order>");
    rt().block_on(e.mediate("main", None, &mut ctx)).unwrap();
    let seen = match ctx.properties.default.get("SEEN") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let (body, _) = ctx.body_bytes().unwrap();
    (String::from_utf8_lossy(&body).into_owned(), seen)
}

#[test]
fn imports_and_includes_read_local_entries() {
    let (prog, diags) = compiled(&defs(
        &format!(
            r#"<localEntry key="common">{COMMON}</localEntry><localEntry key="names">{}</localEntry>"#,
            names("local-stamp")
        ),
        r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/><resource location="names.xsl" key="names"/></xslt>"#,
    ));
    assert!(prog.is_some(), "{diags:?}");
    assert!(diags.is_empty(), "{diags:?}");
    let e = engine_of(&defs(
        &format!(
            r#"<localEntry key="common">{COMMON}</localEntry><localEntry key="names">{}</localEntry>"#,
            names("local-stamp")
        ),
        r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/><resource location="names.xsl" key="names"/></xslt>"#,
    ));
    let (body, seen) = transform(&e);
    assert_eq!(seen, None);
    // the importing stylesheet's `id` template wins over the imported one
    assert_eq!(
        body,
        "<out><order-id>7</order-id><quantity>6</quantity><local-stamp/></out>"
    );
}

#[test]
fn a_registry_resource_is_read_on_each_message_and_the_cache_follows_it() {
    let registry = Arc::new(synaptic_registry::MemoryRegistry::new());
    let put = |k: &str, v: &str| {
        rt().block_on(synaptic_registry::Registry::put(&*registry, k, v))
            .unwrap()
    };
    put("conf:/xslt/names.xsl", &names("first"));
    let e = Engine {
        registry: registry.clone(),
        ..engine_of(&defs(
            &format!(r#"<localEntry key="common">{COMMON}</localEntry>"#),
            r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/><resource location="names.xsl" key="conf:/xslt/names.xsl"/></xslt>"#,
        ))
    };
    assert_eq!(
        transform(&e).0,
        "<out><order-id>7</order-id><quantity>6</quantity><first/></out>"
    );
    // the same stylesheet text, another import text: compiled anew, not served from the cache
    put("conf:/xslt/names.xsl", &names("second"));
    assert_eq!(
        transform(&e).0,
        "<out><order-id>7</order-id><quantity>6</quantity><second/></out>"
    );
    put("conf:/xslt/names.xsl", &names("first"));
    assert_eq!(
        transform(&e).0,
        "<out><order-id>7</order-id><quantity>6</quantity><first/></out>"
    );
}

#[test]
fn a_missing_resource_fails_naming_the_href() {
    // no <resource> for names.xsl: the local stylesheet does not compile at load
    let (prog, diags) = compiled(&defs(
        &format!(r#"<localEntry key="common">{COMMON}</localEntry>"#),
        r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/></xslt>"#,
    ));
    assert!(prog.is_none());
    assert!(
        diags
            .iter()
            .any(|d| d.code.id == "E0332" && d.message.contains("`names.xsl`")),
        "{diags:?}"
    );
    // a registry resource no one holds: the message faults, naming it
    let e = engine_of(&defs(
        &format!(r#"<localEntry key="common">{COMMON}</localEntry>"#),
        r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/><resource location="names.xsl" key="conf:/xslt/none.xsl"/></xslt>"#,
    ));
    let (_, seen) = transform(&e);
    let seen = seen.unwrap_or_default();
    assert!(seen.contains("`names.xsl`"), "{seen}");
}

#[test]
fn an_unused_resource_is_a_warning() {
    let (prog, diags) = compiled(&defs(
        &format!(
            r#"<localEntry key="common">{COMMON}</localEntry><localEntry key="names">{}</localEntry>"#,
            names("s")
        ),
        r#"<xslt key="main.xsl"><resource location="common.xsl" key="common"/><resource location="names.xsl" key="names"/><resource location="other.xsl" key="names"/></xslt>"#,
    ));
    assert!(prog.is_some(), "{diags:?}");
    let w: Vec<_> = diags.iter().filter(|d| d.code.id == "W0331").collect();
    assert_eq!(w.len(), 1, "{diags:?}");
    assert!(w[0].message.contains("`other.xsl`"), "{diags:?}");
}
