//! End-to-end tests of `<dblookup>` and `<dbreport>` over real HTTP on 127.0.0.1, against a
//! real SQLite database file the test creates, a real MariaDB server and a real PostgreSQL
//! server the test starts (`synaptic_tests::mariadb`, `synaptic_tests::postgres`): looked-up properties feed a payloadFactory, a query without a
//! row leaves them unset, statements run in order (a later one reads what an earlier one set),
//! rows written by `<dbreport>` are read back, a transaction that fails is rolled back, a
//! stored procedure is called, and an SQL error or a database synaptic has no client for runs
//! the fault sequence with Synapse's error message.

use synaptic_tests::gateway::{start_gateway, TestGateway};
use synaptic_tests::mariadb::{self, MariaDb};
use synaptic_tests::postgres::{self, Postgres};

/// Where the tests' tables are: the `<connection>` to write, the URL fault messages name, the
/// SQL for "now", and the MariaDB server that must outlive the test.
struct Db {
    pool: String,
    url: String,
    now: &'static str,
    server: Option<MariaDb>,
    pg: Option<Postgres>,
    sqlite_file: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    /// `select count(*) from audit`, read without synaptic.
    fn audit_rows(&self) -> i64 {
        if let Some(pg) = &self.pg {
            return pg.sql("select count(*) from audit").trim().parse().unwrap();
        }
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
        pg: None,
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
        pg: None,
        sqlite_file: None,
        _dir: None,
    }
}

/// A PostgreSQL server with the same tables, reached with `org.postgresql.Driver`, and
/// `item`, whose columns are of PostgreSQL's common types.
fn postgresql() -> Db {
    let server = Postgres::start();
    server.sql(
        "create table company(id varchar(10), name varchar(40) unique, price double precision);
         insert into company values ('c1', 'IBM', 120.5), ('c2', 'WSO2', 99.0);
         create table audit(name varchar(40) not null, at timestamp);
         create table item(n integer, amount numeric(10, 2), active boolean, born date,
                           seen timestamp, ratio double precision, big bigint, note text);
         insert into item values (7, 120.50, true, '2024-05-01', '2024-05-01 10:00:00.25', 99,
                                  9007199254740993, null);",
    );
    Db {
        pool: pg_pool(&server.jdbc_url(), postgres::PASSWORD),
        url: server.jdbc_url(),
        now: "now()",
        server: None,
        pg: Some(server),
        sqlite_file: None,
        _dir: None,
    }
}

