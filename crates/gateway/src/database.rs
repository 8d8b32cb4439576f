//! The engine's [`Database`] for `<dblookup>`/`<dbreport>`: one bounded connection pool per data
//! source of the program, made when the plan is compiled (connections are opened on first
//! use and kept for the next statement). SQLite runs through rusqlite on the blocking pool,
//! never on an I/O thread; MySQL and MariaDB through mysql_async's own pool; PostgreSQL
//! through tokio-postgres in a pool of the SQLite pool's shape (`postgres`) (ADR 0495,
//! `docs/adr/0495-database-mediators.md`).
//!
//! Bounds (`[limits]`, docs/CONFIG.md): at most `maxactive` (else `db_max_connections`)
//! connections per pool; a statement waits at most `maxwait` ms (else `db_timeout`) for a free
//! connection, and a batch of statements runs at most `db_timeout` (then it is interrupted).

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use synaptic_engine::{
    DataSourceDef, Database, DbDriver, DbError, DbFailure, SqlOutcome, SqlRow, SqlStatement,
    SqlValue,
};
use tokio::sync::Semaphore;

mod pg_tls;
mod postgres;

/// Defaults of `[limits] db_max_connections` and `db_timeout`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// One data source's pool.
enum Pool {
    Sqlite(Arc<SqlitePool>),
    Mysql(MysqlPool),
    Postgres(Box<postgres::PgPool>),
}

/// The folders relative file paths of data source settings resolve against (a PostgreSQL
/// URL's `sslrootcert`, `sslcert` and `sslkey`).
#[derive(Clone, Debug, Default)]
pub struct DbFolders {
    /// Of a `[[datasource]]` (named by a `<dsName>`): synaptic.toml's folder, as its other
    /// paths.
    pub config: std::path::PathBuf,
    /// Of a `<pool>` written in an artifact: the project folder, as `<wsdl uri>`'s.
    pub project: std::path::PathBuf,
}

/// The pools of one plan, by data source id.
pub struct Databases {
    pools: Vec<Result<Pool, String>>,
    timeout: Duration,
}

impl std::fmt::Debug for Databases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Databases")
            .field("pools", &self.pools.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Databases {
    /// A pool for each data source (none is connected yet). `max_connections` and `timeout`
    /// apply where the `<pool>` names no `maxactive` / `maxwait`.
    /// A `<password>` with `{wso2:vault-lookup('alias')}` gets the secret `alias` of
    /// `values`, as Synapse's secure vault resolver gives it when the data source is made;
    /// deploy-time parameters in the settings are read from `values` too. Files the settings
    /// name are read now, relative to `folders`.
    pub fn new(
        sources: &[Arc<DataSourceDef>],
        values: &crate::configurables::Configurables,
        folders: &DbFolders,
        max_connections: u32,
        timeout: Duration,
    ) -> Self {
        let pools = sources
            .iter()
            .map(|s| match &s.driver {
                Ok(DbDriver::Sqlite) => SqlitePool::new(s, values, max_connections, timeout)
                    .map(|p| Pool::Sqlite(Arc::new(p))),
                Ok(DbDriver::Mysql) => {
                    MysqlPool::new(s, values, max_connections, timeout).map(Pool::Mysql)
                }
                Ok(DbDriver::Postgres) => {
                    let base = match s.ds_name {
                        Some(_) => &folders.config,
                        None => &folders.project,
                    };
                    postgres::PgPool::new(s, values, base, max_connections, timeout)
                        .map(|p| Pool::Postgres(Box::new(p)))
                }
                Err(why) => Err(why.clone()),
            })
            .collect::<Vec<_>>();
        for (s, p) in sources.iter().zip(&pools) {
            if let Err(why) = p {
                tracing::warn!(
                    target: "synaptic::db",
                    data_source = %s.display_name(),
                    "a <dblookup>/<dbreport> data source cannot be used: {why}"
                );
            }
        }
        Databases { pools, timeout }
    }
}

#[async_trait]
impl Database for Databases {
    async fn run(
        &self,
        source: &DataSourceDef,
        statements: Vec<SqlStatement>,
        transaction: bool,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        match self.pools.get(source.id) {
            Some(Ok(Pool::Sqlite(p))) => p.clone().run(statements, transaction, self.timeout).await,
            Some(Ok(Pool::Mysql(p))) => p.run(statements, transaction, self.timeout).await,
            Some(Ok(Pool::Postgres(p))) => p.run(statements, transaction, self.timeout).await,
            Some(Err(why)) => Err(unavailable(why.clone())),
            None => Err(unavailable("unknown data source".into())),
        }
    }
}

/// A pool setting with a deploy-time parameter (`$SYSTEM:NAME`, `$FILE:KEY`,
/// `${configs.NAME}`) takes its value, as Synapse's resolvers give it when the data source is
/// made; any other setting is taken as written.
fn resolve(v: &str, values: &crate::configurables::Configurables) -> Result<String, String> {
    match synaptic_engine::deploy_param(v) {
        None => Ok(v.to_string()),
        Some(p) => p?.resolve(values),
    }
}

/// The `<password>`: a `{wso2:vault-lookup('alias')}` gets the secret `alias` of `[secrets]`,
/// as Synapse's secure vault resolver gives it; a deploy-time parameter its value.
fn password(
    s: &DataSourceDef,
    values: &crate::configurables::Configurables,
) -> Result<String, String> {
    let written = s.password.expose();
    if written.contains(":vault-lookup(") {
        values.resolve_vault_lookups(written)
    } else {
        resolve(written, values)
    }
}

/// A data source that cannot serve the statements (pool, connection), with the reason.
fn unavailable(m: String) -> DbFailure {
    DbFailure {
        index: 0,
        error: DbError::Unavailable(m),
    }
}

/// One of the pool's connections, waited for until `deadline` (`maxwait` after the request).
async fn permit(
    permits: &Arc<Semaphore>,
    deadline: tokio::time::Instant,
    wait: Duration,
) -> Result<tokio::sync::OwnedSemaphorePermit, DbFailure> {
    match tokio::time::timeout_at(deadline, permits.clone().acquire_owned()).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(_)) => Err(unavailable("the connection pool is closed".into())),
        Err(_) => Err(unavailable(format!("no free connection within {wait:?}"))),
    }
}

