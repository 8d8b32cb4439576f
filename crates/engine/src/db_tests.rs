//! Unit tests of `<dblookup>`/`<dbreport>`: JDBC parameter typing, compile diagnostics with
//! their spans, data sources shared between mediators, and runs over a scripted
//! [`Database`] (the real SQLite pools are tested in the gateway and end to end).

use crate::*;
use std::sync::Mutex;
use synaptic_diag::SourceId;

fn compile_text(xml: &str) -> (Option<Program>, Vec<Diagnostic>) {
    let p = synaptic_syntax::parse_artifact(SourceId(0), xml);
    assert!(
        p.diagnostics.iter().all(|d| !d.is_error()),
        "{:?}",
        p.diagnostics
    );
    compile(std::slice::from_ref(&p.tree), &CompileOptions::default())
}

/// `code "spanned text": message` per diagnostic.
fn diags(xml: &str) -> Vec<String> {
    let (_, d) = compile_text(xml);
    d.iter()
        .map(|d| {
            format!(
                "{} {:?}: {}",
                d.code.id,
                &xml[d.primary_span().range()],
                d.message
            )
        })
        .collect()
}

fn seq(body: &str) -> String {
    format!(r#"<sequence xmlns="http://ws.apache.org/ns/synapse" name="s">{body}</sequence>"#)
}

const SQLITE: &str = "<connection><pool><driver>org.sqlite.JDBC</driver>\
    <url>jdbc:sqlite:/tmp/x.db</url><user>u</user><password>hunter2</password></pool></connection>";

#[test]
fn parameters_are_typed_as_synapse_binds_them() {
    use JdbcType::*;
    let ok = |t: JdbcType, s: &str| t.bind(Some(s)).unwrap();
    assert_eq!(ok(Varchar, "IBM"), SqlValue::Text("IBM".into()));
    // missing or empty is NULL, whatever the type
    assert_eq!(Integer.bind(None).unwrap(), SqlValue::Null);
    assert_eq!(ok(Integer, ""), SqlValue::Null);
    assert_eq!(ok(Char, ""), SqlValue::Null);
    assert_eq!(ok(Integer, "-42"), SqlValue::Integer(-42));
    assert_eq!(ok(Integer, "+7"), SqlValue::Integer(7));
    assert!(Integer.bind(Some("2147483648")).is_err());
    assert!(Integer.bind(Some(" 1")).is_err());
    assert!(Integer.bind(Some("1.0")).is_err());
    assert_eq!(ok(BigInt, "2147483648"), SqlValue::Integer(2_147_483_648));
    assert!(TinyInt.bind(Some("128")).is_err());
    assert_eq!(ok(SmallInt, "-32768"), SqlValue::Integer(-32768));
    assert_eq!(ok(Double, " 1.5e2 "), SqlValue::Real(150.0));
    assert_eq!(ok(Float, "2d"), SqlValue::Real(2.0));
    assert!(Double.bind(Some("abc")).is_err());
    assert!(Double.bind(Some("inf")).is_err());
    assert_eq!(ok(Decimal, "-12.50"), SqlValue::Decimal("-12.50".into()));
    assert!(Numeric.bind(Some("1,5")).is_err());
    // Boolean.parseBoolean: anything but "true" (any case) is false
    assert_eq!(ok(Bit, "TRUE"), SqlValue::Bool(true));
    assert_eq!(ok(Bit, "yes"), SqlValue::Bool(false));
    assert_eq!(ok(Date, "2024-1-5"), SqlValue::Text("2024-01-05".into()));
    assert!(Date.bind(Some("2024-13-01")).is_err());
    assert_eq!(ok(Time, "9:05:00"), SqlValue::Text("09:05:00".into()));
    assert!(Time.bind(Some("25:00:00")).is_err());
    assert_eq!(
        ok(Timestamp, "2024-01-05 10:11:12.123"),
        SqlValue::Text("2024-01-05 10:11:12.123".into())
    );
    assert!(Timestamp.bind(Some("2024-01-05T10:11:12")).is_err());
    assert_eq!(
        JdbcType::parse("varchar"),
        None,
        "Synapse reads the exact name"
    );
}

#[test]
fn compile_reports_types_literals_columns_and_pool_settings_at_their_place() {
    let xml = seq(&format!(
        r#"<dblookup>{SQLITE}<statement><sql>select a from t where b = ? and c = ?</sql>
             <parameter value="x" type="VARCHR"/>
             <parameter value="abc" type="INTEGER"/>
             <result name="p" column="0"/></statement></dblookup>
           <dbreport><connection><pool><driver>org.h2.Driver</driver>
             <url>jdbc:h2:mem:shop</url><user>u</user><password>p</password>
             <property name="maxactive" value="lots"/><property name="maxidel" value="2"/>
             <property name="validationquery" value="select 1"/></pool></connection>
             <statement><sql>delete from t</sql></statement></dbreport>
           <dblookup><connection><pool><dsName>jdbc/Shop</dsName></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>
           <dblookup><connection><pool><driver>org.sqlite.JDBC</driver><url key="conf:/db/url"/>
             <user>u</user><password>p</password></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>"#
    ));
    let d = diags(&xml);
    let expected = [
        r#"E0380 "VARCHR": unknown JDBC type `VARCHR`, which Synapse refuses; did you mean `VARCHAR`?"#,
        r#"E0303 "abc": `abc` is not an INTEGER: the statement would fault every time it runs"#,
        r#"E0381 "0": column="0": columns are numbered from 1 (the statement would fault whenever it returns a row)"#,
        r#"W0380 "org.h2.Driver": synaptic has no client for the JDBC driver `org.h2.Driver` (it runs SQLite, MySQL/MariaDB and PostgreSQL: org.sqlite.JDBC, com.mysql.cj.jdbc.Driver, org.mariadb.jdbc.Driver, org.postgresql.Driver): this mediator faults at runtime"#,
        r#"W0381 "lots": maxactive="lots" is not a whole number: it is ignored (as Synapse ignores it)"#,
        r#"W0381 "maxidel": pool property `maxidel` is not one Synapse knows, it is ignored; did you mean `maxidle`?"#,
        r#"W0380 "conf:/db/url": a connection setting read from the registry (key="conf:/db/url") is not supported: this mediator faults at runtime; write the value in the <pool>"#,
    ];
    assert_eq!(d, expected, "{d:#?}");
}

#[test]
fn ds_names_resolve_to_the_hosts_data_sources_by_id_or_jndi_name() {
    let xml = seq(
        r#"<dblookup><connection><pool><dsName>jdbc/Shop</dsName></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>
           <dbreport><connection><pool><dsName>Shop</dsName></pool></connection>
             <statement><sql>delete from t</sql></statement></dbreport>
           <dblookup><connection><pool><dsName>jdbc/Shp</dsName></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>
           <dblookup><connection><pool><dsName>Old</dsName></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>"#,
    );
    let p = synaptic_syntax::parse_artifact(SourceId(0), &xml);
    let shop = NamedDataSource {
        id: "Shop".into(),
        driver_class: "org.postgresql.Driver".into(),
        url: "jdbc:postgresql://db/shop".into(),
        user: "u".into(),
        password: DbPassword::new("{wso2:vault-lookup('db')}"),
        max_active: Some(3),
        max_wait_ms: Some(500),
    };
    let old = NamedDataSource {
        id: "Old".into(),
        driver_class: "org.h2.Driver".into(),
        url: "jdbc:h2:mem:x".into(),
        ..shop.clone()
    };
    let opts = CompileOptions {
        data_sources: Some(Arc::new(vec![shop, old])),
        ..Default::default()
    };
    let (prog, d) = compile(std::slice::from_ref(&p.tree), &opts);
    let shown: Vec<String> = d
        .iter()
        .map(|d| {
            format!(
                "{} {:?}: {}",
                d.code.id,
                &xml[d.primary_span().range()],
                d.message
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            r#"E0382 "jdbc/Shp": no data source `jdbc/Shp`: define it in synaptic.toml as a [[datasource]] with id = "Shp"; did you mean `Shop`?"#,
            r#"W0380 "Old": data source `Old`: synaptic has no client for the JDBC driver `org.h2.Driver` (it runs SQLite, MySQL/MariaDB and PostgreSQL: org.sqlite.JDBC, com.mysql.cj.jdbc.Driver, org.mariadb.jdbc.Driver, org.postgresql.Driver): this mediator faults at runtime"#,
        ],
        "{shown:#?}"
    );
    assert!(prog.is_none());
    // without the mistake, the three mediators naming `Shop` (as `jdbc/Shop` or `Shop`) share
    // one data source, so one pool
    let fixed = xml.replace("jdbc/Shp", "Shop");
    let p = synaptic_syntax::parse_artifact(SourceId(0), &fixed);
    let (prog, d) = compile(std::slice::from_ref(&p.tree), &opts);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    let sources = prog.unwrap().data_sources().to_vec();
    assert_eq!(sources.len(), 2, "{sources:?}");
    assert_eq!(sources[0].driver, Ok(DbDriver::Postgres));
    assert_eq!(sources[0].url, "jdbc:postgresql://db/shop");
    assert_eq!(sources[0].max_active, Some(3));
    assert_eq!(sources[0].display_name(), "Shop");
    assert_eq!(sources[1].display_name(), "Old");
    // no data sources known (lint, `synaptic run`): no diagnostic, a fault at runtime
    let (prog, d) = compile_text(&fixed);
    assert!(d.is_empty(), "{d:?}");
    let s = prog.unwrap().data_sources()[0].clone();
    assert!(
        matches!(&s.driver, Err(m) if m.contains("[[datasource]]")),
        "{s:?}"
    );
}

/// A `<dsName>` takes a deploy-time parameter, as `AbstractDBMediatorFactory` resolves it.
#[test]
fn a_ds_name_may_be_a_deploy_time_parameter() {
    struct Host(Arc<Vec<NamedDataSource>>);
    impl Configurables for Host {
        fn config(&self, name: &str) -> Option<String> {
            (name == "shop_ds").then(|| "jdbc/Shop".into())
        }
        fn secret(&self, _: &str) -> Option<String> {
            None
        }
        fn data_sources(&self) -> Option<Arc<Vec<NamedDataSource>>> {
            Some(self.0.clone())
        }
    }
    let shop = NamedDataSource {
        id: "Shop".into(),
        driver_class: "org.postgresql.Driver".into(),
        url: "jdbc:postgresql://db/shop".into(),
        user: "u".into(),
        password: DbPassword::new("p"),
        max_active: None,
        max_wait_ms: None,
    };
    let opts = CompileOptions {
        deploy: Some(DeployValues(Arc::new(Host(Arc::new(vec![shop]))))),
        ..Default::default()
    };
    let xml = |name: &str| {
        seq(&format!(
            r#"<dblookup><connection><pool><dsName>{name}</dsName></pool></connection>
                 <statement><sql>select 1</sql></statement></dblookup>"#
        ))
    };
    let text = xml("${configs.shop_ds}");
    let p = synaptic_syntax::parse_artifact(SourceId(0), &text);
    let (prog, d) = compile(std::slice::from_ref(&p.tree), &opts);
    assert!(d.iter().all(|d| !d.is_error()), "{d:?}");
    let s = prog.unwrap().data_sources()[0].clone();
    assert_eq!(s.url, "jdbc:postgresql://db/shop");
    // the data source is known by its id; the mediator's faults give the name as resolved
    assert_eq!(s.display_name(), "Shop");
    // one without a value is E0403 at it, and nothing else
    let text = xml("${configs.nothing}");
    let p = synaptic_syntax::parse_artifact(SourceId(0), &text);
    let (prog, d) = compile(std::slice::from_ref(&p.tree), &opts);
    assert!(prog.is_none());
    let codes: Vec<&str> = d.iter().map(|d| d.code.id).collect();
    assert_eq!(codes, ["E0403"], "{d:?}");
    assert_eq!(&text[d[0].primary_span().range()], "${configs.nothing}");
}

#[test]
fn mediators_with_the_same_pool_share_one_data_source_and_results_count_as_set() {
    let xml = seq(&format!(
        r#"<dblookup>{SQLITE}<statement><sql>select a from t</sql>
             <result name="found" column="a"/></statement></dblookup>
           <dbreport>{SQLITE}<statement><sql>delete from t</sql></statement></dbreport>
           <dblookup><connection><pool><driver>org.sqlite.JDBC</driver>
             <url>jdbc:sqlite:/tmp/other.db</url><user>u</user><password>p</password></pool></connection>
             <statement><sql>select 1</sql></statement></dblookup>
           <log><property name="f" expression="get-property('found')"/>
             <property name="n" expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/></log>"#
    ));
    let (prog, d) = compile_text(&xml);
    // no W0201: `found` and the count are set by the mediators
    assert!(d.is_empty(), "{d:?}");
    let prog = prog.unwrap();
    let sources = prog.data_sources();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0].id, 0);
    assert_eq!(sources[1].id, 1);
    assert_eq!(sources[0].driver, Ok(DbDriver::Sqlite));
    assert_eq!(sources[1].url, "jdbc:sqlite:/tmp/other.db");
    // the password never shows
    // MySQL and MariaDB by driver class or URL
    for (class, url) in [
        ("com.mysql.jdbc.Driver", "$url"),
        ("org.mariadb.jdbc.Driver", "jdbc:mariadb://db/shop"),
        ("x.Unknown", "jdbc:mysql://db/shop"),
    ] {
        assert_eq!(driver_for(class, url), Ok(DbDriver::Mysql), "{class} {url}");
    }
    // PostgreSQL by driver class or URL
    for (class, url) in [
        ("org.postgresql.Driver", "$url"),
        ("x.Unknown", "jdbc:postgresql://db:5433/shop?ssl=false"),
        ("", "jdbc:postgresql:shop"),
    ] {
        assert_eq!(
            driver_for(class, url),
            Ok(DbDriver::Postgres),
            "{class} {url}"
        );
    }
    assert!(driver_for("org.apache.derby.jdbc.ClientDriver", "jdbc:derby://h/db").is_err());
    let shown = format!("{:?}", sources[0]);
    assert!(!shown.contains("hunter2"), "{shown}");
    assert_eq!(sources[0].password.expose(), "hunter2");
    assert_eq!(format!("{}", sources[0].password), "***");
    // a fault names the data source by its URL, credentials redacted
    let with_secret = DataSourceDef {
        url: "jdbc:mysql://db/shop?user=u&password=hunter2".into(),
        ..(*sources[0]).clone()
    };
    let name = with_secret.display_name();
    assert!(
        !name.contains("hunter2") && name.starts_with("jdbc:mysql://db/shop"),
        "{name}"
    );
}

