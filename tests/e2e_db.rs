//! End-to-end tests of `<dblookup>` and `<dbreport>` over real HTTP on 127.0.0.1, against a
//! real SQLite database file the test creates and a real MariaDB server the test starts
//! (`synaptic_tests::mariadb`): looked-up properties feed a payloadFactory, a query without a
//! row leaves them unset, statements run in order (a later one reads what an earlier one set),
//! rows written by `<dbreport>` are read back, a transaction that fails is rolled back, a
//! stored procedure is called, and an SQL error or a database synaptic has no client for runs
//! the fault sequence with Synapse's error message.

use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::mariadb::{self, MariaDb};

/// Where the tests' tables are: the `<connection>` to write, the URL fault messages name, the
/// SQL for "now", and the MariaDB server that must outlive the test.
struct Db {
    pool: String,
    url: String,
    now: &'static str,
    server: Option<MariaDb>,
    sqlite_file: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// `select count(*) from audit`, read without synaptic.
    fn audit_rows(&self) -> i64 {
        match (&self.server, &self.sqlite_file) {
            (Some(server), _) => server
                .sql("select count(*) from audit")
                .trim()
                .parse()
                .unwrap(),
            (None, Some(path)) => rusqlite::Connection::open(path)
                .unwrap()
                .query_row("select count(*) from audit", [], |r| r.get(0))
                .unwrap(),
            (None, None) => unreachable!("a test database is a file or a server"),
        }
    }
}

fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = database(dir.path());
    Db {
        pool: pool(&path),
        url: format!("jdbc:sqlite:{}", path.display()),
        now: "datetime('now')",
        server: None,
        sqlite_file: Some(path),
        _dir: Some(dir),
    }
}

/// A MariaDB server with the same tables, reached with `com.mysql.cj.jdbc.Driver`.
fn mariadb() -> Db {
    let server = MariaDb::start();
    server.sql(
        "create table company(id varchar(10), name varchar(40) unique, price double);
         insert into company values ('c1', 'IBM', 120.5), ('c2', 'WSO2', 99.0);
         create table audit(name varchar(40) not null, at datetime);
         create procedure company_id(in n varchar(40)) select id, name from company where name = n;",
    );
    Db {
        pool: format!(
            r#"<connection><pool>
              <driver>com.mysql.cj.jdbc.Driver</driver>
              <url>{}</url>
              <user>{}</user>
              <password>{}</password>
              <property name="maxactive" value="4"/>
            </pool></connection>"#,
            server.jdbc_url(),
            mariadb::USER,
            mariadb::PASSWORD
        ),
        url: server.jdbc_url(),
        now: "now()",
        server: Some(server),
        sqlite_file: None,
        _dir: None,
    }
}

const NS: &str = r#"xmlns="http://ws.apache.org/ns/synapse""#;

/// A database file with `company(id, name, price)` holding IBM and WSO2, and `audit(name)`.
fn database(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("companies.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "create table company(id text, name text unique, price real);
         insert into company values ('c1', 'IBM', 120.5), ('c2', 'WSO2', 99.0);
         create table audit(name text not null, at text);",
    )
    .unwrap();
    path
}

fn pool(db: &std::path::Path) -> String {
    format!(
        r#"<connection><pool>
          <driver>org.sqlite.JDBC</driver>
          <url>jdbc:sqlite:{}</url>
          <user>synapse</user>
          <password>not-used-by-sqlite</password>
          <property name="maxactive" value="4"/>
          <property name="maxwait" value="5000"/>
        </pool></connection>"#,
        db.display()
    )
}

const FAULT: &str = r#"<faultSequence>
      <payloadFactory media-type="json"><format>{"fault":"$1","code":"$2"}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/>
              <arg expression="get-property('ERROR_CODE')"/></args></payloadFactory>
      <property name="HTTP_SC" value="500" scope="axis2"/>
      <respond/>
    </faultSequence>"#;

