//! What `<dblookup>` and `<dbreport>` share: the data sources of the program (one per distinct
//! `<connection><pool>`), the [`Database`] the gateway implements to run SQL, the JDBC parameter
//! types and how a text becomes a typed parameter (as Synapse's `AbstractDBMediator` binds it),
//! the compiled statements and their execution.
//!
//! The engine does no I/O: statements go through [`Database`], which gets the
//! [`DataSourceDef`] each time (the gateway keeps one pool per definition, by its `id`).

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use synaptic_diag::{codes, Span, Spanned};
use synaptic_expr::Value;
use synaptic_syntax::ast;

use crate::compiler::{Compiler, Deploy};
use crate::ir::ValueSrc;
use crate::{Engine, ErrorKind, MediationError, MessageContext, Origin};

// ===== data sources =====

/// A password of a data source: `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DbPassword(String);

impl DbPassword {
    pub fn new(s: impl Into<String>) -> Self {
        DbPassword(s.into())
    }
    /// The password itself, for the database client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DbPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbPassword(***)")
    }
}

impl std::fmt::Display for DbPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// The databases synaptic has a client for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DbDriver {
    /// `org.sqlite.JDBC`, `jdbc:sqlite:PATH`.
    Sqlite,
    /// MySQL and MariaDB: `com.mysql.jdbc.Driver`, `com.mysql.cj.jdbc.Driver`,
    /// `org.mariadb.jdbc.Driver`, `jdbc:mysql://…`, `jdbc:mariadb://…`.
    Mysql,
    /// PostgreSQL: `org.postgresql.Driver`, `jdbc:postgresql://…`.
    Postgres,
}

/// One data source of the program: a distinct `<connection><pool>` (mediators with the same
/// pool share it). `Debug` redacts credentials in the URL and never shows the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DataSourceDef {
    /// Its index in [`crate::Program::data_sources`].
    pub id: usize,
    /// The JDBC driver class as written (`<driver>`).
    pub driver_class: String,
    /// The JDBC URL as written (`$SYSTEM:NAME` is read from the environment when the pool is
    /// made).
    pub url: String,
    pub user: String,
    pub password: DbPassword,
    /// The client synaptic runs it with, or why there is none (the mediator faults with it).
    pub driver: Result<DbDriver, String>,
    /// `maxactive`: connections at most (else the gateway's default).
    pub max_active: Option<u32>,
    /// `maxwait`: milliseconds to wait for a free connection (else the gateway's default).
    pub max_wait_ms: Option<u64>,
    /// The data source of the gateway's configuration a `<dsName>` names: its `id`, however
    /// the `<dsName>` spells it (`ID` or `jdbc/ID`), so both spellings share one pool.
    pub ds_name: Option<String>,
}

/// A data source the host defines by name (`[[datasource]]` of `synaptic.toml`, as Micro
/// Integrator's `deployment.toml`), which a `<pool><dsName>` refers to by its `id` or by
/// `jdbc/` and its `id` (its JNDI name in Micro Integrator). The settings are written as in
/// a `<pool>` (a password may be `{wso2:vault-lookup('alias')}` or a deploy-time parameter).
/// `Debug` never shows the password.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NamedDataSource {
    pub id: String,
    pub driver_class: String,
    pub url: String,
    pub user: String,
    pub password: DbPassword,
    pub max_active: Option<u32>,
    pub max_wait_ms: Option<u64>,
}

impl NamedDataSource {
    /// Whether a `<dsName>` names it.
    pub fn is_named(&self, name: &str) -> bool {
        let name = name.trim();
        name == self.id || name.strip_prefix("jdbc/") == Some(self.id.as_str())
    }
}

impl std::fmt::Debug for DataSourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSourceDef")
            .field("id", &self.id)
            .field("driver_class", &self.driver_class)
            .field("url", &self.display_name())
            .field("user", &self.user)
            .field("password", &self.password)
            .field("driver", &self.driver)
            .field("max_active", &self.max_active)
            .field("max_wait_ms", &self.max_wait_ms)
            .field("ds_name", &self.ds_name)
            .finish()
    }
}