/// Answers from a script, and records what it was asked.
#[derive(Default)]
struct Scripted {
    answers: Mutex<Vec<Result<Vec<SqlOutcome>, DbFailure>>>,
    asked: Mutex<Vec<(usize, Vec<SqlStatement>, bool)>>,
}

#[async_trait]
impl Database for Scripted {
    async fn run(
        &self,
        source: &DataSourceDef,
        statements: Vec<SqlStatement>,
        transaction: bool,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        self.asked
            .lock()
            .unwrap()
            .push((source.id, statements, transaction));
        self.answers.lock().unwrap().remove(0)
    }
}

fn engine_with(xml: &str, db: Arc<Scripted>) -> Engine {
    Engine {
        db,
        clock: Arc::new(FixedClock(0)),
        ..crate::test_support::engine_of(xml)
    }
}

fn message(body: &'static str) -> MessageContext {
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    MessageContext::from_request(
        http::Method::POST,
        "/",
        headers,
        Bytes::from_static(body.as_bytes()),
        None,
    )
}

fn row(cols: &[&str], values: Vec<SqlValue>) -> SqlOutcome {
    SqlOutcome::Row(Some(SqlRow {
        columns: cols.iter().map(|c| c.to_string()).collect(),
        values,
    }))
}

fn prop(ctx: &MessageContext, name: &str) -> Option<Value> {
    ctx.properties.default.get(name).cloned()
}

