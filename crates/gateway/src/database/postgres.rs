//! PostgreSQL for `<dblookup>`/`<dbreport>` through tokio-postgres (ADR 0495): a bounded pool of
//! clients of one server, shaped as the SQLite pool (a semaphore of `maxactive` permits and the
//! idle clients), each statement one round trip of the extended protocol.
//!
//! As the PostgreSQL JDBC driver does, `?`s become `$1`, `$2`, … (outside quotes, comments and
//! dollar quotes; `??` is a literal `?`), each parameter is sent as its JDBC type's own SQL type
//! (`setString` a `varchar`, `setInt` an `int4`, `setDate` an unspecified type the server
//! infers, …) and a column reads as the text the server prints for it (JDBC's `getString`),
//! except `real` and `double precision`, which read as Java prints them (`99.0`).

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use futures::StreamExt;
use synaptic_engine::{
    DataSourceDef, DbError, DbFailure, JdbcType, SqlOutcome, SqlRow, SqlStatement, SqlValue,
};
use tokio::sync::Semaphore;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{Format, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, GenericClient};

use super::pg_tls::{PgTls, SslMode, TlsSettings};

/// Connections to one PostgreSQL server and database.
pub(super) struct PgPool {
    config: tokio_postgres::Config,
    tls: PgTls,
    /// `host:port`, for messages.
    server: String,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// Where a `jdbc:postgresql:` URL points, and the settings after `?` synaptic reads.
#[derive(Debug, Default, PartialEq)]
pub(super) struct PgAddress {
    pub host: String,
    pub port: u16,
    /// `None`: the user's name (as the JDBC driver and the server default it).
    pub database: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub current_schema: Option<String>,
    pub application_name: Option<String>,
    /// `ssl`, `sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `sslpassword`, `sslfactory`.
    pub tls: TlsSettings,
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `jdbc:postgresql://HOST[:PORT][,HOST2[:PORT2]…]/DATABASE[?SETTINGS]`,
/// `jdbc:postgresql:DATABASE` or `jdbc:postgresql:/` (localhost): the first host, its port
/// (5432 by default), the database and, of the settings, `user`, `password`, `currentSchema`,
/// `ApplicationName` and the TLS settings (`ssl`, `sslmode`, `sslrootcert`, `sslcert`,
/// `sslkey`, `sslpassword`, `sslfactory`); the others are not read.
pub(super) fn pg_address(url: &str) -> Option<PgAddress> {
    let rest = url.strip_prefix("jdbc:postgresql:")?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut a = PgAddress {
        host: "localhost".into(),
        port: 5432,
        ..Default::default()
    };
    let db = if let Some(r) = rest.strip_prefix("//") {
        let (hosts, db) = r.split_once('/')?;
        let host = hosts.split(',').next().unwrap_or_default();
        let (name, port) = if let Some(v6) = host.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse().ok()?),
                None if after.is_empty() => (h, 5432),
                None => return None,
            }
        } else {
            match host.split_once(':') {
                Some((h, p)) => (h, p.parse().ok()?),
                None => (host, 5432),
            }
        };
        if name.is_empty() {
            return None;
        }
        a.host = name.to_string();
        a.port = port;
        db
    } else {
        rest.strip_prefix('/').unwrap_or(rest)
    };
    a.database = (!db.is_empty()).then(|| decode(db));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "user" => a.user = Some(v),
            "password" => a.password = Some(v),
            "currentSchema" => a.current_schema = Some(v),
            "ApplicationName" => a.application_name = Some(v),
            _ => {
                a.tls.set(k, v);
            }
        }
    }
    Some(a)
}

impl PgPool {
    /// The pool of a data source; relative file paths of its URL (`sslrootcert`, …) resolve
    /// against `base`.
    pub(super) fn new(
        s: &DataSourceDef,
        values: &crate::configurables::Configurables,
        base: &std::path::Path,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, String> {
        let url = super::resolve(&s.url, values)?;
        let Some(a) = pg_address(&url) else {
            return Err(format!(
                "`{}` is not a PostgreSQL JDBC URL (jdbc:postgresql://HOST[:PORT]/DATABASE)",
                synaptic_engine::redact_text(&url)
            ));
        };
        let tls = PgTls::new(&a.tls, base)?;
        if tls.mode == SslMode::Require && a.tls.sslrootcert.is_some() {
            tracing::warn!(
                target: "synaptic::db",
                data_source = %s.display_name(),
                "sslmode=require encrypts without verifying the server's certificate, as the \
                 PostgreSQL JDBC driver does: sslrootcert is not used (verify-ca or verify-full \
                 verify the certificate with it)"
            );
        }
        // settings in the URL win over <user> and <password>, as in the JDBC driver
        let user = match a.user {
            Some(u) => u,
            None => super::resolve(&s.user, values)?,
        };
        let password = match a.password {
            Some(p) => p,
            None => super::password(s, values)?,
        };
        if user.is_empty() {
            return Err("a PostgreSQL data source needs a <user>".into());
        }
        let wait = s.max_wait_ms.map(Duration::from_millis).unwrap_or(timeout);
        let mut config = tokio_postgres::Config::new();
        config
            .host(&a.host)
            .port(a.port)
            .user(&user)
            .connect_timeout(wait)
            .application_name(a.application_name.as_deref().unwrap_or("synaptic"));
        if !password.is_empty() {
            config.password(password);
        }
        if let Some(db) = &a.database {
            config.dbname(db);
        }
        if let Some(schema) = &a.current_schema {
            // the server's options: a space or backslash in the value is escaped
            let escaped = schema.replace('\\', "\\\\").replace(' ', "\\ ");
            config.options(format!("-c search_path={escaped}"));
        }
        let max = s.max_active.unwrap_or(max_connections).max(1);
        let server = if a.host.contains(':') {
            format!("[{}]:{}", a.host, a.port)
        } else {
            format!("{}:{}", a.host, a.port)
        };
        Ok(PgPool {
            config,
            tls,
            server,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max as usize)),
            wait,
        })
    }

    pub(super) async fn run(
        &self,
        statements: Vec<SqlStatement>,
        transaction: bool,
        timeout: Duration,
    ) -> Result<Vec<SqlOutcome>, DbFailure> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let _permit = super::permit(&self.permits, deadline, self.wait).await?;
        let reused = self.idle.lock().map(|mut v| {
            // a client whose connection ended (server restart, idle timeout) is dropped
            v.retain(|c| !c.is_closed());
            v.pop()
        });
        let mut client = match reused.unwrap_or(None) {
            Some(c) => c,
            None => match tokio::time::timeout_at(deadline, self.connect()).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => return Err(super::unavailable(e)),
                Err(_) => {
                    return Err(super::unavailable(format!(
                        "no connection to {} within {:?}",
                        self.server, self.wait
                    )))
                }
            },
        };
        match tokio::time::timeout(timeout, pg_batch(&mut client, &statements, transaction)).await {
            Ok(out) => {
                if !client.is_closed() {
                    if let Ok(mut idle) = self.idle.lock() {
                        idle.push(client);
                    }
                }
                out
            }
            Err(_) => {
                // stop the statement on the server; the client is not reused
                let cancel = client.cancel_token();
                let tls = self.tls.connector.clone();
                tokio::spawn(async move {
                    let _ = cancel.cancel_query(tls).await;
                });
                Err(DbFailure {
                    index: 0,
                    error: DbError::Timeout(timeout),
                })
            }
        }
    }
}