impl DataSourceDef {
    /// A name for it in logs: the id of the data source a `<dsName>` names, else its URL,
    /// credentials redacted.
    pub fn display_name(&self) -> String {
        match &self.ds_name {
            Some(n) => n.clone(),
            None => crate::redact_text(&self.url),
        }
    }
}

/// The client synaptic runs a `<driver>` / `<url>` with.
pub fn driver_for(driver_class: &str, url: &str) -> Result<DbDriver, String> {
    if driver_class == "org.sqlite.JDBC" || url.starts_with("jdbc:sqlite:") {
        return Ok(DbDriver::Sqlite);
    }
    if matches!(
        driver_class,
        "com.mysql.jdbc.Driver" | "com.mysql.cj.jdbc.Driver" | "org.mariadb.jdbc.Driver"
    ) || url.starts_with("jdbc:mysql:")
        || url.starts_with("jdbc:mariadb:")
    {
        return Ok(DbDriver::Mysql);
    }
    if driver_class == "org.postgresql.Driver" || url.starts_with("jdbc:postgresql:") {
        return Ok(DbDriver::Postgres);
    }
    Err(format!(
        "synaptic has no client for the JDBC driver `{driver_class}` (it runs SQLite, \
         MySQL/MariaDB and PostgreSQL: org.sqlite.JDBC, com.mysql.cj.jdbc.Driver, \
         org.mariadb.jdbc.Driver, org.postgresql.Driver)"
    ))
}

// ===== the database trait =====

/// A parameter of a statement, or a value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlValue {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Bool(bool),
    /// A decimal number (`NUMERIC`, `DECIMAL`), as its text.
    Decimal(String),
    Blob(Vec<u8>),
}

impl SqlValue {
    /// The text Synapse gives a column's value (`Object.toString()`), `None` for SQL NULL.
    pub fn to_text(&self) -> Option<String> {
        match self {
            SqlValue::Null => None,
            SqlValue::Text(s) | SqlValue::Decimal(s) => Some(s.clone()),
            SqlValue::Integer(i) => Some(i.to_string()),
            SqlValue::Real(f) => Some(synaptic_expr::java_double_to_string(*f)),
            SqlValue::Bool(b) => Some(b.to_string()),
            SqlValue::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

/// One statement to run: its SQL with `?`s and their values in order.
#[derive(Clone, Debug, PartialEq)]
pub struct SqlStatement {
    pub sql: String,
    pub params: Vec<SqlValue>,
    /// The JDBC type each parameter was bound as (`params[i]`'s is `types[i]`): a strictly
    /// typed database (PostgreSQL) is sent each value as its type's own SQL type, as the JDBC
    /// driver's `setString`, `setInt`, … send it.
    pub types: Vec<JdbcType>,
    /// A query (`<dblookup>`: the first row is wanted) rather than an update.
    pub query: bool,
}

/// The first row of a query: its column names and values, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SqlRow {
    pub columns: Vec<String>,
    pub values: Vec<SqlValue>,
}

/// What one statement gave.
#[derive(Clone, Debug, PartialEq)]
pub enum SqlOutcome {
    /// A query's first row (`None`: no row).
    Row(Option<SqlRow>),
    /// An update's count of changed rows.
    Updated(u64),
}

/// Why statements did not run.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum DbError {
    /// The database refused the statement (Synapse's `SQLException`).
    #[error("{0}")]
    Sql(String),
    /// No connection: no client for the driver, a file that cannot be opened, no free
    /// connection in time.
    #[error("{0}")]
    Unavailable(String),
    #[error("the statement did not complete within {0:?}")]
    Timeout(Duration),
}

/// The statement that failed (its index in the batch) and why.
#[derive(Clone, Debug, PartialEq)]
pub struct DbFailure {
    pub index: usize,
    pub error: DbError,
}

/// Runs SQL for `<dblookup>`/`<dbreport>`. The gateway implements it with a connection pool
/// per [`DataSourceDef`]; tests may script it.
#[async_trait]
pub trait Database: Send + Sync {
    /// Run `statements` in order on one connection of `source`'s pool; with `transaction`, in
    /// one transaction (committed when all succeed, rolled back otherwise), else each
    /// committed on its own. Stops at the first failure.
    async fn run(
        &self,
        source: &DataSourceDef,
        statements: Vec<SqlStatement>,
        transaction: bool,
    ) -> Result<Vec<SqlOutcome>, DbFailure>;
}

/// No database: every statement fails (a context without the gateway's pools).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoDatabase;

#[async_trait]
impl Database for NoDatabase {
    async fn run(
        &self,
        _source: &DataSourceDef,
        _statements: Vec<SqlStatement>,
        _transaction: bool,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        Err(DbFailure {
            index: 0,
            error: DbError::Unavailable("no database client is configured here".into()),
        })
    }
}

// ===== JDBC types =====

/// The JDBC types a `<parameter type>` names (`java.sql.Types`, as Synapse's `Statement`
/// accepts them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JdbcType {
    Char,
    Varchar,
    LongVarchar,
    Numeric,
    Decimal,
    Bit,
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Float,
    Double,
    Date,
    Time,
    Timestamp,
}

