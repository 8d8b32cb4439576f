//! The engine's [`Database`] for `<dblookup>`/`<dbreport>`: one bounded connection pool per data
//! source of the program, made when the plan is compiled (connections are opened on first
//! use and kept for the next statement). SQLite runs through rusqlite on the blocking pool,
//! never on an I/O thread ([ADR 0495](../../../docs/adr/0495-database-mediators.md)).
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

/// Defaults of `[limits] db_max_connections` and `db_timeout`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The pools of one plan, by data source id.
pub struct Databases {
    pools: Vec<Result<Arc<SqlitePool>, String>>,
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
    pub fn new(sources: &[Arc<DataSourceDef>], max_connections: u32, timeout: Duration) -> Self {
        let pools = sources
            .iter()
            .map(|s| match &s.driver {
                Ok(DbDriver::Sqlite) => SqlitePool::new(s, max_connections, timeout).map(Arc::new),
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
        let unavailable = |m: String| DbFailure {
            index: 0,
            error: DbError::Unavailable(m),
        };
        let pool = match self.pools.get(source.id) {
            Some(Ok(p)) => p.clone(),
            Some(Err(why)) => return Err(unavailable(why.clone())),
            None => return Err(unavailable("unknown data source".into())),
        };
        pool.run(statements, transaction, self.timeout).await
    }
}

/// `$SYSTEM:NAME` (Synapse's system resolver): the environment variable `NAME`.
fn resolve(v: &str) -> Result<String, String> {
    match v.strip_prefix("$SYSTEM:") {
        Some(name) => std::env::var(name)
            .map_err(|_| format!("the environment variable `{name}` ($SYSTEM:{name}) is not set")),
        None => Ok(v.to_string()),
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
    fn new(s: &DataSourceDef, max_connections: u32, timeout: Duration) -> Result<Self, String> {
        let url = resolve(&s.url)?;
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
        let unavailable = |m: String| DbFailure {
            index: 0,
            error: DbError::Unavailable(m),
        };
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(p)) => p,
                Ok(Err(_)) => return Err(unavailable("the connection pool is closed".into())),
                Err(_) => {
                    return Err(unavailable(format!(
                        "no free connection within {:?}",
                        self.wait
                    )))
                }
            };
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
        })
    }

    fn stmt(sql: &str, params: Vec<SqlValue>, query: bool) -> SqlStatement {
        SqlStatement {
            sql: sql.into(),
            params,
            query,
        }
    }

    #[tokio::test]
    async fn sqlite_runs_updates_queries_and_rolls_back_a_failed_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let src = source(&dir.path().join("t.db"));
        let db = Databases::new(std::slice::from_ref(&src), 8, DEFAULT_TIMEOUT);
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
        let db = Databases::new(&sources, 8, DEFAULT_TIMEOUT);
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