impl PgPool {
    /// A new connection in the pool's TLS mode. `allow` and `prefer` try again the other way
    /// when the server refuses the first connection's authorization (`28000`, as a
    /// `pg_hba.conf` with only `hostssl` or `hostnossl` lines for the client does), as the
    /// JDBC driver does; the other modes connect once.
    async fn connect(&self) -> Result<Client, String> {
        use tokio_postgres::config::SslMode as Wire;
        let (first, second) = match self.tls.mode {
            SslMode::Disable => (Wire::Disable, None),
            SslMode::Allow => (Wire::Disable, Some(Wire::Require)),
            SslMode::Prefer => (Wire::Prefer, Some(Wire::Disable)),
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => (Wire::Require, None),
        };
        let e = match self.connect_with(first).await {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        let refused = e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
        if let (true, Some(mode)) = (refused, second) {
            return self
                .connect_with(mode)
                .await
                .map_err(|e| self.connect_error(&e));
        }
        Err(self.connect_error(&e))
    }

    async fn connect_with(
        &self,
        mode: tokio_postgres::config::SslMode,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = self.config.clone();
        config.ssl_mode(mode);
        let (client, connection) = config.connect(self.tls.connector.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "synaptic::db", "PostgreSQL connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// Why a connection failed: the server and the cause (the server's refusal, a TLS
    /// handshake failure, …), never the password.
    fn connect_error(&self, e: &tokio_postgres::Error) -> String {
        let mut m = format!("cannot connect to {}: {}", self.server, causes(e));
        if e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
            && self.tls.mode == SslMode::Disable
        {
            m.push_str(" (sslmode=disable: the server may accept TLS connections only)");
        }
        m
    }
}

async fn pg_batch(
    client: &mut Client,
    statements: &[SqlStatement],
    transaction: bool,
) -> Result<Vec<SqlOutcome>, DbFailure> {
    let mut out = Vec::with_capacity(statements.len());
    if !transaction {
        for (i, s) in statements.iter().enumerate() {
            out.push(pg_one(&*client, s).await.map_err(|e| e.at(i))?);
        }
        return Ok(out);
    }
    let tx = client
        .transaction()
        .await
        .map_err(|e| PgFailure::from(e).at(0))?;
    for (i, s) in statements.iter().enumerate() {
        match pg_one(&tx, s).await {
            Ok(o) => out.push(o),
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.at(i));
            }
        }
    }
    tx.commit()
        .await
        .map_err(|e| PgFailure::from(e).at(statements.len().saturating_sub(1)))?;
    Ok(out)
}

/// An error and its causes, `: `-separated (tokio-postgres's own message says only what
/// failed: "error performing TLS handshake", "db error").
fn causes(e: &(dyn StdError + 'static)) -> String {
    let mut m = e.to_string();
    let mut source = e.source();
    while let Some(c) = source {
        let c_text = c.to_string();
        if !m.ends_with(&c_text) {
            m.push_str(": ");
            m.push_str(&c_text);
        }
        source = c.source();
    }
    m
}

/// Why a statement failed, before its index is known.
struct PgFailure(DbError);

impl PgFailure {
    fn at(self, index: usize) -> DbFailure {
        DbFailure {
            index,
            error: self.0,
        }
    }
}

impl From<tokio_postgres::Error> for PgFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        PgFailure(match e.as_db_error() {
            // the server refused it (the JDBC driver's PSQLException): `ERROR: …`
            Some(db) => DbError::Sql(db.to_string()),
            None => DbError::Unavailable(causes(&e)),
        })
    }
}