fn api(db: &Db) -> String {
    let pool = &db.pool;
    let now = db.now;
    format!(
        r#"<api {NS} name="Companies" context="/db">
  <resource methods="GET" uri-template="/company/{{name}}">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql><![CDATA[select id, name, price from company where name = ?]]></sql>
          <parameter expression="get-property('uri.var.name')" type="VARCHAR"/>
          <result name="company_id" column="id"/>
          <result name="company_price" column="3"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"id":"$1","price":"$2","found":$3}}</format>
        <args><arg expression="get-property('company_id')"/>
              <arg expression="get-property('company_price')"/>
              <arg expression="boolean(get-property('company_id'))"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="GET" uri-template="/cheaper/{{name}}">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql>select price from company where name = ?</sql>
          <parameter expression="get-property('uri.var.name')" type="VARCHAR"/>
          <result name="price" column="price"/>
        </statement>
        <statement>
          <sql>select name, count(*) over () as n from company where price &lt; ? order by price</sql>
          <parameter expression="get-property('price')" type="DOUBLE"/>
          <result name="cheaper" column="name"/>
          <result name="count" column="n"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"price":"$1","cheaper":"$2","count":"$3"}}</format>
        <args><arg expression="get-property('price')"/>
              <arg expression="get-property('cheaper')"/>
              <arg expression="get-property('count')"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="POST" uri-template="/company">
    <inSequence>
      <dbreport>
        {pool}
        <statement>
          <sql>insert into company values (?, ?, ?)</sql>
          <parameter expression="json-eval($.id)" type="VARCHAR"/>
          <parameter expression="json-eval($.name)" type="VARCHAR"/>
          <parameter expression="json-eval($.price)" type="DOUBLE"/>
        </statement>
      </dbreport>
      <payloadFactory media-type="json"><format>{{"inserted":$1}}</format>
        <args><arg expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="POST" uri-template="/audited">
    <inSequence>
      <dbreport useTransaction="true">
        {pool}
        <statement>
          <sql>insert into company values (?, ?, 1)</sql>
          <parameter expression="json-eval($.id)" type="VARCHAR"/>
          <parameter expression="json-eval($.name)" type="VARCHAR"/>
        </statement>
        <statement>
          <sql>insert into audit values (?, {now})</sql>
          <parameter expression="json-eval($.auditor)" type="VARCHAR"/>
        </statement>
      </dbreport>
      <payloadFactory media-type="json"><format>{{"count":$1}}</format>
        <args><arg expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="GET" uri-template="/procedure/{{name}}">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql>call company_id(?)</sql>
          <parameter expression="get-property('uri.var.name')" type="VARCHAR"/>
          <result name="company_id" column="id"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json"><format>{{"id":"$1"}}</format>
        <args><arg expression="get-property('company_id')"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="GET" uri-template="/broken">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql>select id from no_such_table</sql>
          <result name="x" column="id"/>
        </statement>
      </dblookup>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
  <resource methods="GET" uri-template="/elsewhere">
    <inSequence>
      <dblookup>
        <connection><pool>
          <driver>org.apache.derby.jdbc.ClientDriver</driver>
          <url>jdbc:derby://localhost:1527/synapsedb;create=false</url>
          <user>synapse</user>
          <password>synapse</password>
        </pool></connection>
        <statement><sql>select 1</sql><result name="one" column="1"/></statement>
      </dblookup>
      <respond/>
    </inSequence>
    {FAULT}
  </resource>
</api>"#
    )
}

async fn gateway(db: &Db) -> TestGateway {
    start_gateway("", &[("sequences/api.xml", &api(db))]).await
}

/// One `#[tokio::test]` per scenario and database.
macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite_file {
            $(#[tokio::test]
            async fn $scenario() {
                super::$scenario(super::sqlite()).await
            })*
        }
        mod mariadb_server {
            $(#[tokio::test]
            async fn $scenario() {
                let db = tokio::task::spawn_blocking(super::mariadb).await.unwrap();
                super::$scenario(db).await
            })*
        }
    };
}

on_both!(
    lookup_sets_properties_from_the_first_row_by_column_name_and_number,
    a_query_without_a_row_leaves_the_properties_unset,
    statements_run_in_order_and_a_later_one_reads_what_an_earlier_one_set,
    rows_written_by_dbreport_are_read_back_by_dblookup,
    a_failed_transaction_is_rolled_back_and_a_complete_one_committed,
    an_sql_error_runs_the_fault_sequence_with_synapses_message,
    a_database_without_a_client_faults_at_runtime_with_the_reason,
);

async fn get(gw: &TestGateway, path: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(gw.url(path)).await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

async fn post(gw: &TestGateway, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .post(gw.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (status, json)
}

async fn lookup_sets_properties_from_the_first_row_by_column_name_and_number(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/company/IBM").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"id": "c1", "price": "120.5", "found": true})
    );
    // a REAL column reads as Java prints a double
    let (_, body) = get(&gw, "/db/company/WSO2").await;
    assert_eq!(body["price"], "99.0");
    gw.shutdown().await;
}

async fn a_query_without_a_row_leaves_the_properties_unset(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/company/Nobody").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"id": "", "price": "", "found": false})
    );
    gw.shutdown().await;
}