#[tokio::test]
async fn lookup_binds_each_statement_after_the_previous_one_set_its_properties() {
    let db = Arc::new(Scripted::default());
    *db.answers.lock().unwrap() = vec![
        Ok(vec![row(
            &["ID", "price", "note"],
            vec![SqlValue::Integer(7), SqlValue::Real(120.0), SqlValue::Null],
        )]),
        Ok(vec![SqlOutcome::Row(None)]),
    ];
    let xml = seq(&format!(
        r#"<property name="note" value="kept"/>
           <dblookup>{SQLITE}
             <statement><sql>select id, price, note from c where name = ?</sql>
               <parameter expression="json-eval($.name)" type="VARCHAR"/>
               <result name="id" column="id"/><result name="price" column="2"/>
               <result name="note" column="note"/></statement>
             <statement><sql>select x from d where id = ? and n = ?</sql>
               <parameter expression="get-property('id')" type="INTEGER"/>
               <parameter value="3" type="SMALLINT"/>
               <result name="x" column="x"/></statement></dblookup>"#
    ));
    let e = engine_with(&xml, db.clone());
    let mut ctx = message(r#"{"name":"IBM"}"#);
    e.mediate("s", None, &mut ctx).await.unwrap();
    // column names match whatever their case; a REAL reads as Java prints it; NULL and no
    // row leave the property alone
    assert_eq!(prop(&ctx, "id"), Some(Value::String("7".into())));
    assert_eq!(prop(&ctx, "price"), Some(Value::String("120.0".into())));
    assert_eq!(prop(&ctx, "note"), Some(Value::String("kept".into())));
    assert_eq!(prop(&ctx, "x"), None);
    let asked = db.asked.lock().unwrap();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].1[0].params, vec![SqlValue::Text("IBM".into())]);
    assert!(asked[0].1[0].query && !asked[0].2);
    assert_eq!(
        asked[1].1[0].params,
        vec![SqlValue::Integer(7), SqlValue::Integer(3)]
    );
    // each value goes with the JDBC type it was bound as
    assert_eq!(asked[0].1[0].types, vec![JdbcType::Varchar]);
    assert_eq!(
        asked[1].1[0].types,
        vec![JdbcType::Integer, JdbcType::SmallInt]
    );
}