/// Connections to one SQLite database file.
struct SqlitePool {
    path: String,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

impl SqlitePool {
    fn new(
        s: &DataSourceDef,
        values: &crate::configurables::Configurables,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = resolve(&s.url, values)?;
        let Some(rest) = url.strip_prefix("jdbc:sqlite:") else {
            return Err(format!(
                "`{}` is not an SQLite JDBC URL (jdbc:sqlite:PATH)",
                synaptic_engine::redact_text(&url)
            ));
        };
        // sqlite-jdbc takes settings after `?`; the file is what comes before
        let path = rest.split('?').next().unwrap_or_default().to_string();
        if path.is_empty() {
            return Err("the SQLite JDBC URL names no file (jdbc:sqlite:PATH)".into());
        }
        // one in-memory database per connection: keep one connection so the data stays
        let max = if path == ":memory:" {
            1
        } else {
            s.max_active.unwrap_or(max_connections).max(1)
        };
        Ok(SqlitePool {
            path,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
            wait: s.max_wait_ms.map(Duration::from_millis).unwrap_or(timeout),
        })
    }

    async fn run(
        self: Arc<Self>,
        statements: Vec<SqlStatement>,
        transaction: bool,
        timeout: Duration,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let permit = permit(&self.permits, deadline, self.wait).await?;
        let conn = self.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
        let conn = match conn {
            Some(c) => c,
            None => {
                let me = self.clone();
                tokio::task::spawn_blocking(move || me.open(timeout))
                    .await
                    .map_err(|e| unavailable(format!("opening the database failed: {e}")))?
                    .map_err(unavailable)?
            }
        };
        let interrupt = conn.get_interrupt_handle();
        let me = self.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = conn;
            let out = execute(&mut conn, &statements, transaction);
            // the connection goes back once the work is over, even past the deadline
            if conn.is_autocommit() {
                if let Ok(mut idle) = me.idle.lock() {
                    idle.push(conn);
                }
            }
            drop(permit);
            out
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => Err(unavailable(format!("the statement's task failed: {e}"))),
            Err(_) => {
                interrupt.interrupt();
                Err(DbFailure {
                    index: 0,
                    error: DbError::Timeout(timeout),
                })
            }
        }
    }