pub(crate) const JDBC_TYPES: &[&str] = &[
    "CHAR",
    "VARCHAR",
    "LONGVARCHAR",
    "NUMERIC",
    "DECIMAL",
    "BIT",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "REAL",
    "FLOAT",
    "DOUBLE",
    "DATE",
    "TIME",
    "TIMESTAMP",
];

impl JdbcType {
    /// The type of a name as Synapse reads it (exact case).
    pub fn parse(s: &str) -> Option<JdbcType> {
        use JdbcType::*;
        Some(match s {
            "CHAR" => Char,
            "VARCHAR" => Varchar,
            "LONGVARCHAR" => LongVarchar,
            "NUMERIC" => Numeric,
            "DECIMAL" => Decimal,
            "BIT" => Bit,
            "TINYINT" => TinyInt,
            "SMALLINT" => SmallInt,
            "INTEGER" => Integer,
            "BIGINT" => BigInt,
            "REAL" => Real,
            "FLOAT" => Float,
            "DOUBLE" => Double,
            "DATE" => Date,
            "TIME" => Time,
            "TIMESTAMP" => Timestamp,
            _ => return None,
        })
    }

    /// Bind a text as this type, as Synapse does: missing or empty is SQL NULL; a text that
    /// is not of the type is an error (Java's `NumberFormatException` /
    /// `IllegalArgumentException`).
    pub fn bind(self, text: Option<&str>) -> Result<SqlValue, String> {
        use JdbcType::*;
        let Some(t) = text.filter(|t| !t.is_empty()) else {
            return Ok(SqlValue::Null);
        };
        let bad = |what: &str| format!("`{t}` is not {what}");
        Ok(match self {
            Char | Varchar | LongVarchar => SqlValue::Text(t.to_string()),
            Numeric | Decimal => {
                if !is_big_decimal(t) {
                    return Err(bad("a decimal number"));
                }
                SqlValue::Decimal(t.to_string())
            }
            // Boolean.parseBoolean: "true" in any case, anything else false
            Bit => SqlValue::Bool(t.eq_ignore_ascii_case("true")),
            TinyInt => SqlValue::Integer(java_int(t, -128, 127).ok_or_else(|| bad("a TINYINT"))?),
            SmallInt => SqlValue::Integer(
                java_int(t, i16::MIN as i64, i16::MAX as i64).ok_or_else(|| bad("a SMALLINT"))?,
            ),
            Integer => SqlValue::Integer(
                java_int(t, i32::MIN as i64, i32::MAX as i64).ok_or_else(|| bad("an INTEGER"))?,
            ),
            BigInt => {
                SqlValue::Integer(java_int(t, i64::MIN, i64::MAX).ok_or_else(|| bad("a BIGINT"))?)
            }
            Real => SqlValue::Real(java_double(t).ok_or_else(|| bad("a REAL"))? as f32 as f64),
            Float | Double => SqlValue::Real(java_double(t).ok_or_else(|| bad("a number"))?),
            Date => {
                if !is_date(t) {
                    return Err(bad("a DATE (yyyy-mm-dd)"));
                }
                SqlValue::Text(normal_date(t))
            }
            Time => {
                if !is_time(t) {
                    return Err(bad("a TIME (hh:mm:ss)"));
                }
                SqlValue::Text(normal_time(t))
            }
            Timestamp => {
                let ok = t
                    .split_once(' ')
                    .is_some_and(|(d, tm)| is_date(d) && is_timestamp_time(tm));
                if !ok {
                    return Err(bad("a TIMESTAMP (yyyy-mm-dd hh:mm:ss[.f…])"));
                }
                SqlValue::Text(t.to_string())
            }
        })
    }
}