#[tokio::test]
async fn failures_are_faults_with_synapses_message_and_the_cause_as_detail() {
    let db = Arc::new(Scripted::default());
    *db.answers.lock().unwrap() = vec![Err(DbFailure {
        index: 0,
        error: DbError::Sql("no such table: t".into()),
    })];
    let xml = seq(&format!(
        r#"<dblookup>{SQLITE}<statement><sql>select a from t</sql>
             <result name="a" column="a"/></statement></dblookup>"#
    ));
    let e = engine_with(&xml, db.clone());
    let mut ctx = message("{}");
    let err = e.mediate("s", None, &mut ctx).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Database);
    assert_eq!(err.code, 0);
    assert_eq!(
        err.message,
        "SQL Exception occurred while executing statement : select a from t against \
         DataSource : jdbc:sqlite:/tmp/x.db\nno such table: t"
    );
    assert!(!err.message.contains("hunter2"));

    // a parameter that is not of its type fails before the database is asked
    let xml = seq(&format!(
        r#"<dbreport>{SQLITE}<statement><sql>insert into t values (?)</sql>
             <parameter expression="json-eval($.n)" type="INTEGER"/></statement></dbreport>"#
    ));
    let e = engine_with(&xml, db.clone());
    let mut ctx = message(r#"{"n":"twelve"}"#);
    let err = e.mediate("s", None, &mut ctx).await.unwrap_err();
    assert_eq!(
        err.message,
        "Error while executing insert statement : insert into t values (?) against \
         DataSource : jdbc:sqlite:/tmp/x.db\nparameter 1: `twelve` is not an INTEGER"
    );
    assert_eq!(db.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn report_counts_rows_and_a_transaction_goes_as_one_batch() {
    let db = Arc::new(Scripted::default());
    *db.answers.lock().unwrap() = vec![
        Ok(vec![SqlOutcome::Updated(2)]),
        Ok(vec![SqlOutcome::Updated(1)]),
        Ok(vec![SqlOutcome::Updated(1), SqlOutcome::Updated(4)]),
    ];
    let stmts = r#"<statement><sql>update t set a = ?</sql>
             <parameter expression="json-eval($.a)" type="VARCHAR"/></statement>
           <statement><sql>delete from u</sql></statement>"#;
    let xml = seq(&format!(
        r#"<dbreport>{SQLITE}{stmts}</dbreport>
           <property name="first" expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/>
           <dbreport useTransaction="true">{SQLITE}{stmts}</dbreport>"#
    ));
    let e = engine_with(&xml, db.clone());
    let mut ctx = message(r#"{"a":"v"}"#);
    e.mediate("s", None, &mut ctx).await.unwrap();
    assert_eq!(prop(&ctx, "first"), Some(Value::String("1".into())));
    assert_eq!(
        prop(&ctx, "DBREPORT_MODIFIED_RAW_COUNT"),
        Some(Value::Integer(4))
    );
    let asked = db.asked.lock().unwrap();
    let shape: Vec<(usize, bool)> = asked.iter().map(|a| (a.1.len(), a.2)).collect();
    assert_eq!(shape, vec![(1, false), (1, false), (2, true)]);
    assert!(asked.iter().all(|a| a.0 == 0), "one data source");
    assert!(!asked[2].1[0].query);
}