fn pg_pool(url: &str, password: &str) -> String {
    format!(
        r#"<connection><pool>
          <driver>org.postgresql.Driver</driver>
          <url>{url}</url>
          <user>{}</user>
          <password>{password}</password>
          <property name="maxactive" value="4"/>
          <property name="maxwait" value="5000"/>
        </pool></connection>"#,
        postgres::USER
    )
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
        mod postgresql_server {
            $(#[tokio::test]
            async fn $scenario() {
                let db = tokio::task::spawn_blocking(super::postgresql).await.unwrap();
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

/// `db`'s pool has the password `not-the-password`, which the server refuses: the lookup faults
/// with Synapse's message naming the data source, and the answer never shows the password.
async fn a_wrong_password_faults_without_showing_it(db: Db) {
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
        pg: None,
        sqlite_file: None,
        _dir: None,
    };
    a_wrong_password_faults_without_showing_it(db).await;
}

/// Resources that read PostgreSQL's common types, bind each JDBC type, and fault.
fn pg_api(pool: &str, unreachable: &str) -> String {
    format!(
        r#"<api {NS} name="Items" context="/pg">
  <resource methods="GET" uri-template="/item/{{n}}">
    <inSequence>
      <property name="note" value="kept"/>
      <dblookup>
        {pool}
        <statement>
          <sql>select n, amount, active, born, seen, ratio, big, note from item
               where n = ? and born = ? and seen &lt; ? and active = ? and amount &gt;= ?
               and ratio &lt; ? and big &gt; ? and '?' = '?'</sql>
          <parameter expression="get-property('uri.var.n')" type="INTEGER"/>
          <parameter value="2024-5-1" type="DATE"/>
          <parameter value="2030-01-01 00:00:00" type="TIMESTAMP"/>
          <parameter value="TRUE" type="BIT"/>
          <parameter value="10.5" type="DECIMAL"/>
          <parameter value="99.5" type="REAL"/>
          <parameter value="9007199254740992" type="BIGINT"/>
          <result name="n" column="n"/>
          <result name="amount" column="amount"/>
          <result name="active" column="active"/>
          <result name="born" column="born"/>
          <result name="seen" column="seen"/>
          <result name="ratio" column="ratio"/>
          <result name="big" column="big"/>
          <result name="note" column="note"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json">
        <format>{{"n":"$1","amount":"$2","active":"$3","born":"$4","seen":"$5","ratio":"$6","big":"$7","note":"$8"}}</format>
        <args><arg expression="$ctx:n"/><arg expression="$ctx:amount"/><arg expression="$ctx:active"/>
              <arg expression="$ctx:born"/><arg expression="$ctx:seen"/><arg expression="$ctx:ratio"/>
              <arg expression="$ctx:big"/><arg expression="$ctx:note"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
  <resource methods="POST" uri-template="/item">
    <inSequence>
      <dbreport>
        {pool}
        <statement>
          <sql>insert into item(n, born, seen, note) values (?, ?, ?, ?)</sql>
          <parameter expression="json-eval($.n)" type="SMALLINT"/>
          <parameter expression="json-eval($.born)" type="DATE"/>
          <parameter expression="json-eval($.seen)" type="TIMESTAMP"/>
          <parameter expression="json-eval($.note)" type="VARCHAR"/>
        </statement>
      </dbreport>
      <dblookup>
        {pool}
        <statement>
          <sql>select born, seen, note, amount from item where n = ?</sql>
          <parameter expression="json-eval($.n)" type="INTEGER"/>
          <result name="born" column="born"/>
          <result name="seen" column="seen"/>
          <result name="note" column="note"/>
          <result name="amount" column="amount"/>
        </statement>
      </dblookup>
      <payloadFactory media-type="json">
        <format>{{"count":$1,"born":"$2","seen":"$3","note":"$4","amount":"$5"}}</format>
        <args><arg expression="get-property('DBREPORT_MODIFIED_RAW_COUNT')"/>
              <arg expression="$ctx:born"/><arg expression="$ctx:seen"/>
              <arg expression="$ctx:note"/><arg expression="$ctx:amount"/></args></payloadFactory>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
  <resource methods="GET" uri-template="/typeerror">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql>select note from item where n = ?</sql>
          <parameter value="7" type="VARCHAR"/>
          <result name="note" column="note"/>
        </statement>
      </dblookup>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
  <resource methods="GET" uri-template="/unreadable">
    <inSequence>
      <dblookup>
        {pool}
        <statement>
          <sql>select point '(1,2)' as span</sql>
          <result name="span" column="span"/>
        </statement>
      </dblookup>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
  <resource methods="GET" uri-template="/unreachable">
    <inSequence>
      <dblookup>
        {unreachable}
        <statement><sql>select 1</sql><result name="one" column="1"/></statement>
      </dblookup>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
</api>"#
    )
}

const PG_FAULT: &str = r#"<faultSequence>
      <payloadFactory media-type="json"><format>{"fault":"$1","code":"$2","detail":"$3"}</format>
        <args><arg expression="get-property('ERROR_MESSAGE')"/>
              <arg expression="get-property('ERROR_CODE')"/>
              <arg expression="get-property('ERROR_DETAIL')"/></args></payloadFactory>
      <property name="HTTP_SC" value="500" scope="axis2"/>
      <respond/>
    </faultSequence>"#;

async fn pg_gateway() -> (Db, TestGateway, String) {
    let db = tokio::task::spawn_blocking(postgresql).await.unwrap();
    // a port nothing listens on
    let unreachable_url = format!(
        "jdbc:postgresql://127.0.0.1:{}/shop",
        synaptic_tests::free_port()
    );
    let api = pg_api(&db.pool, &pg_pool(&unreachable_url, "x"));
    let gw = start_gateway("", &[("sequences/pg.xml", &api)]).await;
    (db, gw, unreachable_url)
}

#[tokio::test]
async fn postgresql_columns_read_as_jdbc_getstring_prints_them_and_null_leaves_the_property() {
    let (_db, gw, _) = pg_gateway().await;
    let (status, body) = get(&gw, "/pg/item/7").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({
            "n": "7", "amount": "120.50", "active": "t", "born": "2024-05-01",
            "seen": "2024-05-01 10:00:00.25", "ratio": "99.0", "big": "9007199254740993",
            "note": "kept"
        })
    );
    // no row: nothing is set
    let (status, body) = get(&gw, "/pg/item/8").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["n"], "", "{body}");
    gw.shutdown().await;
}

#[tokio::test]
async fn postgresql_dbreport_binds_dates_and_a_null_and_commits() {
    let (db, gw, _) = pg_gateway().await;
    let (status, body) = post(
        &gw,
        "/pg/item",
        serde_json::json!({"n": 9, "born": "1999-12-31", "seen": "2024-02-29 23:59:59.5", "note": "new"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"count": 1, "born": "1999-12-31", "seen": "2024-02-29 23:59:59.5",
                           "note": "new", "amount": ""})
    );
    // committed: another session sees the row; an empty value is SQL NULL
    let pg = db.pg.as_ref().unwrap();
    assert_eq!(pg.sql("select note from item where n = 9").trim(), "new");
    let (status, body) = post(
        &gw,
        "/pg/item",
        serde_json::json!({"n": 10, "born": "2000-01-01", "seen": "2000-01-01 00:00:00", "note": ""}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        pg.sql("select note is null from item where n = 10").trim(),
        "t"
    );
    // a value not of its type is a fault before the database is asked
    let (status, body) = post(
        &gw,
        "/pg/item",
        serde_json::json!({"n": 11, "born": "yesterday", "seen": "2000-01-01 00:00:00", "note": "x"}),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["fault"]
            .as_str()
            .unwrap()
            .starts_with("Error while executing insert statement : insert into item"),
        "{body}"
    );
    assert_eq!(pg.sql("select count(*) from item where n = 11").trim(), "0");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_postgresql_type_error_is_an_sql_exception_fault() {
    let (db, gw, _) = pg_gateway().await;
    // a VARCHAR parameter is sent as `character varying`, as the JDBC driver's setString sends
    // it: PostgreSQL has no `integer = character varying`
    let (status, body) = get(&gw, "/pg/typeerror").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["fault"],
        format!(
            "SQL Exception occurred while executing statement : select note from item where n = ? \
             against DataSource : {}",
            db.url
        )
    );
    assert_eq!(body["code"], "0");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("operator does not exist: integer = character varying"),
        "{detail}"
    );
    // a column of a type synaptic does not read: the fault says how to read it
    let (status, body) = get(&gw, "/pg/unreadable").await;
    assert_eq!(status, 500, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("`point`") && detail.contains("span::text"),
        "{detail}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_postgresql_server_faults_with_synapses_message() {
    let (_db, gw, url) = pg_gateway().await;
    let (status, body) = get(&gw, "/pg/unreachable").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["fault"],
        format!("Error executing statement : select 1 against DataSource : {url}")
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("cannot connect"), "{detail}");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_wrong_postgresql_password_faults_without_showing_it() {
    let server = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    server.sql("create table company(id varchar(10), name varchar(40), price double precision);");
    let db = Db {
        pool: pg_pool(&server.jdbc_url(), "not-the-password"),
        url: server.jdbc_url(),
        now: "now()",
        server: None,
        pg: Some(server),
        sqlite_file: None,
        _dir: None,
    };
    a_wrong_password_faults_without_showing_it(db).await;
}

/// Values of `interval` and array types, each read by `<dblookup>` (binary, decoded by
/// synaptic) beside the server's own text of it (`::text`), as response headers.
const PG_TEXTS: &[&str] = &[
    "interval '1 year 2 mons 3 days 04:05:06.5'",
    "interval '0'",
    "interval '-1 day +02:00'",
    "interval '1 year -2 mons'",
    "interval '-1 year 2 mons -3 days -04:05:06'",
    "interval '-0.000001 seconds'",
    "interval '1 mon 1 day'",
    "interval '100 hours'",
    "interval '2 days -1 second'",
    "interval '-14 mons 1 second'",
    "array[1, 2, 3]",
    "array['a b', null, '', 'NULL', 'x\"y', 'back\\slash', '{}', 'c,d', 'tab\t', 'plain']",
    "array[[1, 2], [3, 4]]",
    "array[[[1]], [[2]]]",
    "'{}'::int[]",
    "'[0:1]={7,8}'::int[]",
    "array[null]::int[]",
    "array[1.5, 99, 1e20, 1e15, 123456789012345, 0.0001, 1e-5, -0.0, 'NaN', '-Infinity']::float8[]",
    "array[0.1, 1e6, 123456, 1.5e-7]::float4[]",
    "array[120.50, -3.1, 0.000]::numeric[]",
    "array[true, false]",
    "array[1::int2, -2::int2]",
    "array[9007199254740993::int8]",
    "array['2024-05-01'::date, '0044-03-15 BC'::date]",
    "array['2024-05-01 10:00:00.25'::timestamp]",
    "array['2024-05-01 10:00:00+02'::timestamptz]",
    "array['10:00:01.5'::time]",
    "array['\\x01ff'::bytea]",
    "array['12121212-1212-1212-1212-121212121212'::uuid]",
    "array[interval '1 day', interval '-1 mon']",
    "array['{\"a\": [1, \"b c\"]}'::jsonb]",
    "array['x'::char(3), 'y'::varchar]",
];

fn pg_texts_api(pool: &str) -> String {
    let columns: Vec<String> = PG_TEXTS
        .iter()
        .enumerate()
        .map(|(i, e)| format!("({e}) as c{i}, ({e})::text as t{i}"))
        .collect();
    let sql = columns
        .join(", ")
        .replace('&', "&amp;")
        .replace('<', "&lt;");
    let mut results = String::new();
    let mut headers = String::new();
    for i in 0..PG_TEXTS.len() {
        results.push_str(&format!(
            r#"<result name="c{i}" column="c{i}"/><result name="t{i}" column="t{i}"/>"#
        ));
        headers.push_str(&format!(
            r#"<header name="X-C{i}" scope="transport" expression="$ctx:c{i}"/>
               <header name="X-T{i}" scope="transport" expression="$ctx:t{i}"/>"#
        ));
    }
    format!(
        r#"<api {NS} name="Texts" context="/texts">
  <resource methods="GET" uri-template="/">
    <inSequence>
      <dblookup>
        {pool}
        <statement><sql>select {sql}</sql>{results}</statement>
      </dblookup>
      {headers}
      <payloadFactory media-type="json"><format>{{"ok":true}}</format><args/></payloadFactory>
      <respond/>
    </inSequence>
    {PG_FAULT}
  </resource>
</api>"#
    )
}

#[tokio::test]
async fn postgresql_intervals_and_arrays_read_as_the_server_prints_them() {
    let db = tokio::task::spawn_blocking(postgresql).await.unwrap();
    let gw = start_gateway("", &[("sequences/texts.xml", &pg_texts_api(&db.pool))]).await;
    let r = reqwest::get(gw.url("/texts/")).await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
    let header = |name: String| {
        headers
            .get(&name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    for (i, e) in PG_TEXTS.iter().enumerate() {
        let (ours, servers) = (header(format!("x-c{i}")), header(format!("x-t{i}")));
        assert_eq!(ours, servers, "{e}");
    }
    // what the server printed, for the record
    assert_eq!(header("x-c0".into()), "1 year 2 mons 3 days 04:05:06.5");
    assert_eq!(header("x-c2".into()), "-1 days +02:00:00");
    assert_eq!(
        header("x-c11".into()),
        r#"{"a b",NULL,"","NULL","x\"y","back\\slash","{}","c,d","tab	",plain}"#
    );
    assert_eq!(header("x-c12".into()), "{{1,2},{3,4}}");
    gw.shutdown().await;
}