/// `Integer.parseInt`-style: an optional sign and decimal digits, within the range.
fn java_int(t: &str, min: i64, max: i64) -> Option<i64> {
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = t.parse().ok()?;
    (min..=max).contains(&v).then_some(v)
}

/// `Double.parseDouble`: surrounding whitespace, a `d`/`f` suffix, `NaN`, `Infinity`.
fn java_double(t: &str) -> Option<f64> {
    let s = t.trim();
    let s = match s.strip_suffix(['d', 'D', 'f', 'F']) {
        Some(r) if !r.is_empty() => r,
        _ => s,
    };
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let negative = s.starts_with('-');
    match unsigned {
        "NaN" => return Some(f64::NAN),
        "Infinity" if negative => return Some(f64::NEG_INFINITY),
        "Infinity" => return Some(f64::INFINITY),
        _ => {}
    }
    if unsigned.is_empty()
        || !unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || b"eE.+-".contains(&b))
    {
        return None;
    }
    s.parse().ok()
}

/// `new BigDecimal(text)`: a sign, digits with an optional point, an optional exponent.
fn is_big_decimal(t: &str) -> bool {
    let s = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty());
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
}

fn numbers(t: &str, sep: char, n: usize) -> Option<Vec<u32>> {
    let parts: Vec<&str> = t.split(sep).collect();
    if parts.len() != n
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    parts.iter().map(|p| p.parse().ok()).collect()
}

/// `java.sql.Date.valueOf`: `yyyy-[m]m-[d]d`.
fn is_date(t: &str) -> bool {
    numbers(t, '-', 3).is_some_and(|v| {
        t.split('-').next().is_some_and(|y| y.len() == 4)
            && (1..=12).contains(&v[1])
            && (1..=31).contains(&v[2])
    })
}

fn normal_date(t: &str) -> String {
    let v = numbers(t, '-', 3).unwrap_or_default();
    format!("{:04}-{:02}-{:02}", v[0], v[1], v[2])
}

/// `java.sql.Time.valueOf`: `hh:mm:ss`.
fn is_time(t: &str) -> bool {
    numbers(t, ':', 3).is_some_and(|v| v[0] < 24 && v[1] < 60 && v[2] < 60)
}

fn normal_time(t: &str) -> String {
    let v = numbers(t, ':', 3).unwrap_or_default();
    format!("{:02}:{:02}:{:02}", v[0], v[1], v[2])
}

/// The time of `Timestamp.valueOf`: `hh:mm:ss` with an optional fraction of up to 9 digits.
fn is_timestamp_time(t: &str) -> bool {
    let (hms, frac) = t.split_once('.').unwrap_or((t, "0"));
    is_time(hms) && !frac.is_empty() && frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit())
}

// ===== compiled form =====

/// A `<dblookup>` or `<dbreport>`, compiled.
#[derive(Debug)]
pub(crate) struct DbOp {
    pub source: Arc<DataSourceDef>,
    /// The data source as Synapse's messages name it: the `<dsName>` as written, else the URL
    /// (credentials redacted).
    pub name: String,
    pub statements: Vec<StatementIr>,
    /// `<dbreport useTransaction="true">`.
    pub transaction: bool,
    /// `<dblookup>` (else `<dbreport>`).
    pub lookup: bool,
}

