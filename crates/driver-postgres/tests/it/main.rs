//! Integration tests of the PostgreSQL driver against a live server
//! (`FERRY_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! The conformance suite of `ferry_core::testkit` checks the `Driver` contract; the tests
//! here check what is PostgreSQL's own: schemas and `search_path`, `no-transaction`
//! statements sent alone, dollar quotes, SQLSTATE and error positions, the polled advisory
//! lock, connection errors, TLS modes and unix sockets.
//!
//! Every test creates its own database and drops it at the end. An unreachable server fails
//! the tests: nothing is skipped.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::driver::{BoxFuture, LockMechanism, RowChange, TrackingRow};
use ferry_core::scratch::with_scratch_database;
use ferry_core::testkit::net;
use ferry_core::testkit::{run_conformance, run_lease_conformance, DriverFactory};
use ferry_core::{Driver, DriverErrorKind, TableName};
use ferry_driver_postgres::{connect, testing, PostgresDriver};

/// Run `body` with the URL of a fresh database, dropping the database afterwards (also when
/// `body` panics).
async fn with_database<Fut: Future<Output = ()>>(prefix: &str, body: impl FnOnce(String) -> Fut) {
    with_scratch_database(
        prefix,
        testing::create_database,
        testing::drop_database,
        body,
    )
    .await;
}

/// A driver on `url` with tracking table `table`.
async fn open(url: &str, table: &str) -> PostgresDriver {
    connect(url, TableName::parse(table).unwrap())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

/// Connections to one database for the conformance suite.
struct Factory {
    url: String,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let driver = connect(&self.url, table.clone())
                .await
                .unwrap_or_else(|e| panic!("connect: {e}"));
            Box::new(driver) as Box<dyn Driver>
        })
    }
}

fn row(app: &str, id: &str) -> TrackingRow {
    TrackingRow {
        app_name: app.to_owned(),
        migration_id: id.to_owned(),
        description: format!("migration {id}"),
        checksum: "abc".to_owned(),
        down_sql: Some(String::new()),
        applied_at: Utc::now(),
        duration_ms: 12345,
        dirty: false,
    }
}

/// `SELECT` returning one text value.
async fn scalar(d: &PostgresDriver, sql: &str) -> Option<String> {
    let rows = d.client().simple_query(sql).await.unwrap();
    rows.into_iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_owned)),
        _ => None,
    })?
}

mod client;

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    with_database("conf", |url| async move {
        run_conformance(&Factory { url }).await;
    })
    .await;
}

/// The conformance suite through a transaction-mode PgBouncer with a pool of 2, where `auto`
/// recognises the pooler and takes the lease lock (1 s lease, as below).
#[tokio::test(flavor = "multi_thread")]
async fn conformance_through_pgbouncer() {
    let bouncer = testing::PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
    with_database("confpgb", |url| async move {
        let name = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .unwrap()
            .to_owned();
        let url = bouncer.url(&name);
        let mut probe = connect(&url, TableName::default()).await.unwrap();
        assert!(probe.is_pooled());
        let choice = probe.lock_choice().await.unwrap();
        assert_eq!(choice.mechanism, LockMechanism::Lease, "{choice}");
        assert!(choice.reason.contains("pooler"), "{choice}");
        drop(probe);
        run_conformance(&Factory { url }).await;
    })
    .await;
}