async fn statements_run_in_order_and_a_later_one_reads_what_an_earlier_one_set(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/cheaper/IBM").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"price": "120.5", "cheaper": "WSO2", "count": "1"})
    );
    gw.shutdown().await;
}

async fn rows_written_by_dbreport_are_read_back_by_dblookup(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = post(
        &gw,
        "/db/company",
        serde_json::json!({"id": "c3", "name": "ACME", "price": 12.25}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"inserted": 1}));
    let (_, body) = get(&gw, "/db/company/ACME").await;
    assert_eq!(
        body,
        serde_json::json!({"id": "c3", "price": "12.25", "found": true})
    );
    // the same name again breaks the unique constraint: a fault, Synapse's message
    let (status, body) = post(
        &gw,
        "/db/company",
        serde_json::json!({"id": "c4", "name": "ACME", "price": 1}),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["fault"],
        format!(
            "SQL Error while executing insert statement : insert into company values (?, ?, ?) \
             against DataSource : {}",
            db.url
        )
    );
    gw.shutdown().await;
}

async fn a_failed_transaction_is_rolled_back_and_a_complete_one_committed(db: Db) {
    let gw = gateway(&db).await;
    // no auditor: the second insert breaks `not null`, the first is rolled back with it
    let (status, body) = post(
        &gw,
        "/db/audited",
        serde_json::json!({"id": "c5", "name": "Initech"}),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    let fault = body["fault"].as_str().unwrap();
    assert!(
        fault.starts_with(&format!(
            "SQL Error while executing insert statement : insert into audit values (?, {})",
            db.now
        )),
        "{fault}"
    );
    let (_, body) = get(&gw, "/db/company/Initech").await;
    assert_eq!(body["found"], false, "{body}");
    let (status, body) = post(
        &gw,
        "/db/audited",
        serde_json::json!({"id": "c5", "name": "Initech", "auditor": "Bob"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"count": 1}));
    let (_, body) = get(&gw, "/db/company/Initech").await;
    assert_eq!(body["found"], true, "{body}");
    // one audit row: the failed attempt left none
    assert_eq!(db.audit_rows(), 1);
    gw.shutdown().await;
}

async fn an_sql_error_runs_the_fault_sequence_with_synapses_message(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/broken").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "fault": format!(
                "SQL Exception occurred while executing statement : select id from no_such_table \
                 against DataSource : {}",
                db.url
            ),
            "code": "0"
        })
    );
    gw.shutdown().await;
}

async fn a_database_without_a_client_faults_at_runtime_with_the_reason(db: Db) {
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/elsewhere").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["fault"],
        "Error executing statement : select 1 against DataSource : \
         jdbc:derby://localhost:1527/synapsedb;create=false"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_stored_procedure_gives_its_first_row() {
    let db = tokio::task::spawn_blocking(mariadb).await.unwrap();
    let gw = gateway(&db).await;
    let (status, body) = get(&gw, "/db/procedure/WSO2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, serde_json::json!({"id": "c2"}));
    let (_, body) = get(&gw, "/db/procedure/Nobody").await;
    assert_eq!(body, serde_json::json!({"id": ""}));
    gw.shutdown().await;
}

#[tokio::test]
async fn a_wrong_mariadb_password_faults_without_showing_it() {
    let server = tokio::task::spawn_blocking(MariaDb::start).await.unwrap();
    let pool = format!(
        r#"<connection><pool><driver>org.mariadb.jdbc.Driver</driver><url>{}</url>
          <user>{}</user><password>not-the-password</password></pool></connection>"#,
        server.jdbc_url(),
        mariadb::USER
    );
    let db = Db {
        pool,
        url: server.jdbc_url(),
        now: "now()",
        server: Some(server),
        sqlite_file: None,
        _dir: None,
    };
    let gw = gateway(&db).await;
    let r = reqwest::get(gw.url("/db/company/IBM")).await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "Error executing statement : select id, name, price from company where name = ? \
             against DataSource : {}",
            db.url
        )),
        "{text}"
    );
    assert!(!text.contains("not-the-password"), "{text}");
    gw.shutdown().await;
}