#[derive(Debug)]
pub(crate) struct StatementIr {
    pub sql: String,
    pub params: Vec<ParamIr>,
    /// (property name, column), as `<result>`s give them (a later one of the same name wins).
    pub results: Vec<(String, Column)>,
}

#[derive(Debug)]
pub(crate) struct ParamIr {
    pub ty: JdbcType,
    pub value: ParamValue,
}

#[derive(Debug)]
pub(crate) enum ParamValue {
    /// `value=`, already bound (checked at compile time).
    Literal(SqlValue),
    /// `expression=`, evaluated to its text when the statement runs.
    Expr(ValueSrc),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Column {
    /// A column number, from 1.
    Index(usize),
    Name(String),
}

/// Pool properties Synapse knows; `maxactive` and `maxwait` size synaptic's pool, the others
/// need nothing from it (see `docs/COMPATIBILITY.md`).
const POOL_PROPERTIES: &[&str] = &[
    "autocommit",
    "isolation",
    "initialsize",
    "maxactive",
    "maxidle",
    "maxopenstatements",
    "maxwait",
    "minidle",
    "poolstatements",
    "testonborrow",
    "testonreturn",
    "testwhileidle",
    "validationquery",
];

pub(crate) fn compile(c: &mut Compiler<'_>, m: &ast::DbMediator, lookup: bool) -> Option<DbOp> {
    let (source, ds_name) = data_source(c, &m.connection);
    let name = ds_name.unwrap_or_else(|| source.display_name());
    let mut ok = true;
    let mut statements = Vec::with_capacity(m.statements.len());
    for s in &m.statements {
        match statement(c, s) {
            Some(st) => statements.push(st),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    if !lookup {
        c.set_names.insert("DBREPORT_MODIFIED_RAW_COUNT".into());
    }
    Some(DbOp {
        source,
        name,
        statements,
        transaction: m.use_transaction,
        lookup,
    })
}

fn statement(c: &mut Compiler<'_>, s: &ast::DbStatement) -> Option<StatementIr> {
    let mut ok = true;
    let mut params = Vec::with_capacity(s.parameters.len());
    for p in &s.parameters {
        let Some(ty) = JdbcType::parse(&p.ty.value) else {
            let hint = synaptic_diag::suggest::did_you_mean(&p.ty.value, JDBC_TYPES);
            let hint = if hint.is_empty() {
                format!(" (it takes {})", JDBC_TYPES.join(", "))
            } else {
                hint
            };
            c.err(
                codes::E0380,
                p.ty.span,
                format!(
                    "unknown JDBC type `{}`, which Synapse refuses{hint}",
                    p.ty.value
                ),
            );
            ok = false;
            continue;
        };
        let value = match (&p.value, &p.expression) {
            (Some(v), _) => match ty.bind(Some(&v.value)) {
                Ok(b) => ParamValue::Literal(b),
                Err(e) => {
                    c.err(
                        codes::E0303,
                        v.span,
                        format!("{e}: the statement would fault every time it runs"),
                    );
                    ok = false;
                    continue;
                }
            },
            (None, Some(e)) => match crate::eval::compile_source(c, e) {
                Some(src) => ParamValue::Expr(src),
                None => {
                    ok = false;
                    continue;
                }
            },
            (None, None) => continue,
        };
        params.push(ParamIr { ty, value });
    }
    let mut results = Vec::with_capacity(s.results.len());
    for r in &s.results {
        let column = match column(&r.column) {
            Ok(col) => col,
            Err(msg) => {
                c.err(codes::E0381, r.column.span, msg);
                ok = false;
                continue;
            }
        };
        c.set_names.insert(r.name.value.clone());
        results.push((r.name.value.clone(), column));
    }
    ok.then(|| StatementIr {
        sql: s.sql.value.clone(),
        params,
        results,
    })
}

/// A `<result column>`: a number (`Integer.parseInt`) is the column's position, anything else
/// its name.
fn column(c: &Spanned<String>) -> Result<Column, String> {
    let t = c.value.as_str();
    if t.is_empty() {
        return Err("column=\"\": name the column (or give its number, from 1)".into());
    }
    match java_int(t, i32::MIN as i64, i32::MAX as i64) {
        Some(n) if n >= 1 => Ok(Column::Index(n as usize)),
        Some(n) => Err(format!(
            "column=\"{n}\": columns are numbered from 1 (the statement would fault whenever \
             it returns a row)"
        )),
        None => Ok(Column::Name(t.to_string())),
    }
}

/// The data source of a connection, and for a `<dsName>` the name as written (a deploy-time
/// parameter's value), which Synapse's messages give.
fn data_source(
    c: &mut Compiler<'_>,
    conn: &ast::DbConnection,
) -> (Arc<DataSourceDef>, Option<String>) {
    let mut ds_name = None;
    let mut def = match conn {
        ast::DbConnection::DataSource { name, .. } => {
            let (def, name) = named_data_source(c, name);
            ds_name = Some(name);
            def
        }
        ast::DbConnection::Pool {
            driver,
            url,
            user,
            password,
            properties,
            ..
        } => {
            let mut resolved = Ok(());
            for v in [driver, url, user, password] {
                if v.registry_key && resolved.is_ok() {
                    c.warn(
                        codes::W0380,
                        v.value.span,
                        format!(
                            "a connection setting read from the registry (key=\"{}\") is not \
                             supported: this mediator faults at runtime; write the value in \
                             the <pool>",
                            v.value.value
                        ),
                    );
                    resolved = Err("connection settings read from the registry (key=) are \
                                    not supported"
                        .to_string());
                }
            }
            let mut kind = driver_for(&driver.value.value, &url.value.value);
            if let (Err(msg), Ok(())) = (&kind, &resolved) {
                c.warn(
                    codes::W0380,
                    driver.value.span,
                    format!("{msg}: this mediator faults at runtime"),
                );
            }
            if let Err(msg) = resolved {
                kind = Err(msg);
            }
            let mut max_active = None;
            let mut max_wait_ms = None;
            for (name, value) in properties {
                let number = |c: &mut Compiler<'_>| match value.value.trim().parse::<u64>() {
                    Ok(n) => Some(n),
                    Err(_) => {
                        c.warn(
                            codes::W0381,
                            value.span,
                            format!(
                                "{}=\"{}\" is not a whole number: it is ignored (as Synapse \
                                 ignores it)",
                                name.value, value.value
                            ),
                        );
                        None
                    }
                };
                match name.value.as_str() {
                    "maxactive" => {
                        // Synapse (DBCP): zero or negative is no limit; synaptic keeps its own
                        max_active = number(c).filter(|n| *n > 0).map(|n| n.min(1024) as u32);
                    }
                    "maxwait" => max_wait_ms = number(c).filter(|n| *n > 0),
                    n if POOL_PROPERTIES.contains(&n) => {}
                    n => {
                        let hint = synaptic_diag::suggest::did_you_mean(n, POOL_PROPERTIES);
                        c.warn(
                            codes::W0381,
                            name.span,
                            format!(
                                "pool property `{n}` is not one Synapse knows, it is ignored{hint}"
                            ),
                        );
                    }
                }
            }
            DataSourceDef {
                id: 0,
                driver_class: driver.value.value.clone(),
                url: url.value.value.clone(),
                user: user.value.value.clone(),
                password: DbPassword::new(password.value.value.clone()),
                driver: kind,
                max_active,
                max_wait_ms,
                ds_name: None,
            }
        }
    };
    if let Some(same) = c.data_sources.iter().find(|d| {
        let mut other = (***d).clone();
        other.id = 0;
        other == def
    }) {
        return (same.clone(), ds_name);
    }
    def.id = c.data_sources.len();
    let def = Arc::new(def);
    c.data_sources.push(def.clone());
    (def, ds_name)
}

/// The data source a `<dsName>` names, from [`crate::CompileOptions::data_sources`]: a name
/// none has is an error (`E0382`) where it is written. Without the host's data sources (lint,
/// `synaptic run`), the mediator faults at runtime saying so.
fn named_data_source(c: &mut Compiler<'_>, written: &Spanned<String>) -> (DataSourceDef, String) {
    // a deploy-time parameter, as `AbstractDBMediatorFactory` resolves the name
    let deployed = c.deploy_param(written);
    let name = &match &deployed {
        Some(Deploy::Resolved(v)) => Spanned::new(v.clone(), written.span),
        _ => written.clone(),
    };
    let shown = name.value.trim().to_string();
    (named_source(c, written, name, deployed.is_some()), shown)
}

fn named_source(
    c: &mut Compiler<'_>,
    written: &Spanned<String>,
    name: &Spanned<String>,
    deployed: bool,
) -> DataSourceDef {
    let unresolved = |why: String| DataSourceDef {
        id: 0,
        driver_class: String::new(),
        url: String::new(),
        user: String::new(),
        password: DbPassword::new(""),
        driver: Err(why),
        max_active: None,
        max_wait_ms: None,
        ds_name: Some(name.value.trim().to_string()),
    };
    if !deployed {
        // E0403 reported: the artifact is not deployed
        return unresolved(format!("`{}` has no value", written.value.trim()));
    }
    let known = c
        .opts
        .data_sources
        .clone()
        .or_else(|| c.opts.deploy.as_ref().and_then(|d| d.0.data_sources()));
    let Some(known) = known else {
        return unresolved(format!(
            "data source `{}` is defined by the gateway's configuration ([[datasource]] of \
             synaptic.toml), which is not loaded here",
            name.value.trim()
        ));
    };
    let Some(ds) = known.iter().find(|d| d.is_named(&name.value)) else {
        let ids: Vec<&str> = known.iter().map(|d| d.id.as_str()).collect();
        let wanted = name.value.trim();
        let hint = synaptic_diag::suggest::did_you_mean(
            wanted.strip_prefix("jdbc/").unwrap_or(wanted),
            &ids,
        );
        let hint = if hint.is_empty() && !ids.is_empty() {
            format!(" (the configuration defines {})", ids.join(", "))
        } else {
            hint
        };
        c.err(
            codes::E0382,
            name.span,
            format!(
                "no data source `{wanted}`: define it in synaptic.toml as a [[datasource]] \
                 with id = \"{}\"{hint}",
                wanted.strip_prefix("jdbc/").unwrap_or(wanted)
            ),
        );
        return unresolved(format!("no data source `{wanted}`"));
    };
    let driver = driver_for(&ds.driver_class, &ds.url);
    if let Err(msg) = &driver {
        c.warn(
            codes::W0380,
            name.span,
            format!(
                "data source `{}`: {msg}: this mediator faults at runtime",
                name.value.trim()
            ),
        );
    }
    DataSourceDef {
        id: 0,
        driver_class: ds.driver_class.clone(),
        url: ds.url.clone(),
        user: ds.user.clone(),
        password: ds.password.clone(),
        driver,
        max_active: ds.max_active,
        max_wait_ms: ds.max_wait_ms,
        ds_name: Some(ds.id.clone()),
    }
}

/// Expressions of the parameters.
pub(crate) fn exprs(op: &DbOp, f: &mut dyn FnMut(&synaptic_expr::CompiledExpr)) {
    for p in op.statements.iter().flat_map(|s| &s.params) {
        if let ParamValue::Expr(ValueSrc::Expr(e)) = &p.value {
            f(e);
        }
    }
}

pub(crate) fn syn_exprs<'a>(op: &'a DbOp, out: &mut Vec<&'a synaptic_expr::synexpr::SynExpr>) {
    for p in op.statements.iter().flat_map(|s| &s.params) {
        if let ParamValue::Expr(ValueSrc::Syn(e)) = &p.value {
            out.push(e);
        }
    }
}

// ===== run =====

/// Run the statements of a `<dblookup>`/`<dbreport>` in order. A failure is a fault with
/// Synapse's message (`ERROR_CODE` 0), the cause on its second line (`ERROR_DETAIL`).
pub(crate) async fn run(
    engine: &Engine,
    op: &DbOp,
    ctx: &mut MessageContext,
    span: Span,
) -> Result<(), MediationError> {
    if op.transaction {
        let mut batch = Vec::with_capacity(op.statements.len());
        for (i, s) in op.statements.iter().enumerate() {
            batch.push(prepare(engine, op, s, ctx).map_err(|e| fail(op, i, false, e, span))?);
        }
        let outcomes = engine
            .db
            .run(&op.source, batch, true)
            .await
            .map_err(|f| db_fail(op, f, span))?;
        if let Some(SqlOutcome::Updated(n)) = outcomes.last() {
            set_count(ctx, *n);
        }
        return Ok(());
    }
    for (i, s) in op.statements.iter().enumerate() {
        let stmt = prepare(engine, op, s, ctx).map_err(|e| fail(op, i, false, e, span))?;
        let outcome = engine
            .db
            .run(&op.source, vec![stmt], false)
            .await
            .map_err(|f| db_fail(op, DbFailure { index: i, ..f }, span))?;
        match outcome.into_iter().next() {
            Some(SqlOutcome::Row(Some(row))) => {
                set_results(s, &row, ctx).map_err(|e| fail(op, i, true, e, span))?
            }
            Some(SqlOutcome::Updated(n)) if !op.lookup => set_count(ctx, n),
            _ => {}
        }
    }
    Ok(())
}

fn set_count(ctx: &mut MessageContext, n: u64) {
    ctx.properties.default.insert(
        "DBREPORT_MODIFIED_RAW_COUNT",
        Value::Integer(n.min(i64::MAX as u64) as i64),
    );
}

/// The statement with its parameters evaluated and bound.
fn prepare(
    engine: &Engine,
    op: &DbOp,
    s: &StatementIr,
    ctx: &MessageContext,
) -> Result<SqlStatement, String> {
    let mut params = Vec::with_capacity(s.params.len());
    let types = s.params.iter().map(|p| p.ty).collect();
    for (i, p) in s.params.iter().enumerate() {
        let v = match &p.value {
            ParamValue::Literal(v) => v.clone(),
            ParamValue::Expr(src) => {
                let text = crate::eval::source_text(engine, ctx, src).map_err(|e| e.message)?;
                p.ty.bind(text.as_deref())
                    .map_err(|e| format!("parameter {}: {e}", i + 1))?
            }
        };
        params.push(v);
    }
    Ok(SqlStatement {
        sql: s.sql.clone(),
        params,
        types,
        query: op.lookup,
    })
}

/// `<result>`s from the first row: a NULL column leaves its property alone.
fn set_results(s: &StatementIr, row: &SqlRow, ctx: &mut MessageContext) -> Result<(), String> {
    for (name, col) in &s.results {
        let i = match col {
            Column::Index(n) => {
                if *n > row.values.len() {
                    return Err(format!(
                        "column {n} does not exist: the row has {} columns",
                        row.values.len()
                    ));
                }
                n - 1
            }
            Column::Name(c) => row
                .columns
                .iter()
                .position(|k| k.eq_ignore_ascii_case(c))
                .ok_or_else(|| format!("no column named `{c}` in the row"))?,
        };
        if let Some(text) = row.values[i].to_text() {
            ctx.properties
                .default
                .insert(name.clone(), Value::String(text));
        }
    }
    Ok(())
}

/// Synapse's message for a failure of statement `i`: an `SQLException` (`sql`) or another
/// error.
fn fail(op: &DbOp, i: usize, sql: bool, cause: String, span: Span) -> MediationError {
    let stmt = op.statements.get(i).map(|s| s.sql.as_str()).unwrap_or("");
    let ds = &op.name;
    let head = match (op.lookup, sql) {
        (true, true) => "SQL Exception occurred while executing statement",
        (true, false) => "Error executing statement",
        (false, true) => "SQL Error while executing insert statement",
        (false, false) => "Error while executing insert statement",
    };
    MediationError::new(
        ErrorKind::Database,
        Origin::Internal,
        0,
        format!("{head} : {stmt} against DataSource : {ds}\n{cause}"),
    )
    .at(span)
}

fn db_fail(op: &DbOp, f: DbFailure, span: Span) -> MediationError {
    let sql = matches!(f.error, DbError::Sql(_));
    fail(op, f.index, sql, f.error.to_string(), span)
}