/// The conformance suite on the lease lock (`lock = "table"`).
#[tokio::test(flavor = "multi_thread")]
async fn conformance_with_the_lease_lock() {
    with_database("conflease", |url| async move {
        run_lease_conformance(&Factory { url }).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_and_capabilities() {
    with_database("caps", |url| async move {
        let d = open(&url, "ferry_migrations").await;
        assert_eq!(d.backend(), "postgres");
        let caps = d.capabilities();
        assert!(caps.transactional_ddl);
        assert_eq!(caps.dialect, ferry_core::sql::Dialect::Postgres);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn table_in_current_schema_is_not_confused_with_others() {
    with_database("curschema", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.execute(
            "CREATE SCHEMA other; CREATE TABLE other.ferry_migrations (x INT);",
            false,
        )
        .await
        .unwrap();
        assert!(!d.table_exists().await.unwrap());
        d.ensure_table().await.unwrap();
        assert!(d.table_exists().await.unwrap());
        // A migration changing search_path does not move the tracking table.
        d.execute("SET search_path TO other", false).await.unwrap();
        d.write(&RowChange::Insert(row("a", "1"))).await.unwrap();
        assert_eq!(
            scalar(&d, "SELECT count(*) FROM public.ferry_migrations")
                .await
                .as_deref(),
            Some("1")
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_qualified_table() {
    with_database("schema", |url| async move {
        let mut d = open(&url, "ops.ferry_migrations").await;
        assert!(!d.table_exists().await.unwrap());
        d.ensure_table().await.unwrap();
        assert!(d.table_exists().await.unwrap());
        assert_eq!(
            scalar(&d, "SELECT to_regclass('ops.ferry_migrations')::text")
                .await
                .as_deref(),
            Some("ops.ferry_migrations")
        );
        assert_eq!(
            scalar(&d, "SELECT to_regclass('public.ferry_migrations')::text").await,
            None
        );
        d.execute_in_transaction("SELECT 1", &RowChange::Insert(row("a", "1")))
            .await
            .unwrap();
        assert_eq!(d.applied(None).await.unwrap().len(), 1);
        // The unqualified name is a different table.
        let mut plain = open(&url, "ferry_migrations").await;
        assert!(!plain.table_exists().await.unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_transaction_runs_statements_alone() {
    with_database("notx", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.execute(
            "CREATE TABLE posts (id INT, title TEXT, body TEXT); INSERT INTO posts VALUES (1, 'a;b', 'c');",
            false,
        )
        .await
        .unwrap();
        // In one batch, PostgreSQL refuses CONCURRENTLY (implicit transaction).
        let sql = "-- two indexes; built concurrently\n\
                   CREATE INDEX CONCURRENTLY posts_title ON posts (title);\n\
                   /* a ; comment */\n\
                   CREATE INDEX CONCURRENTLY posts_body ON posts (body);\n";
        let err = d.execute(sql, false).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Query);
        assert_eq!(err.sqlstate.as_deref(), Some("25001"), "{err}");
        d.execute(sql, true).await.unwrap();
        assert_eq!(
            scalar(
                &d,
                "SELECT count(*) FROM pg_indexes WHERE tablename = 'posts' AND indexname IN ('posts_title', 'posts_body')"
            )
            .await
            .as_deref(),
            Some("2")
        );

        // ALTER TYPE ... ADD VALUE, then using the new value, in a no-transaction section.
        d.execute("CREATE TYPE mood AS ENUM ('sad', 'ok');", false)
            .await
            .unwrap();
        d.execute(
            "ALTER TYPE mood ADD VALUE 'happy';\nCREATE TABLE people (m mood DEFAULT 'happy');\nINSERT INTO people DEFAULT VALUES;",
            true,
        )
        .await
        .unwrap();
        assert_eq!(scalar(&d, "SELECT m::text FROM people").await.as_deref(), Some("happy"));

        // An error in the second statement reports the line within the whole text.
        let err = d
            .execute("SELECT 1;\n\n  SELECT nope FROM posts;", true)
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate.as_deref(), Some("42703"));
        assert_eq!(err.line, Some(3));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dollar_quotes_and_do_blocks_run_unchanged() {
    with_database("dollar", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        let sql = r#"
CREATE TABLE log (msg TEXT);
CREATE FUNCTION add_log(m TEXT) RETURNS void AS $body$
BEGIN
    INSERT INTO log VALUES (m || ';');
    INSERT INTO log VALUES ('$$; not the end');
END;
$body$ LANGUAGE plpgsql;
DO $$
BEGIN
    PERFORM add_log('from do');
    IF (SELECT count(*) FROM log) <> 2 THEN
        RAISE EXCEPTION 'unexpected; count';
    END IF;
END
$$;
SELECT 'semi;colon', E'esc\'; aped';
"#;
        d.execute_in_transaction(sql, &RowChange::Insert(row("app", "1")))
            .await
            .unwrap();
        assert_eq!(
            scalar(&d, "SELECT string_agg(msg, '|' ORDER BY msg) FROM log")
                .await
                .as_deref(),
            Some("$$; not the end|from do;")
        );
        // The same in a no-transaction section (statements split by the lexer).
        let sql2 = sql
            .replace("add_log", "add_log2")
            .replace("TABLE log", "TABLE log2")
            .replace("INTO log ", "INTO log2 ")
            .replace("FROM log)", "FROM log2)");
        d.execute(&sql2, true).await.unwrap();
        assert_eq!(
            scalar(&d, "SELECT count(*) FROM log2").await.as_deref(),
            Some("2")
        );

        // An error raised in a DO block is reported with its SQLSTATE.
        let err = d
            .execute(
                "DO $$ BEGIN RAISE EXCEPTION 'boom; here' USING HINT = 'h'; END $$;",
                false,
            )
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate.as_deref(), Some("P0001"));
        assert_eq!(err.message, "boom; here");
        assert_eq!(err.hint.as_deref(), Some("h"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn error_line_and_sqlstate() {
    with_database("errline", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        let err = d
            .execute("SELECT 1;\n\nSELEC broken;", false)
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Query);
        assert_eq!(err.sqlstate.as_deref(), Some("42601"));
        assert_eq!(err.line, Some(3));
        let err = d
            .execute_in_transaction(
                "SELECT 1;\n\nSELEC broken;",
                &RowChange::Insert(row("a", "1")),
            )
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate.as_deref(), Some("42601"));
        assert_eq!(err.line, Some(3));
        // Positions are characters: multi-byte text before the error still maps right.
        let err = d
            .execute("SELECT 'ünïcödé → ✓';\nSELECT 'é',\n  nope_col;", false)
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate.as_deref(), Some("42703"));
        assert_eq!(err.line, Some(3));
        // Detail is kept.
        d.execute(
            "CREATE TABLE u (x INT UNIQUE); INSERT INTO u VALUES (1);",
            false,
        )
        .await
        .unwrap();
        let err = d
            .execute("INSERT INTO u VALUES (1);", false)
            .await
            .unwrap_err();
        assert_eq!(err.sqlstate.as_deref(), Some("23505"));
        assert!(
            err.detail.as_deref().unwrap_or("").contains("(x)=(1)"),
            "{err:?}"
        );
        assert_eq!(err.line, None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_polls_until_released() {
    with_database("lock", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.lock(Duration::from_secs(5)).await.unwrap();
        // The poller does not sleep past the deadline.
        let started = Instant::now();
        let err = b.lock(Duration::from_secs(1)).await.unwrap_err();
        let waited = started.elapsed();
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        assert!(waited >= Duration::from_millis(950), "{waited:?}");
        assert!(waited < Duration::from_secs(3), "{waited:?}");
        // A waiter gets the lock soon after it is released (the poll interval is capped).
        let waiter = tokio::spawn(async move {
            let started = Instant::now();
            b.lock(Duration::from_secs(10)).await.unwrap();
            started.elapsed()
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        a.unlock().await.unwrap();
        let waited = waiter.await.unwrap();
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_is_per_tracking_table() {
    with_database("locktable", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut other = open(&url, "ops.ferry_migrations").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        other.lock(Duration::ZERO).await.expect("independent lock");
        other.unlock().await.unwrap();
        a.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_waiter_does_not_deadlock_with_create_index_concurrently() {
    with_database("cic", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.execute(
            "CREATE TABLE big AS SELECT g AS x, md5(g::text) AS y FROM generate_series(1, 200000) g;",
            false,
        )
        .await
        .unwrap();
        a.lock(Duration::from_secs(5)).await.unwrap();
        let waiter = tokio::spawn(async move {
            let result = b.lock(Duration::from_secs(60)).await;
            (b, result)
        });
        // Let B start polling before the index build starts.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let build = tokio::time::timeout(
            Duration::from_secs(60),
            a.execute(
                "CREATE INDEX CONCURRENTLY big_x ON big (x);\nCREATE INDEX CONCURRENTLY big_y ON big (y);",
                true,
            ),
        )
        .await
        .expect("CREATE INDEX CONCURRENTLY must not wait for the lock poller");
        build.unwrap();
        a.unlock().await.unwrap();
        let (mut b, result) = tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .expect("waiter finishes")
            .unwrap();
        result.unwrap();
        b.unlock().await.unwrap();
        assert_eq!(
            scalar(&a, "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname IN ('big_x', 'big_y') AND i.indisvalid").await.as_deref(),
            Some("2")
        );
    })
    .await;
}

/// A URL like `admin` with `password`, database `database` and extra parameters.
fn variant_url(password: &str, database: &str, port: Option<u16>, params: &str) -> String {
    let admin = testing::admin_url();
    let (scheme, rest) = admin.split_once("://").unwrap();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (u.split(':').next().unwrap().to_owned(), h.to_owned()),
        None => ("postgres".to_owned(), authority.to_owned()),
    };
    let hostport = match port {
        Some(p) => {
            let host = hostport
                .rsplit_once(':')
                .map_or(hostport.as_str(), |(h, _)| h);
            format!("{host}:{p}")
        }
        None => hostport,
    };
    let query = rest[authority_end..].split_once('?').map(|(_, q)| q);
    let mut all: Vec<&str> = query.into_iter().collect();
    if !params.is_empty() {
        all.push(params);
    }
    let q = if all.is_empty() {
        String::new()
    } else {
        format!("?{}", all.join("&"))
    };
    format!("{scheme}://{userinfo}:{password}@{hostport}/{database}{q}")
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_host_and_database_not_password() {
    // Unknown database.
    let url = variant_url("s3cret", "ferry_no_such_db", None, "");
    let err = connect(&url, TableName::default()).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{err}");
    // The message first, the codes after (SPEC §16.10).
    assert!(
        err.to_string().ends_with("does not exist (SQLSTATE 3D000)"),
        "{err}"
    );
    assert!(err.message.contains("ferry_no_such_db"), "{}", err.message);
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(!err.message.contains('\n'), "{}", err.message);
    let host = url
        .split('@')
        .nth(1)
        .unwrap()
        .split(['/', ':'])
        .next()
        .unwrap();
    assert!(err.message.contains(host), "{}", err.message);

    // Refused port.
    let url = "postgres://postgres:s3cret@127.0.0.1:1/somedb".to_owned();
    let started = Instant::now();
    let err = connect(&url, TableName::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
    assert!(err.message.contains("127.0.0.1:1"), "{}", err.message);
    assert!(err.message.contains("\"somedb\""), "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(!err.message.contains('\n'), "{}", err.message);

    // Unknown host.
    let err = connect(
        "postgres://u:s3cret@ferry-no-such-host.invalid/x",
        TableName::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
    assert!(
        err.message.contains("ferry-no-such-host.invalid"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("s3cret"), "{}", err.message);

    // Invalid URLs are configuration errors that do not echo the password.
    for bad in [
        "postgres://u:s3cret@h/db?sslmode=bogus",
        "postgres://u:s3cret@h:notaport/db",
        "postgres://u:s3cret@h/db?nosuchparam=1",
    ] {
        let err = connect(bad, TableName::default()).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{bad}: {err}");
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmodes() {
    with_database("ssl", |_url| async move {
        let name_of = |url: &str| {
            url.rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned()
        };
        let db = name_of(&_url);
        // disable always works.
        let url = variant_url("s3cret", &db, None, "sslmode=disable");
        let mut d = connect(&url, TableName::default()).await.unwrap();
        d.execute("SELECT 1", false).await.unwrap();
        // prefer (the default) works with or without TLS on the server.
        let url = variant_url("s3cret", &db, None, "sslmode=prefer");
        connect(&url, TableName::default()).await.unwrap();
        // require either works or fails cleanly.
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = variant_url("s3cret", &db, None, &format!("sslmode={mode}"));
            match connect(&url, TableName::default()).await {
                Ok(mut d) => {
                    if mode == "require" {
                        assert_eq!(
                            scalar(
                                &d,
                                "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            )
                            .await
                            .as_deref(),
                            Some("true")
                        );
                    }
                    d.execute("SELECT 1", false).await.unwrap();
                }
                Err(e) => {
                    assert_eq!(e.kind, DriverErrorKind::Connect, "{mode}: {e}");
                    assert!(!e.message.contains("s3cret"), "{}", e.message);
                    assert!(!e.message.contains('\n'), "{}", e.message);
                    eprintln!("sslmode={mode}: {e}");
                }
            }
        }
    })
    .await;
}

/// With the Debian snakeoil certificate (CN=localhost, self-signed) as root: `verify-ca`
/// accepts 127.0.0.1 (chain only) but `verify-full` does not; `verify-full` accepts
/// `localhost`. Runs only where the local server uses that certificate.
#[tokio::test(flavor = "multi_thread")]
async fn verify_modes_with_root_certificate() {
    const CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    with_database("verify", |url| async move {
        let d = connect(&url, TableName::default()).await.unwrap();
        let cert_file = scalar(&d, "SELECT current_setting('ssl_cert_file')").await;
        let ssl = scalar(&d, "SELECT current_setting('ssl')").await;
        if ssl.as_deref() != Some("on") || cert_file.as_deref() != Some(CERT) {
            eprintln!("server does not use {CERT}: TLS verification cases not run");
            return;
        }
        let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        let with = |host: &str, mode: &str| {
            format!("postgres://postgres:s3cret@{host}:5432/{db}?sslmode={mode}&sslrootcert={CERT}")
        };
        connect(&with("127.0.0.1", "verify-ca"), TableName::default())
            .await
            .unwrap();
        connect(&with("localhost", "verify-full"), TableName::default())
            .await
            .unwrap();
        let err = connect(&with("127.0.0.1", "verify-full"), TableName::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(err.message.contains("127.0.0.1:5432"), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
        // Roots that do not hold the server's certificate fail verification.
        const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
        if std::path::Path::new(BUNDLE).exists() {
            let err = connect(
                &format!(
                    "postgres://postgres:s3cret@localhost:5432/{db}?sslmode=verify-ca&sslrootcert={BUNDLE}"
                ),
                TableName::default(),
            )
            .await
            .unwrap_err();
            assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
            assert!(err.message.contains("localhost:5432"), "{}", err.message);
            assert!(!err.message.contains('\n'), "{}", err.message);
        }
        // A missing root certificate file is a configuration error.
        let err = connect(
            &format!("postgres://postgres@localhost:5432/{db}?sslmode=verify-ca&sslrootcert=/nonexistent.pem"),
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_host() {
    with_database("unix", |url| async move {
        // The test server's own socket (a throwaway server has it in its temporary folder).
        let d = connect(&url, TableName::default()).await.unwrap();
        let dir = scalar(
            &d,
            "SELECT split_part(current_setting('unix_socket_directories'), ',', 1)",
        )
        .await
        .unwrap_or_default();
        let port = scalar(&d, "SELECT current_setting('port')").await.unwrap();
        if dir.is_empty() || !std::path::Path::new(&format!("{dir}/.s.PGSQL.{port}")).exists() {
            eprintln!("the test server has no local socket: unix socket case not run");
            return;
        }
        let db = url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        for mode in ["", "&sslmode=require"] {
            let sock = format!("postgresql://postgres@/{db}?host={dir}&port={port}{mode}");
            let mut d = connect(&sock, TableName::default()).await.unwrap();
            d.ensure_table().await.unwrap();
        }
        let err = connect(
            &format!("postgresql://postgres:s3cret@/ferry_no_such_db?host={dir}&port={port}"),
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing);
        assert!(err.message.contains(&dir), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    })
    .await;
}

/// A tokio-postgres connection to `url` without TLS, for simple queries through PgBouncer.
async fn plain_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect through PgBouncer: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The server process of the connection `client` is on, within 10 s (a client waiting for a
/// server connection that never frees fails instead of hanging).
async fn backend_pid(client: &tokio_postgres::Client) -> String {
    let rows = tokio::time::timeout(
        Duration::from_secs(10),
        client.simple_query("SELECT pg_backend_pid()"),
    )
    .await
    .expect("a server connection within 10 s")
    .unwrap();
    rows.into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

#[test]
fn pgbouncer_harness_runs_queries_in_transaction_mode() {
    let bouncer = testing::PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
    assert!(bouncer
        .url("x")
        .contains(&format!(":{}/x?", bouncer.port())));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bouncer = &bouncer;
    runtime.block_on(with_database("pgb", |url| async move {
        let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        let url = bouncer.url(name);
        let a = plain_client(&url).await;
        let b = plain_client(&url).await;
        let c = plain_client(&url).await;

        // A transaction keeps its server connection to the end...
        a.batch_execute("BEGIN").await.unwrap();
        let in_transaction = backend_pid(&a).await;
        // ...so other clients get the other one...
        let pid_b = backend_pid(&b).await;
        assert_ne!(pid_b, in_transaction);
        // ...and share it: with 2 server connections, a third client would wait forever in
        // session mode.
        assert_eq!(backend_pid(&c).await, pid_b);
        assert_eq!(backend_pid(&b).await, pid_b);
        assert_eq!(backend_pid(&a).await, in_transaction);
        a.batch_execute("COMMIT").await.unwrap();
    }));
}

/// Open a boxed driver, for the network cases of `ferry_core::testkit::net`.
fn boxed(url: String) -> BoxFuture<'static, Result<Box<dyn Driver>, ferry_core::DriverError>> {
    Box::pin(async move {
        let d = connect(&url, TableName::default()).await?;
        Ok(Box::new(d) as Box<dyn Driver>)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn connecting_to_a_silent_server_gives_up_after_connect_timeout() {
    net::connect_gives_up_on_a_silent_server(&boxed, &|port, timeout| {
        format!("postgres://u:pw-hidden@127.0.0.1:{port}/db?connect_timeout={timeout}")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_or_cut_network_mid_statement_ends_the_call() {
    with_database("silent", |url| async move {
        let server =
            net::server_addr(&url).expect("the test server's URL names a TCP host and port");
        let proxied = |port: u16| {
            let url = url.replacen(&server.to_string(), &format!("127.0.0.1:{port}"), 1);
            let join = if url.contains('?') { '&' } else { '?' };
            format!("{url}{join}connect_timeout=2&sslmode=disable")
        };
        net::silence_and_cut_end_the_call(&boxed, &url, server, &proxied, "SELECT pg_sleep(3);")
            .await;
    })
    .await;
}

/// A schema with every kind of object the snapshot reads (the extension `pg_trgm` is
/// created only where the server has it).
const SNAPSHOT_SCHEMA: &str = r#"
CREATE SCHEMA extra;
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS integer NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE SEQUENCE counter START 10 INCREMENT 5;
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(100) COLLATE "C",
    score posint,
    feeling mood DEFAULT 'ok',
    lower_email text GENERATED ALWAYS AS (lower(email)) STORED,
    CONSTRAINT users_name_check CHECK (length(name) > 1)
);
CREATE TABLE posts (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL,
    title text NOT NULL DEFAULT 'untitled',
    published boolean NOT NULL DEFAULT false,
    CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX posts_title_idx ON posts (title DESC);
CREATE INDEX posts_published_idx ON posts (user_id) WHERE published;
CREATE INDEX users_lower_idx ON users USING hash (lower(email));
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
CREATE MATERIALIZED VIEW counts AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := trim(NEW.title);
    RETURN NEW;
END $$;
CREATE TRIGGER posts_touch BEFORE INSERT OR UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE PROCEDURE cleanup(days integer) LANGUAGE sql AS $$ DELETE FROM posts WHERE NOT published $$;
CREATE TABLE extra.notes (id int PRIMARY KEY, user_id bigint REFERENCES public.users (id));
"#;

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_sees_what_verify_must_compare() {
    use ferry_core::testkit::snapshot::{assert_change, assert_left_out, property};
    use ferry_core::{LockKind, LockOptions};

    with_database("snapshot", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        // The tracking table and the lease lock's table exist, and are left out.
        d.ensure_table().await.unwrap();
        d.set_lock_options(LockOptions::new(LockKind::Table));
        d.lock(Duration::from_secs(5)).await.unwrap();
        let trgm = scalar(
            &d,
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'",
        )
        .await
        .as_deref()
            == Some("1");
        if trgm {
            d.execute("CREATE EXTENSION pg_trgm;", false).await.unwrap();
        }
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        let s = d.snapshot().await.unwrap();
        d.unlock().await.unwrap();
        assert_left_out(&s, "ferry_migrations");
        assert_left_out(&s, "ferry_migrations_lock");
        assert_eq!(
            scalar(&d, "SELECT to_regclass('ferry_migrations_lock')::text")
                .await
                .as_deref(),
            Some("ferry_migrations_lock")
        );

        let p = |kind: &str, name: &str, prop: &str| property(&s, kind, name, prop);
        assert_eq!(p("schema", "public", "exists"), None);
        assert_eq!(p("schema", "extra", "exists"), None);
        assert_eq!(p("extension", "plpgsql", "version"), Some("1.0"));
        if trgm {
            assert!(p("extension", "pg_trgm", "version").is_some());
            // Its functions belong to it, and are not listed.
            assert!(s.get("function", "similarity(text, text)").is_none());
        }
        assert_eq!(p("table", "users", "exists"), None);
        assert_eq!(p("table", "extra.notes", "exists"), None);
        assert_eq!(p("column", "users.id", "type"), Some("bigint"));
        assert_eq!(p("column", "users.id", "identity"), Some("always"));
        assert_eq!(p("column", "users.id", "nullable"), Some("no"));
        assert_eq!(
            p("column", "users.name", "type"),
            Some("character varying(100)")
        );
        assert_eq!(p("column", "users.name", "collation"), Some("C"));
        assert_eq!(p("column", "users.name", "nullable"), Some("yes"));
        assert_eq!(p("column", "users.email", "collation"), None);
        assert_eq!(p("column", "users.score", "type"), Some("posint"));
        assert_eq!(p("column", "users.feeling", "default"), Some("'ok'::mood"));
        assert_eq!(
            p("column", "users.lower_email", "generated"),
            Some("lower(email)")
        );
        assert_eq!(p("column", "users.lower_email", "default"), None);
        assert_eq!(
            p("column", "posts.title", "default"),
            Some("'untitled'::text")
        );
        assert_eq!(
            p("column", "posts.id", "default"),
            Some("nextval('posts_id_seq'::regclass)")
        );
        assert_eq!(p("column", "extra.notes.user_id", "type"), Some("bigint"));
        assert_eq!(p("primary key", "users", "columns"), Some("id"));
        assert_eq!(
            p("primary key", "extra.notes", "table"),
            Some("extra.notes")
        );
        assert_eq!(
            p("unique constraint", "users.users_email_key", "columns"),
            Some("email")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "target"),
            Some("users(id)")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "on delete"),
            Some("cascade")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "on update"),
            Some("no action")
        );
        assert_eq!(
            p("foreign key", "extra.notes.notes_user_id_fkey", "target"),
            Some("users(id)")
        );
        assert_eq!(
            p("check constraint", "users.users_name_check", "expression"),
            Some("(length((name)::text) > 1)")
        );
        // The indexes of the primary keys and the unique constraint are left out.
        assert!(s.get("index", "users_pkey").is_none());
        assert!(s.get("index", "users_email_key").is_none());
        assert_eq!(p("index", "posts_title_idx", "columns"), Some("title desc"));
        assert_eq!(p("index", "posts_title_idx", "method"), Some("btree"));
        assert_eq!(p("index", "posts_title_idx", "unique"), Some("no"));
        assert_eq!(p("index", "posts_title_idx", "predicate"), None);
        assert_eq!(
            p("index", "posts_published_idx", "predicate"),
            Some("published")
        );
        assert_eq!(
            p("index", "users_lower_idx", "columns"),
            Some("lower(email)")
        );
        assert_eq!(p("index", "users_lower_idx", "method"), Some("hash"));
        assert_eq!(p("index", "users_lower_idx", "table"), Some("users"));
        assert_eq!(
            p("view", "recent", "definition"),
            Some("SELECT posts.id, posts.title FROM posts WHERE posts.published;")
        );
        assert!(p("materialized view", "counts", "definition")
            .is_some_and(|d| d.contains("GROUP BY posts.user_id")));
        assert_eq!(p("sequence", "counter", "start"), Some("10"));
        assert_eq!(p("sequence", "counter", "increment"), Some("5"));
        assert_eq!(p("sequence", "counter", "type"), Some("bigint"));
        assert_eq!(p("sequence", "posts_id_seq", "owned by"), Some("posts.id"));
        // An identity column's sequence is the column's.
        assert!(!s
            .objects()
            .any(|(kind, name, _)| kind == "sequence" && name.starts_with("users")));
        assert_eq!(p("enum type", "mood", "values"), Some("sad, ok"));
        assert_eq!(
            p("composite type", "pair", "attributes"),
            Some("a integer, b text")
        );
        assert_eq!(p("domain", "posint", "type"), Some("integer"));
        assert_eq!(p("domain", "posint", "nullable"), Some("no"));
        assert_eq!(p("domain", "posint", "default"), Some("1"));
        assert_eq!(p("domain", "posint", "check"), Some("CHECK (VALUE > 0)"));
        assert_eq!(p("trigger", "posts.posts_touch", "table"), Some("posts"));
        assert_eq!(p("trigger", "posts.posts_touch", "timing"), Some("before"));
        assert_eq!(
            p("trigger", "posts.posts_touch", "event"),
            Some("insert or update")
        );
        assert!(p("function", "touch()", "definition").is_some_and(
            |d| d.contains("RETURNS trigger LANGUAGE plpgsql AS $function$ BEGIN NEW.title")
        ));
        assert!(p("procedure", "cleanup(integer)", "definition").is_some());

        // Nothing changed, nothing differs; data is not schema.
        let s = assert_change(&mut d, s, "SELECT 1;", &[]).await;
        let s = assert_change(
            &mut d,
            s,
            "INSERT INTO users (email) VALUES ('a@b.c'); SELECT nextval('counter');",
            &[],
        )
        .await;

        // Each change is seen, and only it.
        let s = assert_change(
            &mut d,
            s,
            "DROP INDEX posts_title_idx;",
            &[("index", "posts_title_idx", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts ALTER COLUMN title SET DEFAULT 'none';",
            &[("column", "posts.title", "default")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts ALTER COLUMN published DROP NOT NULL;",
            &[("column", "posts.published", "nullable")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts DROP CONSTRAINT posts_user_fk, ADD CONSTRAINT posts_user_fk \
             FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT;",
            &[("foreign key", "posts.posts_user_fk", "on delete")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE users DROP CONSTRAINT users_name_check;",
            &[("check constraint", "users.users_name_check", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts ADD COLUMN body text;",
            &[("column", "posts.body", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE OR REPLACE VIEW recent AS SELECT id, title FROM posts WHERE NOT published;",
            &[("view", "recent", "definition")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TYPE mood ADD VALUE 'happy';",
            &[("enum type", "mood", "values")],
        )
        .await;
        assert_eq!(
            property(&s, "enum type", "mood", "values"),
            Some("sad, ok, happy")
        );
        let s = assert_change(
            &mut d,
            s,
            "DROP TRIGGER posts_touch ON posts;",
            &[("trigger", "posts.posts_touch", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER SEQUENCE counter INCREMENT 2;",
            &[("sequence", "counter", "increment")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER DOMAIN posint SET DEFAULT 2;",
            &[("domain", "posint", "default")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RETURN NEW; END $$;",
            &[("function", "touch()", "definition")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE extra.notes ALTER COLUMN user_id TYPE integer;",
            &[("column", "extra.notes.user_id", "type")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "REFRESH MATERIALIZED VIEW counts; DROP MATERIALIZED VIEW counts;",
            &[("materialized view", "counts", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE SCHEMA more;",
            &[("schema", "more", "exists")],
        )
        .await;
        let s = if trgm {
            assert_change(
                &mut d,
                s,
                "DROP EXTENSION pg_trgm;",
                &[("extension", "pg_trgm", "exists")],
            )
            .await
        } else {
            s
        };
        // A migration that moves `search_path` does not rename everything.
        assert_change(&mut d, s, "SET search_path TO extra, public;", &[]).await;

        // A tracking table in a schema of its own is left out by its qualified name.
        let mut ops = open(&url, "ops.ferry_migrations").await;
        ops.ensure_table().await.unwrap();
        ops.set_lock_options(LockOptions::new(LockKind::Table));
        ops.lock(Duration::from_secs(5)).await.unwrap();
        let s = ops.snapshot().await.unwrap();
        ops.unlock().await.unwrap();
        assert!(s.get("schema", "ops").is_some());
        assert_left_out(&s, "ops.ferry_migrations");
        assert_left_out(&s, "ops.ferry_migrations_lock");
        assert!(s.get("table", "users").is_some());
    })
    .await;
}

/// The snapshot `verify` reads in part after each step (event triggers say what changed) is
/// the whole one, also after changes that reach objects the step does not name: renames seen
/// through views, foreign keys, defaults, owned sequences, partitions and SQL function bodies,
/// cascades, and the changes after which the driver cannot tell and reads everything.
#[tokio::test(flavor = "multi_thread")]
async fn tracked_snapshots_follow_every_change() {
    use ferry_core::testkit::snapshot::follow;

    with_database("tracked", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        d.execute(
            "CREATE TABLE parent (k int, v text) PARTITION BY RANGE (k); \
             CREATE TABLE child PARTITION OF parent FOR VALUES FROM (0) TO (10); \
             CREATE FUNCTION post_count() RETURNS bigint LANGUAGE sql \
             BEGIN ATOMIC SELECT count(*) FROM posts; END;",
            false,
        )
        .await
        .unwrap();
        let s = d.snapshot().await.unwrap();
        let steps = [
            // Seen through a view, a materialised view, a trigger, an owned sequence and a
            // SQL function body.
            "ALTER TABLE posts RENAME TO articles;",
            // Seen through the foreign keys of two other tables.
            "ALTER TABLE users RENAME COLUMN id TO uid;",
            // Seen through a column's type and default.
            "ALTER TYPE mood RENAME TO feeling_kind;",
            "ALTER TYPE feeling_kind ADD VALUE 'happy';",
            "ALTER DOMAIN posint RENAME TO positive;",
            // Seen through a column default.
            "ALTER SEQUENCE posts_id_seq RENAME TO article_ids;",
            // Seen through a partition.
            "ALTER TABLE parent RENAME TO whole;",
            "ALTER TABLE articles SET SCHEMA extra;",
            "CREATE INDEX tmp_idx ON users (email); DROP INDEX tmp_idx;",
            "CREATE TABLE t1 (id int PRIMARY KEY, u bigint REFERENCES users (uid)); \
             CREATE INDEX t1_u ON t1 (u);",
            "DROP INDEX t1_u;",
            "ALTER TABLE t1 ADD COLUMN note text DEFAULT 'x' CHECK (note <> '');",
            "ALTER TABLE t1 DROP COLUMN note;",
            // Cascades drop constraints of other tables.
            "DROP TABLE users CASCADE;",
            "CREATE VIEW v1 AS SELECT id FROM t1; CREATE VIEW v2 AS SELECT id FROM v1;",
            "ALTER TABLE t1 RENAME COLUMN id TO ident;",
            "CREATE OR REPLACE VIEW v1 AS SELECT ident AS id, ident + 1 AS next FROM t1;",
            "DROP VIEW v1 CASCADE;",
            // Functions, procedures and triggers are owners: created, replaced, renamed,
            // moved and dropped, seen through the triggers and views that call them.
            "CREATE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1';",
            "CREATE OR REPLACE FUNCTION f(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1';",
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RETURN NEW; END $$;",
            "CREATE TRIGGER t1_touch BEFORE INSERT ON t1 FOR EACH ROW EXECUTE FUNCTION touch();",
            "CREATE OR REPLACE TRIGGER t1_touch BEFORE UPDATE ON t1 \
             FOR EACH ROW EXECUTE FUNCTION touch();",
            "ALTER FUNCTION touch() RENAME TO touched;",
            "CREATE FUNCTION g(int) RETURNS int LANGUAGE sql AS 'SELECT $1'; \
             CREATE VIEW vg AS SELECT g(1) AS x, f(2) AS y;",
            // A new overload with a default makes the view's call print as `public.g(1)`:
            // the view depends on the other g only.
            "CREATE FUNCTION g(int, int DEFAULT 0) RETURNS int LANGUAGE sql AS 'SELECT $1';",
            "ALTER FUNCTION g(int, int) RENAME TO g2;",
            "ALTER FUNCTION g2(int, int) RENAME TO g;",
            "DROP FUNCTION g(int, int);",
            "ALTER FUNCTION f(int) SET SCHEMA extra;",
            "CREATE PROCEDURE p1() LANGUAGE sql AS 'SELECT 1'; \
             ALTER PROCEDURE cleanup(integer) RENAME TO purge;",
            "DROP PROCEDURE p1(); DROP TRIGGER t1_touch ON t1;",
            "DROP FUNCTION touched() CASCADE;",
            // The driver cannot tell: a function named like one of PostgreSQL's own, a
            // schema, the search path, a lost log.
            "CREATE FUNCTION lower(varchar) RETURNS text LANGUAGE sql AS 'SELECT $1';",
            "ALTER SCHEMA extra RENAME TO more;",
            "SET search_path TO more, public; CREATE TABLE t2 (id int);",
            "RESET search_path; CREATE TABLE t3 (id int);",
            "DISCARD TEMP; CREATE TABLE t4 (id int);",
            "CREATE TABLE t5 (id int REFERENCES t1 (ident));",
            "CREATE TEMP TABLE scratch (id int); COMMENT ON TABLE t5 IS 'five';",
            "GRANT SELECT ON t5 TO PUBLIC;",
            // The foreign key's internal triggers on t1 go with t5.
            "DROP TABLE t5;",
            // Named on the parent only: the partition's part changes too.
            "ALTER TABLE whole DETACH PARTITION child;",
            "ALTER TABLE whole ATTACH PARTITION child FOR VALUES FROM (0) TO (5);",
            "CREATE INDEX whole_v ON whole (v);",
        ];
        let mut s = follow(&mut d, s, "SELECT 1;").await;
        for sql in steps {
            s = follow(&mut d, s, sql).await;
        }
        let reads = s.reads().expect("tracked");
        // Read whole: the first snapshot, and after the index created and dropped in one
        // step, the function named like a built-in, the schema and the lost log. (The
        // search_path a step sets is reset after it: the next snapshot is read under the
        // session's own.)
        assert_eq!(reads.whole, 5, "{reads:?}");
        // Every other step was read in part, a few owners each.
        assert_eq!(reads.partial, 42, "{reads:?}");
        assert!(reads.owners < 150, "{reads:?}");
    })
    .await;
}

/// A tenant's snapshot (`use_schema`) reads its own schema only, and holds there exactly what
/// the whole snapshot holds in that schema, every kind of object included; other tenants'
/// objects are not in it.
#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_snapshot_is_the_whole_one_in_its_schema() {
    use ferry_core::drift::in_schema;

    with_database("tenant", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        let tenant_schema = SNAPSHOT_SCHEMA
            .replace(
                "CREATE SCHEMA extra;",
                "CREATE SCHEMA extra; CREATE SCHEMA ten; SET search_path TO ten;",
            )
            .replace("public.users", "ten.users");
        d.execute(&tenant_schema, false).await.unwrap();
        d.execute(
            "RESET search_path; CREATE SCHEMA other; CREATE TABLE other.users (id int);",
            false,
        )
        .await
        .unwrap();
        let whole = d.snapshot().await.unwrap();
        let mut t = open(&url, "ten.ferry_migrations").await;
        t.use_schema("ten").unwrap();
        let tenant = t.snapshot().await.unwrap();
        assert!(
            tenant
                .objects()
                .all(|(_, name, _)| name.starts_with("ten.")),
            "{}",
            ferry_core::testkit::snapshot::listing(&tenant)
        );
        let (mine, expected) = (in_schema(&tenant, "ten"), in_schema(&whole, "ten"));
        assert!(
            mine.get("table", "users").is_some()
                && mine.get("trigger", "posts.posts_touch").is_some()
        );
        assert!(
            mine.differences(&expected).is_empty(),
            "{:?}",
            mine.differences(&expected)
        );
        assert_eq!(mine.len(), expected.len());
    })
    .await;
}

/// What a real application's migrations do to functions and triggers reads no snapshot
/// whole: replacing a trigger function, creating a trigger, altering and dropping a function,
/// re-creating a view, adding an enum value and taking it back. Each reads again the few
/// owners it changed.
#[tokio::test(flavor = "multi_thread")]
async fn replacing_functions_reads_no_snapshot_whole() {
    use ferry_core::testkit::snapshot::follow;

    with_database("replace", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        let s = d.snapshot().await.unwrap();
        let s = follow(&mut d, s, "SELECT 1;").await;
        let first = s.reads().expect("tracked");
        assert_eq!((first.whole, first.partial), (1, 1), "{first:?}");
        let steps = [
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN NEW.title := upper(NEW.title); RETURN NEW; END $$;",
            "CREATE TRIGGER posts_touch_again AFTER UPDATE ON posts \
             FOR EACH ROW EXECUTE FUNCTION touch();",
            "ALTER FUNCTION touch() SECURITY DEFINER;",
            "CREATE OR REPLACE VIEW recent AS SELECT p.id, p.title, u.email \
             FROM posts p JOIN users u ON u.id = p.user_id WHERE p.published;",
            "ALTER TYPE mood ADD VALUE 'glad';",
            // The value taken back: the type renamed, made again, the column moved to it,
            // the old one dropped (altered, then dropped, in one step).
            "ALTER TABLE users ALTER COLUMN feeling DROP DEFAULT; \
             ALTER TYPE mood RENAME TO mood_old; CREATE TYPE mood AS ENUM ('sad', 'ok'); \
             ALTER TABLE users ALTER COLUMN feeling TYPE mood USING feeling::text::mood, \
             ALTER COLUMN feeling SET DEFAULT 'ok'; DROP TYPE mood_old;",
            "CREATE OR REPLACE PROCEDURE cleanup(days integer) LANGUAGE sql AS \
             $$ DELETE FROM posts WHERE published $$;",
            "DROP TRIGGER posts_touch_again ON posts; DROP FUNCTION touch() CASCADE;",
        ];
        let mut s = s;
        for sql in steps {
            s = follow(&mut d, s, sql).await;
        }
        let reads = s.reads().expect("tracked");
        assert_eq!(
            (reads.whole, reads.partial),
            (1, 1 + steps.len() as u64),
            "{reads:?}"
        );
    })
    .await;
}

/// Without a superuser, no event triggers: the driver does not track changes, and every
/// snapshot is read whole (and is still right).
#[tokio::test(flavor = "multi_thread")]
async fn without_a_superuser_every_snapshot_is_read_whole() {
    use ferry_core::testkit::snapshot::follow;

    with_database("plainrole", |url| async move {
        let mut admin = open(&url, "ferry_migrations").await;
        let role = testing::unique_name("ferry_plain");
        admin
            .execute(
                &format!(
                    "CREATE ROLE {role} LOGIN NOSUPERUSER; GRANT ALL ON SCHEMA public TO {role};"
                ),
                false,
            )
            .await
            .unwrap();
        // Logged in as the role: a `SET ROLE` would not outlive its batch (the session is
        // reset after each).
        let (scheme, rest) = url.split_once("://").unwrap();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        let user_url = format!("{scheme}://{role}@{rest}");
        let mut d = open(&user_url, "ferry_migrations").await;
        assert!(!d.track_changes().await.unwrap());
        let s = d.snapshot().await.unwrap();
        let s = follow(&mut d, s, "CREATE TABLE t (id int PRIMARY KEY);").await;
        let s = follow(&mut d, s, "ALTER TABLE t RENAME TO u;").await;
        let reads = s.reads().expect("followed");
        assert_eq!((reads.whole, reads.partial), (3, 0), "{reads:?}");
        drop(d);
        admin
            .execute(&format!("DROP OWNED BY {role}; DROP ROLE {role};"), false)
            .await
            .unwrap();
    })
    .await;
}

/// Random walks through tables, foreign keys, indexes, views, column and table renames and
/// drops: after every step the snapshot read in part is the whole one.
#[tokio::test(flavor = "multi_thread")]
async fn tracked_snapshots_follow_random_changes() {
    use ferry_core::testkit::snapshot::wander_here;

    for seed in 1..=2 {
        with_database("wander", |url| async move {
            let mut d = open(&url, "ferry_migrations").await;
            let reads = wander_here(&mut d, ferry_core::sql::Dialect::Postgres, seed, 120).await;
            assert_eq!(reads.whole, 1, "seed {seed}: {reads:?}");
        })
        .await;
    }
}

/// `server::Server`: a name with quotes, a space and a semicolon is created, found, created
/// again (`false`), dropped and dropped again (`false`) as one identifier; `accepts_connections`
/// counts a missing database as a server that is up, and a closed port as not.
#[tokio::test(flavor = "multi_thread")]
async fn server_creates_and_drops_any_name() {
    use ferry_driver_postgres::server::{accepts_connections, Server};
    let name = format!("{} \"q\" 'x'; -- y", testing::unique_name("srv"));
    let admin = testing::admin_url();
    let server = Server::of_url(&admin).unwrap();
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(server.create_database(&name).await.unwrap());
    assert!(server.database_exists(&name).await.unwrap());
    assert!(!server.create_database(&name).await.unwrap());
    let missing = ferry_core::driver::url::with_database(&admin, "ferry_no_such_database").unwrap();
    assert_eq!(
        Server::of_url(&missing).unwrap().database(),
        "ferry_no_such_database"
    );
    accepts_connections(&missing).await.unwrap();
    assert!(server.drop_database(&name, false).await.unwrap());
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(!server.drop_database(&name, true).await.unwrap());
    let closed = "postgres://u@127.0.0.1:1/x?connect_timeout=3";
    assert_eq!(
        accepts_connections(closed).await.unwrap_err().kind,
        DriverErrorKind::Connect
    );
}

/// Each batch starts from the session the connection began with (SPEC §7): a `search_path`,
/// a role, a setting or a temporary table of one batch, run in a transaction with a row
/// change or outside one, is gone in the next, while the advisory lock stays held; the URL's
/// startup options (`options=-c ...`) are the starting state, not the server's defaults.
#[tokio::test(flavor = "multi_thread")]
async fn each_batch_starts_from_the_session_of_the_connection() {
    with_database("session", |url| async move {
        let joined = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{joined}options=-c%20work_mem%3D5MB");
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        d.lock(Duration::from_secs(5)).await.unwrap();
        let role = testing::unique_name("ferry_role");
        let change = |id: &str| {
            RowChange::Insert(TrackingRow {
                app_name: "app".into(),
                migration_id: id.into(),
                description: "d".into(),
                checksum: "c".into(),
                down_sql: None,
                applied_at: Utc::now(),
                duration_ms: 0,
                dirty: false,
            })
        };
        let changes = format!(
            "CREATE SCHEMA other; CREATE ROLE {role}; SET search_path TO other; \
             SET work_mem = '7MB'; CREATE TEMP TABLE scratch (id int); SET ROLE {role};"
        );
        d.execute_in_transaction(&changes, &change("1")).await.unwrap();
        let state = "SELECT current_setting('search_path') || ' ' || current_setting('work_mem') \
                     || ' ' || (current_user = session_user) || ' ' || (SELECT count(*) FROM pg_class \
                     WHERE relnamespace = pg_my_temp_schema())";
        assert_eq!(d.query_column(state).await.unwrap(), ["\"$user\", public 5MB true 0"]);
        // Outside a transaction, also after a failure.
        let err = d
            .execute(
                &format!("SET search_path TO other; SET ROLE {role}; SELECT 1/0;"),
                true,
            )
            .await
            .expect_err("division by zero");
        assert_eq!(err.sqlstate.as_deref(), Some("22012"), "{err}");
        assert_eq!(d.query_column(state).await.unwrap(), ["\"$user\", public 5MB true 0"]);
        let holder = d.lock_holder().await.unwrap();
        assert!(holder.is_some(), "the advisory lock is still held");
        d.unlock().await.unwrap();
        d.execute(&format!("DROP ROLE {role}"), true).await.unwrap();
    })
    .await;
}
