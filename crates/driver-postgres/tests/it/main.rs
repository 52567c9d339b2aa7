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
use ferry_core::scratch::with_scratch_database;
use ferry_core::testkit::net;
use ferry_core::testkit::{run_conformance, run_lease_conformance, DriverFactory};
use ferry_core::{
    BoxFuture, Driver, DriverErrorKind, LockMechanism, RowChange, TableName, TrackingRow,
};
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
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
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
        if !std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
            eprintln!("no local socket: unix socket case not run");
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
            let sock = format!("postgresql://postgres@/{db}?host=/var/run/postgresql{mode}");
            let mut d = connect(&sock, TableName::default()).await.unwrap();
            d.ensure_table().await.unwrap();
        }
        let err = connect(
            "postgresql://postgres:s3cret@/ferry_no_such_db?host=/var/run/postgresql",
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(
            err.message.contains("/var/run/postgresql"),
            "{}",
            err.message
        );
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