async fn pg_one<C: GenericClient>(c: &C, s: &SqlStatement) -> Result<SqlOutcome, PgFailure> {
    let (sql, marks) = numbered_parameters(&s.sql);
    if marks != s.params.len() {
        return Err(PgFailure(DbError::Sql(format!(
            "the statement has {marks} parameters (?) but {} values are given",
            s.params.len()
        ))));
    }
    let params = s.params.iter().enumerate().map(|(i, v)| {
        let ty = s.types.get(i).copied().map_or(Type::UNKNOWN, pg_type);
        (Text(text(v)), ty)
    });
    let stream = c.query_typed_raw(&sql, params).await?;
    futures::pin_mut!(stream);
    if !s.query {
        // rows an update returns (`returning`) are read and dropped
        while let Some(r) = stream.next().await {
            r?;
        }
        return Ok(SqlOutcome::Updated(stream.rows_affected().unwrap_or(0)));
    }
    let Some(row) = stream.next().await.transpose()? else {
        return Ok(SqlOutcome::Row(None));
    };
    let columns: Vec<String> = row.columns().iter().map(|c| c.name().to_string()).collect();
    let mut values = Vec::with_capacity(columns.len());
    for (i, col) in row.columns().iter().enumerate() {
        let Raw(raw) = row.try_get(i)?;
        let value = match raw {
            None => SqlValue::Null,
            Some(b) => pg_value(col.type_(), b).ok_or_else(|| {
                PgFailure(DbError::Sql(format!(
                    "column `{}` is of the PostgreSQL type `{}`, which synaptic does not read: \
                     cast it to text in the statement ({}::text)",
                    col.name(),
                    col.type_().name(),
                    col.name()
                )))
            })?,
        };
        values.push(value);
    }
    // the rest of the rows are read and dropped, so the connection is ready for the next one
    drop(row);
    while let Some(r) = stream.next().await {
        r?;
    }
    Ok(SqlOutcome::Row(Some(SqlRow { columns, values })))
}

/// The SQL type the JDBC driver sends a parameter of this JDBC type as (`setString`,
/// `setBigDecimal`, `setBoolean`, `setShort`, `setInt`, `setLong`, `setFloat`, `setDouble`);
/// dates and times go as an unspecified type the server infers from the statement, as the
/// driver's `setDate`, `setTime` and `setTimestamp` send them.
fn pg_type(t: JdbcType) -> Type {
    use JdbcType::*;
    match t {
        Char | Varchar | LongVarchar => Type::VARCHAR,
        Numeric | Decimal => Type::NUMERIC,
        Bit => Type::BOOL,
        TinyInt | SmallInt => Type::INT2,
        Integer => Type::INT4,
        BigInt => Type::INT8,
        Real => Type::FLOAT4,
        Float | Double => Type::FLOAT8,
        Date | Time | Timestamp => Type::UNKNOWN,
    }
}

/// A parameter's text, which the server reads as its type's input (`None`: SQL NULL).
fn text(v: &SqlValue) -> Option<String> {
    Some(match v {
        SqlValue::Null => return None,
        SqlValue::Text(t) | SqlValue::Decimal(t) => t.clone(),
        SqlValue::Integer(n) => n.to_string(),
        SqlValue::Real(f) if f.is_nan() => "NaN".into(),
        SqlValue::Real(f) if f.is_infinite() => {
            if *f > 0.0 { "Infinity" } else { "-Infinity" }.into()
        }
        SqlValue::Real(f) => f.to_string(),
        SqlValue::Bool(b) => b.to_string(),
        SqlValue::Blob(b) => format!("\\x{}", hex::encode(b)),
    })
}

/// A parameter sent in the text format.
#[derive(Debug)]
struct Text(Option<String>);