    fn open(&self, timeout: Duration) -> Result<Connection, String> {
        let conn = Connection::open(&self.path)
            .map_err(|e| format!("cannot open the SQLite database `{}`: {e}", self.path))?;
        conn.busy_timeout(timeout)
            .map_err(|e| format!("cannot set up the SQLite database `{}`: {e}", self.path))?;
        Ok(conn)
    }
}

/// Run the statements on one connection (in one transaction when asked).
fn execute(
    conn: &mut Connection,
    statements: &[SqlStatement],
    transaction: bool,
) -> Result<Vec<SqlOutcome>, DbFailure> {
    let sql_err = |index: usize| {
        move |e: rusqlite::Error| DbFailure {
            index,
            error: DbError::Sql(e.to_string()),
        }
    };
    if !transaction {
        return statements
            .iter()
            .enumerate()
            .map(|(i, s)| one(conn, s).map_err(sql_err(i)))
            .collect();
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err(0))?;
    let mut out = Vec::with_capacity(statements.len());
    for (i, s) in statements.iter().enumerate() {
        // a failure drops `tx`, which rolls back
        out.push(one(&tx, s).map_err(sql_err(i))?);
    }
    tx.commit()
        .map_err(sql_err(statements.len().saturating_sub(1)))?;
    Ok(out)
}

fn one(conn: &Connection, s: &SqlStatement) -> rusqlite::Result<SqlOutcome> {
    let mut st = conn.prepare_cached(&s.sql)?;
    let expected = st.parameter_count();
    if expected != s.params.len() {
        return Err(rusqlite::Error::InvalidParameterCount(
            s.params.len(),
            expected,
        ));
    }
    for (i, p) in s.params.iter().enumerate() {
        st.raw_bind_parameter(i + 1, Bind(p))?;
    }
    if !s.query {
        return Ok(SqlOutcome::Updated(st.raw_execute()? as u64));
    }
    let columns: Vec<String> = st.column_names().iter().map(|c| c.to_string()).collect();
    let mut rows = st.raw_query();
    let Some(row) = rows.next()? else {
        return Ok(SqlOutcome::Row(None));
    };
    let mut values = Vec::with_capacity(columns.len());
    for i in 0..columns.len() {
        values.push(match row.get_ref(i)? {
            ValueRef::Null => SqlValue::Null,
            ValueRef::Integer(n) => SqlValue::Integer(n),
            ValueRef::Real(f) => SqlValue::Real(f),
            ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
        });
    }
    Ok(SqlOutcome::Row(Some(SqlRow { columns, values })))
}

/// A parameter as SQLite takes it: booleans as 0/1, decimals as an integer when whole, else a
/// real (SQLite has no decimal type).
struct Bind<'a>(&'a SqlValue);

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            SqlValue::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            SqlValue::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            SqlValue::Integer(n) => ToSqlOutput::Owned((*n).into()),
            SqlValue::Real(f) => ToSqlOutput::Owned((*f).into()),
            SqlValue::Bool(b) => ToSqlOutput::Owned((*b as i64).into()),
            SqlValue::Decimal(d) => match d.parse::<i64>() {
                Ok(n) => ToSqlOutput::Owned(n.into()),
                Err(_) => ToSqlOutput::Owned(
                    d.parse::<f64>()
                        .map(Into::into)
                        .unwrap_or_else(|_| d.clone().into()),
                ),
            },
            SqlValue::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

/// A MySQL or MariaDB server (mysql_async's pool).
struct MysqlPool {
    pool: mysql_async::Pool,
    wait: Duration,
}

/// `jdbc:mysql://host[:port][,more hosts]/database[?settings]` (or `jdbc:mariadb:`): the first
/// host, its port (3306 by default) and the database.
fn mysql_address(url: &str) -> Option<(String, u16, Option<String>)> {
    let rest = url
        .strip_prefix("jdbc:mysql://")
        .or_else(|| url.strip_prefix("jdbc:mariadb://"))?;
    let rest = rest.split('?').next().unwrap_or_default();
    let (hosts, db) = rest.split_once('/').unwrap_or((rest, ""));
    let host = hosts.split(',').next().unwrap_or_default();
    let (name, port) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (host, 3306),
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() {
        return None;
    }
    Some((
        name.to_string(),
        port,
        (!db.is_empty()).then(|| db.to_string()),
    ))
}

impl MysqlPool {
    fn new(
        s: &DataSourceDef,
        values: &crate::configurables::Configurables,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = resolve(&s.url, values)?;
        let Some((host, port, db)) = mysql_address(&url) else {
            return Err(format!(
                "`{}` is not a MySQL JDBC URL (jdbc:mysql://HOST[:PORT]/DATABASE)",
                synaptic_engine::redact_text(&url)
            ));
        };
        let user = resolve(&s.user, values)?;
        let password = password(s, values)?;
        let max = s.max_active.unwrap_or(max_connections).max(1) as usize;
        let constraints = mysql_async::PoolConstraints::new(0, max)
            .ok_or_else(|| "invalid connection pool bounds".to_string())?;
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .db_name(db)
            .user((!user.is_empty()).then_some(user))
            .pass((!password.is_empty()).then_some(password))
            .prefer_socket(false)
            .pool_opts(mysql_async::PoolOpts::default().with_constraints(constraints));
        Ok(MysqlPool {
            pool: mysql_async::Pool::new(opts),
            wait: s.max_wait_ms.map(Duration::from_millis).unwrap_or(timeout),
        })
    }

    async fn run(
        &self,
        statements: Vec<SqlStatement>,
        transaction: bool,
        timeout: Duration,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        let conn = match tokio::time::timeout(self.wait, self.pool.get_conn()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(unavailable(format!("cannot connect: {e}"))),
            Err(_) => return Err(unavailable(format!("no connection within {:?}", self.wait))),
        };
        match tokio::time::timeout(timeout, mysql_batch(conn, &statements, transaction)).await {
            Ok(r) => r,
            // the connection is dropped with the unfinished exchange (the pool discards it)
            Err(_) => Err(DbFailure {
                index: 0,
                error: DbError::Timeout(timeout),
            }),
        }
    }
}

fn mysql_err(index: usize) -> impl Fn(mysql_async::Error) -> DbFailure {
    move |e| DbFailure {
        index,
        error: match e {
            mysql_async::Error::Server(s) => DbError::Sql(s.to_string()),
            mysql_async::Error::Driver(d) => DbError::Sql(d.to_string()),
            other => DbError::Unavailable(other.to_string()),
        },
    }
}

async fn mysql_batch(
    mut conn: mysql_async::Conn,
    statements: &[SqlStatement],
    transaction: bool,
) -> Result<Vec<SqlOutcome>, DbFailure> {
    let mut out = Vec::with_capacity(statements.len());
    if !transaction {
        for (i, s) in statements.iter().enumerate() {
            out.push(mysql_one(&mut conn, s).await.map_err(mysql_err(i))?);
        }
        return Ok(out);
    }
    let mut tx = conn
        .start_transaction(mysql_async::TxOpts::default())
        .await
        .map_err(mysql_err(0))?;
    for (i, s) in statements.iter().enumerate() {
        match mysql_one(&mut tx, s).await {
            Ok(o) => out.push(o),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(mysql_err(i)(e));
            }
        }
    }
    tx.commit()
        .await
        .map_err(mysql_err(statements.len().saturating_sub(1)))?;
    Ok(out)
}

async fn mysql_one<Q: mysql_async::prelude::Queryable>(
    q: &mut Q,
    s: &SqlStatement,
) -> Result<SqlOutcome, mysql_async::Error> {
    use mysql_async::Value as V;
    let params: Vec<V> = s
        .params
        .iter()
        .map(|p| match p {
            SqlValue::Null => V::NULL,
            SqlValue::Text(t) | SqlValue::Decimal(t) => V::Bytes(t.clone().into_bytes()),
            SqlValue::Integer(n) => V::Int(*n),
            SqlValue::Real(f) => V::Double(*f),
            SqlValue::Bool(b) => V::Int(*b as i64),
            SqlValue::Blob(b) => V::Bytes(b.clone()),
        })
        .collect();
    let params = if params.is_empty() {
        mysql_async::Params::Empty
    } else {
        mysql_async::Params::Positional(params)
    };
    let mut result = q.exec_iter(s.sql.as_str(), params).await?;
    if !s.query {
        let n = result.affected_rows();
        result.drop_result().await?;
        return Ok(SqlOutcome::Updated(n));
    }
    let row = result.next().await?;
    result.drop_result().await?;
    let Some(row) = row else {
        return Ok(SqlOutcome::Row(None));
    };
    let columns: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    let types: Vec<_> = row.columns_ref().iter().map(|c| c.column_type()).collect();
    let values = row
        .unwrap()
        .into_iter()
        .zip(types)
        .map(|(v, ty)| mysql_value(v, ty))
        .collect();
    Ok(SqlOutcome::Row(Some(SqlRow { columns, values })))
}