impl ToSql for Text {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.0 {
            None => Ok(IsNull::Yes),
            Some(t) => {
                out.extend_from_slice(t.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    tokio_postgres::types::to_sql_checked!();
}

/// A column's value as the server sent it (binary format), whatever its type.
struct Raw<'a>(Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// `[u8; N]` of the front of `b`, when it has exactly `N` bytes.
fn exact<const N: usize>(b: &[u8]) -> Option<[u8; N]> {
    b.try_into().ok()
}

/// A column's value (binary format) as the text the server prints for it, which is what the
/// JDBC driver's `getString` gives; `real` and `double precision` as Java prints them.
/// `None`: a type synaptic does not read.
pub(super) fn pg_value(ty: &Type, b: &[u8]) -> Option<SqlValue> {
    Some(match *ty {
        Type::INT2 => SqlValue::Integer(i16::from_be_bytes(exact(b)?).into()),
        Type::INT4 => SqlValue::Integer(i32::from_be_bytes(exact(b)?).into()),
        Type::INT8 => SqlValue::Integer(i64::from_be_bytes(exact(b)?)),
        Type::OID => SqlValue::Integer(u32::from_be_bytes(exact(b)?).into()),
        // Float.toString: the shortest decimal form of the float
        Type::FLOAT4 => {
            let f = f32::from_be_bytes(exact(b)?);
            SqlValue::Real(f.to_string().parse().unwrap_or(f as f64))
        }
        Type::FLOAT8 => SqlValue::Real(f64::from_be_bytes(exact(b)?)),
        Type::NUMERIC => SqlValue::Decimal(numeric(b)?),
        _ => SqlValue::Text(pg_text(ty, b)?),
    })
}

/// A value (binary format) as the server's output function prints it (`DateStyle` ISO,
/// `IntervalStyle` postgres, `extra_float_digits` above zero, the session in UTC).
/// `None`: a type synaptic does not read, or bytes that are not a value of the type.
fn pg_text(ty: &Type, b: &[u8]) -> Option<String> {
    let utf8 = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    Some(match *ty {
        Type::BOOL => if b.first()? != &0 { "t" } else { "f" }.into(),
        Type::INT2 => i16::from_be_bytes(exact(b)?).to_string(),
        Type::INT4 => i32::from_be_bytes(exact(b)?).to_string(),
        Type::INT8 => i64::from_be_bytes(exact(b)?).to_string(),
        Type::OID => u32::from_be_bytes(exact(b)?).to_string(),
        Type::FLOAT4 => float_text(f32::from_be_bytes(exact(b)?)),
        Type::FLOAT8 => float_text(f64::from_be_bytes(exact(b)?)),
        Type::NUMERIC => numeric(b)?,
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::CHAR
        | Type::JSON
        | Type::XML => utf8(b),
        Type::JSONB => match b.split_first()? {
            (1, rest) => utf8(rest),
            _ => return None,
        },
        Type::UUID => {
            let h = hex::encode(b);
            if h.len() != 32 {
                return None;
            }
            format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            )
        }
        Type::BYTEA => format!("\\x{}", hex::encode(b)),
        Type::DATE => date(i32::from_be_bytes(exact(b)?)),
        Type::TIME => time_of_day(i64::from_be_bytes(exact(b)?)),
        Type::TIMETZ => {
            let (t, z) = b.split_at_checked(8)?;
            let west = i32::from_be_bytes(exact(z)?);
            format!(
                "{}{}",
                time_of_day(i64::from_be_bytes(exact(t)?)),
                offset(-west)
            )
        }
        Type::TIMESTAMP => timestamp(i64::from_be_bytes(exact(b)?))?,
        // the session's time zone is UTC
        Type::TIMESTAMPTZ => {
            let us = i64::from_be_bytes(exact(b)?);
            let t = timestamp(us)?;
            if us == i64::MAX || us == i64::MIN {
                t
            } else {
                format!("{t}+00")
            }
        }
        Type::INTERVAL => {
            let (us, rest) = b.split_at_checked(8)?;
            let (days, months) = rest.split_at_checked(4)?;
            interval(
                i64::from_be_bytes(exact(us)?),
                i32::from_be_bytes(exact(days)?),
                i32::from_be_bytes(exact(months)?),
            )
        }
        _ => match ty.kind() {
            // an enum's value and a domain over text travel as their text
            Kind::Enum(_) => utf8(b),
            Kind::Array(member) => array(member, b)?,
            _ if ty.name() == "citext" => utf8(b),
            _ => return None,
        },
    })
}

/// A `real` or `double precision` as `float4out`/`float8out` print it: the shortest digits
/// that read back as the same value, in positional form for decimal exponents from -4 to
/// below 6 (`real`) or 15 (`double precision`), else as `1.5e+20`.
fn float_text<F: std::fmt::LowerExp + Into<f64> + Copy>(f: F) -> String {
    let wide: f64 = f.into();
    if wide.is_nan() {
        return "NaN".into();
    }
    if wide.is_infinite() {
        return if wide > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let fixed_below = if std::mem::size_of::<F>() == 4 { 6 } else { 15 };
    // Rust's `{:e}`: the shortest round-trip digits, `d.ddde±x`
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if digits == "0" {
        return format!("{sign}0");
    }
    if (-4..fixed_below).contains(&exp) {
        let point = exp + 1;
        let n = digits.len() as i32;
        let text = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= n {
            format!("{digits}{}", "0".repeat((point - n) as usize))
        } else {
            format!(
                "{}.{}",
                &digits[..point as usize],
                &digits[point as usize..]
            )
        };
        return format!("{sign}{text}");
    }
    let (first, rest) = digits.split_at(1);
    let point = if rest.is_empty() { "" } else { "." };
    let esign = if exp < 0 { '-' } else { '+' };
    format!(
        "{sign}{first}{point}{rest}e{esign}{:02}",
        exp.unsigned_abs()
    )
}

/// An `interval` (microseconds, days, months) as `interval_out` prints it with `IntervalStyle`
/// `postgres` (the default): `1 year 2 mons 3 days 04:05:06.5`, `-1 days +02:00:00`, `00:00:00`.
fn interval(us: i64, days: i32, months: i32) -> String {
    let mut out = String::new();
    // each non-zero part says `+` before the next one's positive value when it was negative
    let mut before_negative = false;
    for (n, unit) in [
        (i64::from(months / 12), "year"),
        (i64::from(months % 12), "mon"),
        (i64::from(days), "day"),
    ] {
        if n == 0 {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if before_negative && n > 0 {
            out.push('+');
        }
        out.push_str(&format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        before_negative = n < 0;
    }
    if out.is_empty() || us != 0 {
        let sign = if us < 0 {
            "-"
        } else if before_negative {
            "+"
        } else {
            ""
        };
        let a = us.unsigned_abs();
        let (h, m, sec, frac) = (
            a / 3_600_000_000,
            (a / 60_000_000) % 60,
            (a / 1_000_000) % 60,
            a % 1_000_000,
        );
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{sign}{h:02}:{m:02}:{sec:02}"));
        if frac != 0 {
            out.push_str(format!(".{frac:06}").trim_end_matches('0'));
        }
    }
    out
}

/// An array (binary format: dimensions, lower bounds, elements) as `array_out` prints it:
/// `{1,2,3}`, `{{1,2},{3,4}}`, `{"a b",NULL}`, `[0:1]={x,y}` when a lower bound is not 1. An
/// element is quoted when it is empty, `NULL` (any case), or holds a brace, a comma, a quote, a
/// backslash or white space; in quotes, `"` and `\` are escaped with a backslash.
fn array(member: &Type, b: &[u8]) -> Option<String> {
    let int = |at: usize| {
        b.get(at..at + 4)
            .map(|w| i32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let ndim = usize::try_from(int(0)?).ok()?;
    // PostgreSQL's MAXDIM
    if ndim > 6 {
        return None;
    }
    if ndim == 0 {
        return Some("{}".into());
    }
    let mut dims = Vec::with_capacity(ndim);
    let mut bounds = Vec::with_capacity(ndim);
    for d in 0..ndim {
        dims.push(usize::try_from(int(12 + 8 * d)?).ok()?);
        bounds.push(int(16 + 8 * d)?);
    }
    let count = dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d))?;
    let mut at = 12 + 8 * ndim;
    let mut elements = Vec::with_capacity(count.min(b.len() / 4));
    for _ in 0..count {
        let len = int(at)?;
        at += 4;
        if len < 0 {
            elements.push(None);
            continue;
        }
        let e = b.get(at..at + len as usize)?;
        at += len as usize;
        elements.push(Some(pg_text(member, e)?));
    }
    if at != b.len() {
        return None;
    }
    let mut out = String::new();
    if bounds.iter().any(|lb| *lb != 1) {
        for (lb, d) in bounds.iter().zip(&dims) {
            let lb = i64::from(*lb);
            out.push_str(&format!("[{lb}:{}]", lb + *d as i64 - 1));
        }
        out.push('=');
    }
    // the elements in order, a brace opened where an index of the dimensions starts over
    let mut index = vec![0usize; ndim];
    for (i, e) in elements.iter().enumerate() {
        let opening = index
            .iter()
            .rev()
            .take_while(|x| **x == 0)
            .count()
            .min(ndim);
        if i > 0 {
            out.push(',');
        }
        for _ in 0..opening {
            out.push('{');
        }
        match e {
            None => out.push_str("NULL"),
            Some(t) => quoted(t, &mut out),
        }
        // the next index; a brace closed for each dimension that completes
        let mut d = ndim;
        while d > 0 {
            d -= 1;
            index[d] += 1;
            out.extend((index[d] == dims[d]).then_some('}'));
            if index[d] < dims[d] {
                break;
            }
            index[d] = 0;
        }
    }
    if count == 0 {
        // a dimension of length zero: PostgreSQL sends such an array as empty
        return Some("{}".into());
    }
    Some(out)
}

/// An array element as `array_out` writes it.
fn quoted(t: &str, out: &mut String) {
    let needs = t.is_empty()
        || t.eq_ignore_ascii_case("NULL")
        || t.chars().any(|c| {
            matches!(
                c,
                '"' | '\\' | '{' | '}' | ',' | ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c'
            )
        });
    if !needs {
        out.push_str(t);
        return;
    }
    out.push('"');
    for c in t.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `numeric`'s binary form (base-10000 digits, weight, sign, display scale) as `numeric_out`
/// prints it.
fn numeric(b: &[u8]) -> Option<String> {
    let word = |i: usize| b.get(i..i + 2).map(|w| u16::from_be_bytes([w[0], w[1]]));
    let ndigits = word(0)? as usize;
    let weight = word(2)? as i16 as i64;
    let sign = word(4)?;
    let dscale = word(6)? as usize;
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => return None,
    }
    if dscale > 16383 || b.len() != 8 + 2 * ndigits {
        return None;
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(8 + 2 * i))
        .collect::<Option<_>>()?;
    if digits.iter().any(|d| *d > 9999) {
        return None;
    }
    let digit = |pos: i64| -> u16 {
        usize::try_from(pos)
            .ok()
            .and_then(|p| digits.get(p).copied())
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // the integer part: groups 0..=weight
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for g in 1..=weight {
            out.push_str(&format!("{:04}", digit(g)));
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut frac = String::with_capacity(dscale + 4);
        let mut g = weight + 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(g)));
            g += 1;
        }
        frac.truncate(dscale);
        out.push_str(&frac);
    }
    Some(out)
}

/// Days from 2000-01-01 as the server prints a date (ISO, `BC` for years before 1).
fn date(days: i32) -> String {
    match days {
        i32::MAX => return "infinity".into(),
        i32::MIN => return "-infinity".into(),
        _ => {}
    }
    let (y, m, d) = civil(i64::from(days) + 10957);
    if y > 0 {
        format!("{y:04}-{m:02}-{d:02}")
    } else {
        format!("{:04}-{m:02}-{d:02} BC", 1 - y)
    }
}

/// The civil date of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Microseconds into a day as `hh:mm:ss[.ffffff]` (the fraction without trailing zeros).
fn time_of_day(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let mut t = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac != 0 {
        t.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    t
}

/// An offset east of UTC in seconds as the server prints it: `+02`, `-03:30`.
fn offset(east: i32) -> String {
    let sign = if east < 0 { '-' } else { '+' };
    let a = east.unsigned_abs();
    let (h, m, s) = (a / 3600, (a / 60) % 60, a % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}:{m:02}"),
        _ => format!("{sign}{h:02}:{m:02}:{s:02}"),
    }
}

/// Microseconds from 2000-01-01 00:00 as the server prints a timestamp.
fn timestamp(us: i64) -> Option<String> {
    match us {
        i64::MAX => return Some("infinity".into()),
        i64::MIN => return Some("-infinity".into()),
        _ => {}
    }
    let days = us.div_euclid(86_400_000_000);
    let d = date(i32::try_from(days).ok()?);
    let t = time_of_day(us.rem_euclid(86_400_000_000));
    Some(match d.strip_suffix(" BC") {
        Some(d) => format!("{d} {t} BC"),
        None => format!("{d} {t}"),
    })
}

/// The SQL with JDBC's `?`s as `$1`, `$2`, … and how many there are. Quoted strings
/// (`'…'`, `E'…'` with backslash escapes), quoted names (`"…"`), dollar quotes (`$tag$…$tag$`)
/// and comments (`-- …`, nested `/* … */`) are copied as they are; `??` is one literal `?`
/// (the JDBC driver's escape for PostgreSQL's `?` operators).
pub(super) fn numbered_parameters(sql: &str) -> (String, usize) {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0usize;
    let mut i = 0usize;
    let mut copied = 0usize;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                let backslash =
                    i > 0 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !ident(b[i - 2]));
                i += 1;
                while i < b.len() {
                    match b[i] {
                        b'\\' if backslash => i += 2,
                        b'\'' if b.get(i + 1) == Some(&b'\'') => i += 2,
                        b'\'' => break,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 1;
                i += 2;
                while i < b.len() && depth > 0 {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            b'$' if i == 0 || !ident(b[i - 1]) => {
                // `$tag$` (a tag does not start with a digit), else a plain `$`
                let start = i;
                let mut j = i + 1;
                while j < b.len() && ident(b[j]) && !(j == i + 1 && b[j].is_ascii_digit()) {
                    j += 1;
                }
                if b.get(j) == Some(&b'$') {
                    let tag = &sql[start..=j];
                    i = match sql[j + 1..].find(tag) {
                        Some(end) => j + 1 + end + tag.len(),
                        None => b.len(),
                    };
                } else {
                    i += 1;
                }
            }
            b'?' if b.get(i + 1) == Some(&b'?') => {
                out.push_str(&sql[copied..i]);
                out.push('?');
                i += 2;
                copied = i;
            }
            b'?' => {
                out.push_str(&sql[copied..i]);
                n += 1;
                out.push_str(&format!("${n}"));
                i += 1;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_numbered_parameters_outside_quotes_and_comments() {
        let cases = [
            (
                "select a from t where b = ? and c = ?",
                "select a from t where b = $1 and c = $2",
                2,
            ),
            (
                "select '?', \"?\" from t where x = ?",
                "select '?', \"?\" from t where x = $1",
                1,
            ),
            ("select 'it''s ?' , ?", "select 'it''s ?' , $1", 1),
            ("select E'\\'?' , ?", "select E'\\'?' , $1", 1),
            (
                "select $$ ? $$, $q$ ?$ $q$, ?",
                "select $$ ? $$, $q$ ?$ $q$, $1",
                1,
            ),
            (
                "select ? -- ?\n, ? /* ? /* ? */ ? */",
                "select $1 -- ?\n, $2 /* ? /* ? */ ? */",
                2,
            ),
            (
                "select j ?? 'k' from t where id = ?",
                "select j ? 'k' from t where id = $1",
                1,
            ),
            (
                "select a$b$ from t where x = ?",
                "select a$b$ from t where x = $1",
                1,
            ),
            ("select 'unterminated ?", "select 'unterminated ?", 0),
            ("select ?", "select $1", 1),
        ];
        for (sql, want, n) in cases {
            assert_eq!(numbered_parameters(sql), (want.to_string(), n), "{sql}");
        }
    }

    #[test]
    fn jdbc_urls_give_the_first_host_its_port_the_database_and_known_settings() {
        let a = pg_address("jdbc:postgresql://db.example:5433,other:1/shop?ssl=false&user=u&password=p%40ss&currentSchema=s1&loginTimeout=3").unwrap();
        assert_eq!(
            a,
            PgAddress {
                host: "db.example".into(),
                port: 5433,
                database: Some("shop".into()),
                user: Some("u".into()),
                password: Some("p@ss".into()),
                current_schema: Some("s1".into()),
                application_name: None,
                tls: TlsSettings {
                    ssl: Some("false".into()),
                    ..Default::default()
                },
            }
        );
        let a = pg_address("jdbc:postgresql://[::1]/x").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("::1", 5432));
        let a = pg_address("jdbc:postgresql:shop").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.database.as_deref()),
            ("localhost", 5432, Some("shop"))
        );
        let a = pg_address("jdbc:postgresql:/").unwrap();
        assert_eq!(a.database, None);
        // the TLS settings, percent-decoded, for the pool to read
        let a = pg_address(
            "jdbc:postgresql://h/db?sslmode=verify-ca&sslrootcert=certs%2Fca.pem&sslcert=c.pem\
             &sslkey=/k.pk8&sslpassword=pw&sslfactory=org.postgresql.ssl.NonValidatingFactory&ssl",
        )
        .unwrap();
        assert_eq!(
            a.tls,
            TlsSettings {
                ssl: Some(String::new()),
                sslmode: Some("verify-ca".into()),
                sslrootcert: Some("certs/ca.pem".into()),
                sslcert: Some("c.pem".into()),
                sslkey: Some("/k.pk8".into()),
                sslpassword: true,
                sslfactory: Some("org.postgresql.ssl.NonValidatingFactory".into()),
            }
        );
        assert_eq!(a.tls.mode(), Ok(SslMode::VerifyCa));
        assert_eq!(
            pg_address("jdbc:postgresql://h/db?ssl=true")
                .unwrap()
                .tls
                .mode(),
            Ok(SslMode::VerifyFull)
        );
        assert_eq!(
            pg_address("jdbc:postgresql://h/db").unwrap().tls.mode(),
            Ok(SslMode::Prefer)
        );
        for bad in [
            "jdbc:postgresql://:5432/x",
            "jdbc:postgresql://h:port/x",
            "jdbc:postgresql://h",
            "jdbc:mysql://h/x",
            "$url",
        ] {
            assert_eq!(pg_address(bad), None, "{bad}");
        }
    }

    fn numeric_bytes(weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend((digits.len() as u16).to_be_bytes());
        b.extend(weight.to_be_bytes());
        b.extend(sign.to_be_bytes());
        b.extend(dscale.to_be_bytes());
        for d in digits {
            b.extend(d.to_be_bytes());
        }
        b
    }

    #[test]
    fn numerics_print_as_the_server_prints_them() {
        let cases: [(i16, u16, u16, &[u16], &str); 8] = [
            (0, 0, 2, &[120, 5000], "120.50"),
            (1, 0, 0, &[1, 0], "10000"),
            (0, 0x4000, 1, &[3, 1400], "-3.1"),
            (-1, 0, 5, &[12], "0.00120"),
            (-2, 0, 6, &[500], "0.000005"),
            (0, 0, 0, &[], "0"),
            (0, 0, 3, &[], "0.000"),
            (0, 0xC000, 0, &[], "NaN"),
        ];
        for (w, s, d, digits, want) in cases {
            assert_eq!(
                numeric(&numeric_bytes(w, s, d, digits)).as_deref(),
                Some(want)
            );
        }
        assert_eq!(numeric(&[0, 1]), None);
        assert_eq!(numeric(&numeric_bytes(0, 0, 0, &[10000])), None);
    }

    #[test]
    fn dates_and_times_print_as_the_server_prints_them() {
        assert_eq!(date(0), "2000-01-01");
        assert_eq!(date(8887), "2024-05-01");
        assert_eq!(date(-730_119), "0001-01-01");
        assert_eq!(date(-730_120), "0001-12-31 BC");
        assert_eq!(date(i32::MAX), "infinity");
        let at = 8887 * 86_400_000_000 + 36_000_000_000;
        assert_eq!(timestamp(at).unwrap(), "2024-05-01 10:00:00");
        assert_eq!(timestamp(at + 500_000).unwrap(), "2024-05-01 10:00:00.5");
        assert_eq!(timestamp(-1).unwrap(), "1999-12-31 23:59:59.999999");
        assert_eq!(time_of_day(3_723_000_120), "01:02:03.00012");
        assert_eq!(offset(7200), "+02");
        assert_eq!(offset(-12600), "-03:30");
        let tz = pg_value(&Type::TIMESTAMPTZ, &at.to_be_bytes()).unwrap();
        assert_eq!(tz, SqlValue::Text("2024-05-01 10:00:00+00".into()));
    }

    #[test]
    fn other_types_read_as_jdbc_getstring_gives_them() {
        assert_eq!(
            pg_value(&Type::BOOL, &[1]),
            Some(SqlValue::Text("t".into()))
        );
        assert_eq!(
            pg_value(&Type::BOOL, &[0]),
            Some(SqlValue::Text("f".into()))
        );
        assert_eq!(
            pg_value(&Type::INT2, &[0xff, 0xfe]),
            Some(SqlValue::Integer(-2))
        );
        assert_eq!(pg_value(&Type::INT4, &[0, 0]), None);
        let v = pg_value(&Type::FLOAT8, &99.0f64.to_be_bytes()).unwrap();
        assert_eq!(v.to_text().as_deref(), Some("99.0"));
        let v = pg_value(&Type::FLOAT4, &0.1f32.to_be_bytes()).unwrap();
        assert_eq!(v.to_text().as_deref(), Some("0.1"));
        assert_eq!(
            pg_value(&Type::UUID, &[0x12; 16]),
            Some(SqlValue::Text(
                "12121212-1212-1212-1212-121212121212".into()
            ))
        );
        assert_eq!(
            pg_value(&Type::JSONB, b"\x01{\"a\": 1}"),
            Some(SqlValue::Text("{\"a\": 1}".into()))
        );
        assert_eq!(
            pg_value(&Type::BYTEA, &[0xde, 0xad]),
            Some(SqlValue::Text("\\xdead".into()))
        );
        assert_eq!(pg_value(&Type::POINT, &[0; 16]), None);
        // parameters: the server reads each as its type's input
        assert_eq!(
            text(&SqlValue::Real(f64::NEG_INFINITY)).as_deref(),
            Some("-Infinity")
        );
        assert_eq!(text(&SqlValue::Real(1.5)).as_deref(), Some("1.5"));
        assert_eq!(text(&SqlValue::Bool(true)).as_deref(), Some("true"));
        assert_eq!(text(&SqlValue::Null), None);
        assert_eq!(pg_type(JdbcType::Varchar), Type::VARCHAR);
        assert_eq!(pg_type(JdbcType::Date), Type::UNKNOWN);
    }

    fn interval_bytes(us: i64, days: i32, months: i32) -> Vec<u8> {
        let mut b = us.to_be_bytes().to_vec();
        b.extend(days.to_be_bytes());
        b.extend(months.to_be_bytes());
        b
    }

    #[test]
    fn intervals_print_as_the_server_prints_them_with_intervalstyle_postgres() {
        let hms = |h: i64, m: i64, s: i64| ((h * 60 + m) * 60 + s) * 1_000_000;
        let cases = [
            (
                (hms(4, 5, 6) + 500_000, 3, 14),
                "1 year 2 mons 3 days 04:05:06.5",
            ),
            ((0, 0, 0), "00:00:00"),
            ((0, 1, 1), "1 mon 1 day"),
            ((0, -1, 0), "-1 days"),
            ((hms(2, 0, 0), -1, 0), "-1 days +02:00:00"),
            ((0, 0, 10), "10 mons"),
            ((0, 0, -36), "-3 years"),
            ((0, 0, 12 - 2), "10 mons"),
            ((0, 3, -10), "-10 mons +3 days"),
            ((-hms(4, 5, 6), -3, -10), "-10 mons -3 days -04:05:06"),
            ((-1, 0, 0), "-00:00:00.000001"),
            ((hms(100, 0, 0), 0, 0), "100:00:00"),
            ((-hms(0, 0, 1), 2, 0), "2 days -00:00:01"),
            ((hms(0, 0, 1), 0, -14), "-1 years -2 mons +00:00:01"),
        ];
        for ((us, days, months), want) in cases {
            assert_eq!(
                pg_value(&Type::INTERVAL, &interval_bytes(us, days, months)),
                Some(SqlValue::Text(want.into())),
                "{us} {days} {months}"
            );
        }
        assert_eq!(pg_value(&Type::INTERVAL, &[0; 15]), None);
    }

    #[test]
    fn floats_print_as_float4out_and_float8out_print_them() {
        let cases: [(f64, &str); 12] = [
            (99.0, "99"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-1.25e-100, "-1.25e-100"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(float_text(f), want, "{f}");
        }
        assert_eq!(float_text(0.1f32), "0.1");
        assert_eq!(float_text(123456f32), "123456");
        assert_eq!(float_text(1e6f32), "1e+06");
        assert_eq!(float_text(1.5e-7f32), "1.5e-07");
    }

    /// An array's binary form: element type, (length, lower bound) per dimension, elements.
    fn array_bytes(oid: u32, dims: &[(i32, i32)], elements: &[Option<&[u8]>]) -> Vec<u8> {
        let mut b = (dims.len() as i32).to_be_bytes().to_vec();
        b.extend(i32::from(elements.iter().any(Option::is_none)).to_be_bytes());
        b.extend(oid.to_be_bytes());
        for (len, lb) in dims {
            b.extend(len.to_be_bytes());
            b.extend(lb.to_be_bytes());
        }
        for e in elements {
            match e {
                None => b.extend((-1i32).to_be_bytes()),
                Some(e) => {
                    b.extend((e.len() as i32).to_be_bytes());
                    b.extend(*e);
                }
            }
        }
        b
    }

    #[test]
    fn arrays_print_as_array_out_prints_them() {
        let int = |n: i32| n.to_be_bytes().to_vec();
        let ints: Vec<Vec<u8>> = (1..=4).map(int).collect();
        fn some(v: &[Vec<u8>]) -> Vec<Option<&[u8]>> {
            v.iter().map(|e| Some(e.as_slice())).collect()
        }
        let text = |ty: &Type, b: Vec<u8>| pg_value(ty, &b).and_then(|v| v.to_text());
        assert_eq!(
            text(
                &Type::INT4_ARRAY,
                array_bytes(23, &[(3, 1)], &some(&ints[..3]))
            )
            .as_deref(),
            Some("{1,2,3}")
        );
        assert_eq!(
            text(
                &Type::INT4_ARRAY,
                array_bytes(23, &[(2, 1), (2, 1)], &some(&ints))
            )
            .as_deref(),
            Some("{{1,2},{3,4}}")
        );
        assert_eq!(
            text(
                &Type::INT4_ARRAY,
                array_bytes(23, &[(2, 1), (1, 1), (2, 1)], &some(&ints))
            )
            .as_deref(),
            Some("{{{1,2}},{{3,4}}}")
        );
        assert_eq!(
            text(
                &Type::INT4_ARRAY,
                array_bytes(23, &[(2, 0)], &some(&ints[..2]))
            )
            .as_deref(),
            Some("[0:1]={1,2}")
        );
        assert_eq!(
            text(&Type::INT4_ARRAY, array_bytes(23, &[], &[])).as_deref(),
            Some("{}")
        );
        let words: [Option<&[u8]>; 9] = [
            Some(b"a b"),
            None,
            Some(b""),
            Some(b"null"),
            Some(b"x\"y"),
            Some(b"back\\slash"),
            Some(b"{}"),
            Some(b"c,d"),
            Some(b"plain"),
        ];
        assert_eq!(
            text(&Type::TEXT_ARRAY, array_bytes(25, &[(9, 1)], &words)).as_deref(),
            Some(r#"{"a b",NULL,"","null","x\"y","back\\slash","{}","c,d",plain}"#)
        );
        let bytea: [Option<&[u8]>; 1] = [Some(&[1, 0xff])];
        assert_eq!(
            text(&Type::BYTEA_ARRAY, array_bytes(17, &[(1, 1)], &bytea)).as_deref(),
            Some(r#"{"\\x01ff"}"#)
        );
        let floats = [
            Some(&99f64.to_be_bytes()[..]),
            Some(&1e20f64.to_be_bytes()[..]),
        ];
        assert_eq!(
            text(&Type::FLOAT8_ARRAY, array_bytes(701, &[(2, 1)], &floats)).as_deref(),
            Some("{99,1e+20}")
        );
        // bytes that are not an array of the type: not read
        let mut short = array_bytes(23, &[(3, 1)], &some(&ints[..3]));
        short.pop();
        assert_eq!(pg_value(&Type::INT4_ARRAY, &short), None);
        let mut long = array_bytes(23, &[(3, 1)], &some(&ints[..3]));
        long.push(0);
        assert_eq!(pg_value(&Type::INT4_ARRAY, &long), None);
        let huge = array_bytes(23, &[(i32::MAX, 1), (i32::MAX, 1), (i32::MAX, 1)], &[]);
        assert_eq!(pg_value(&Type::INT4_ARRAY, &huge), None);
        assert_eq!(
            pg_value(&Type::INT4_ARRAY, &array_bytes(23, &[(1, 1); 7], &[])),
            None
        );
        let bad_member: [Option<&[u8]>; 1] = [Some(&[0, 1])];
        assert_eq!(
            pg_value(&Type::INT4_ARRAY, &array_bytes(23, &[(1, 1)], &bad_member)),
            None
        );
    }
}