/// A column's value as JDBC's `getObject(…).toString()` gives it.
fn mysql_value(v: mysql_async::Value, ty: mysql_async::consts::ColumnType) -> SqlValue {
    use mysql_async::consts::ColumnType as T;
    use mysql_async::Value as V;
    match v {
        V::NULL => SqlValue::Null,
        V::Int(n) => SqlValue::Integer(n),
        V::UInt(n) => i64::try_from(n)
            .map(SqlValue::Integer)
            .unwrap_or_else(|_| SqlValue::Text(n.to_string())),
        // a FLOAT prints as Java's Float.toString does: its shortest decimal form
        V::Float(f) => SqlValue::Real(f.to_string().parse().unwrap_or(f as f64)),
        V::Double(f) => SqlValue::Real(f),
        V::Bytes(b) => match ty {
            T::MYSQL_TYPE_BLOB
            | T::MYSQL_TYPE_TINY_BLOB
            | T::MYSQL_TYPE_MEDIUM_BLOB
            | T::MYSQL_TYPE_LONG_BLOB
            | T::MYSQL_TYPE_VAR_STRING
            | T::MYSQL_TYPE_STRING
            | T::MYSQL_TYPE_VARCHAR => match String::from_utf8(b) {
                Ok(t) => SqlValue::Text(t),
                Err(e) => SqlValue::Blob(e.into_bytes()),
            },
            _ => SqlValue::Text(String::from_utf8_lossy(&b).into_owned()),
        },
        V::Date(y, mo, d, h, mi, s, us) => SqlValue::Text(match ty {
            T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_NEWDATE => format!("{y:04}-{mo:02}-{d:02}"),
            // java.sql.Timestamp.toString: at least one digit of fraction
            _ => {
                let frac = if us == 0 {
                    "0".to_string()
                } else {
                    format!("{us:06}").trim_end_matches('0').to_string()
                };
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{frac}")
            }
        }),
        V::Time(neg, days, h, mi, s, _) => {
            let hours = days * 24 + u32::from(h);
            SqlValue::Text(format!(
                "{}{hours:02}:{mi:02}:{s:02}",
                if neg { "-" } else { "" }
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use synaptic_engine::DbPassword;

    fn source(path: &std::path::Path) -> Arc<DataSourceDef> {
        Arc::new(DataSourceDef {
            id: 0,
            driver_class: "org.sqlite.JDBC".into(),
            url: format!("jdbc:sqlite:{}", path.display()),
            user: "u".into(),
            password: DbPassword::new("p"),
            driver: Ok(DbDriver::Sqlite),
            max_active: Some(2),
            max_wait_ms: None,
            ds_name: None,
        })
    }

    fn stmt(sql: &str, params: Vec<SqlValue>, query: bool) -> SqlStatement {
        SqlStatement {
            sql: sql.into(),
            types: vec![synaptic_engine::JdbcType::Varchar; params.len()],
            params,
            query,
        }
    }

    #[tokio::test]
    async fn sqlite_runs_updates_queries_and_rolls_back_a_failed_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(&dir.path().join("t.db"));
        let db = Databases::new(
            std::slice::from_ref(&src),
            &Default::default(),
            &Default::default(),
            8,
            DEFAULT_TIMEOUT,
        );
        let r = db
            .run(
                &src,
                vec![stmt("create table t(a text, n integer)", vec![], false)],
                false,
            )
            .await
            .unwrap();
        assert_eq!(r, vec![SqlOutcome::Updated(0)]);
        let insert = |a: &str, n: i64| {
            stmt(
                "insert into t values(?, ?)",
                vec![SqlValue::Text(a.into()), SqlValue::Integer(n)],
                false,
            )
        };
        let r = db.run(&src, vec![insert("x", 1)], false).await.unwrap();
        assert_eq!(r, vec![SqlOutcome::Updated(1)]);
        // the second statement fails: the first is rolled back with it
        let f = db
            .run(
                &src,
                vec![
                    insert("y", 2),
                    stmt("insert into nowhere values(1)", vec![], false),
                ],
                true,
            )
            .await
            .unwrap_err();
        assert_eq!(f.index, 1);
        assert!(
            matches!(&f.error, DbError::Sql(m) if m.contains("no such table")),
            "{f:?}"
        );
        let q = db
            .run(
                &src,
                vec![stmt("select count(*) as c, max(a) from t", vec![], true)],
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            q,
            vec![SqlOutcome::Row(Some(SqlRow {
                columns: vec!["c".into(), "max(a)".into()],
                values: vec![SqlValue::Integer(1), SqlValue::Text("x".into())],
            }))]
        );
        let none = db
            .run(
                &src,
                vec![stmt(
                    "select a from t where n = ?",
                    vec![SqlValue::Integer(9)],
                    true,
                )],
                false,
            )
            .await
            .unwrap();
        assert_eq!(none, vec![SqlOutcome::Row(None)]);
        let wrong = db
            .run(
                &src,
                vec![stmt("select a from t where n = ?", vec![], true)],
                false,
            )
            .await
            .unwrap_err();
        assert!(matches!(wrong.error, DbError::Sql(_)));
    }

    #[test]
    fn mysql_urls_give_the_first_host_its_port_and_the_database() {
        assert_eq!(
            mysql_address("jdbc:mysql://db.example:3307/shop?useSSL=false"),
            Some(("db.example".into(), 3307, Some("shop".into())))
        );
        assert_eq!(
            mysql_address("jdbc:mariadb://a,b:1/x"),
            Some(("a".into(), 3306, Some("x".into())))
        );
        assert_eq!(
            mysql_address("jdbc:mysql://127.0.0.1"),
            Some(("127.0.0.1".into(), 3306, None))
        );
        assert_eq!(mysql_address("$SampleDBForAutomation"), None);
        assert_eq!(mysql_address("jdbc:mysql:///x"), None);
    }

    #[tokio::test]
    async fn a_postgresql_urls_files_resolve_against_the_folder_of_where_it_is_written() {
        let pg = |id: usize, ds_name: Option<&str>| {
            Arc::new(DataSourceDef {
                id,
                driver_class: "org.postgresql.Driver".into(),
                url: "jdbc:postgresql://127.0.0.1:1/db?sslmode=verify-full&sslrootcert=ca.pem"
                    .into(),
                driver: Ok(DbDriver::Postgres),
                ds_name: ds_name.map(String::from),
                ..(*source(std::path::Path::new("x"))).clone()
            })
        };
        // a `<pool>` of an artifact, and a `[[datasource]]` a `<dsName>` names
        let sources = [pg(0, None), pg(1, Some("Shop"))];
        let folders = DbFolders {
            config: "/etc/synaptic".into(),
            project: "/srv/project".into(),
        };
        let db = Databases::new(&sources, &Default::default(), &folders, 8, DEFAULT_TIMEOUT);
        for (s, dir) in sources.iter().zip(["/srv/project", "/etc/synaptic"]) {
            let f = db
                .run(s, vec![stmt("select 1", vec![], true)], false)
                .await
                .unwrap_err();
            let DbError::Unavailable(why) = f.error else {
                panic!("{f:?}")
            };
            assert!(
                why.starts_with(&format!("sslrootcert {dir}/ca.pem cannot be read")),
                "{why}"
            );
        }
    }

    #[tokio::test]
    async fn a_source_without_a_client_or_a_sqlite_url_is_unavailable() {
        let mut other = (*source(std::path::Path::new("x"))).clone();
        other.url = "$url".into();
        let mysql = DataSourceDef {
            id: 1,
            driver: Err("no client".into()),
            ..other.clone()
        };
        let sources = [Arc::new(other), Arc::new(mysql)];
        let db = Databases::new(
            &sources,
            &Default::default(),
            &Default::default(),
            8,
            DEFAULT_TIMEOUT,
        );
        for s in &sources {
            let f = db.run(s, vec![stmt("select 1", vec![], true)], false).await;
            assert!(matches!(
                f,
                Err(DbFailure {
                    error: DbError::Unavailable(_),
                    ..
                })
            ));
        }
        assert!(!format!("{:?}", sources[0]).contains("\"p\""));
    }
}
