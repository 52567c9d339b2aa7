//! Integration tests of the MySQL/MariaDB driver against a live server
//! (`FERRY_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
//!
//! The conformance suite of `ferry_core::testkit` checks the `Driver` contract; the tests
//! here check what is MySQL's own: multi-statement batches (error numbers, the failing
//! statement's line, draining), procedures and triggers, databases as schemas, `GET_LOCK`,
//! connection errors, `ssl-mode`, unix sockets, the UTC session, and the schema snapshot with
//! the owners it reads again after a change (each tracked snapshot is checked against a whole
//! read).
//!
//! Every test creates its own database and drops it at the end. An unreachable server fails
//! the tests: nothing is skipped.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use ferry_core::driver::{BoxFuture, RowChange, TrackingRow};
use ferry_core::scratch::with_scratch_database;
use ferry_core::testkit::net;
use ferry_core::testkit::{run_conformance, run_lease_conformance, DriverFactory};
use ferry_core::{Driver, DriverErrorKind, TableName};
use ferry_driver_mysql::{connect, testing, MysqlDriver};
use mysql_async::prelude::Queryable;

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
async fn open(url: &str, table: &str) -> MysqlDriver {
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
        checksum: "a".repeat(64),
        down_sql: Some(String::new()),
        applied_at: Utc::now(),
        duration_ms: 12345,
        dirty: false,
    }
}

/// A plain client connection, for looking at the database behind the driver's back.
async fn raw(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).expect("plain URL"))
        .await
        .expect("raw connection")
}

/// `SELECT` returning one number, on a connection of its own.
async fn count(url: &str, sql: &str) -> i64 {
    let mut conn = raw(url).await;
    let n: Option<i64> = conn.query_first(sql).await.expect("count query");
    conn.disconnect().await.unwrap();
    n.unwrap_or(-1)
}

/// `url` with `extra` appended to its query string.
fn with_param(url: &str, extra: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{extra}")
}

mod client;

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    with_database("conf", |url| async move {
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
        assert_eq!(d.backend(), "mysql");
        let caps = d.capabilities();
        assert!(!caps.transactional_ddl);
        assert_eq!(caps.dialect, ferry_core::sql::Dialect::MySql);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_statement_reports_code_line_and_drains() {
    with_database("batch", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        let sql = "CREATE TABLE first_t (id INT);\n\nINSERT INTO no_such_table\n  VALUES (1);\nCREATE TABLE third_t (id INT);\n";
        let err = d.execute(sql, false).await.expect_err("second statement fails");
        assert_eq!(err.kind, DriverErrorKind::Query);
        assert_eq!(err.code.as_deref(), Some("1146"), "{err:?}");
        assert_eq!(err.sqlstate.as_deref(), Some("42S02"), "{err:?}");
        assert!(err.message.contains("no_such_table"), "{err:?}");
        assert_eq!(err.line, Some(3), "line of the failing statement");
        // The connection is clean: the next query gets its own result, not the old error.
        d.execute("SELECT 1; SELECT 2, 3; DO 1", false)
            .await
            .expect("next batch on the same connection");
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'first_t'").await,
            1
        );
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'third_t'").await,
            0,
            "statements after the failure do not run"
        );

        // A syntax error after statements returning rows.
        let sql = "SELECT 1 UNION SELECT 2;\n-- a comment; with a semicolon\nSELECT 'a;b';\nSELEC oops;\nSELECT 3;";
        let err = d.execute(sql, false).await.expect_err("syntax error");
        assert_eq!(err.code.as_deref(), Some("1064"), "{err:?}");
        assert_eq!(err.sqlstate.as_deref(), Some("42000"));
        assert_eq!(err.line, Some(4));
        // The first statement failing.
        let err = d.execute("\n\nDROP TABLE nope_t;\nSELECT 1;", false).await.unwrap_err();
        assert_eq!((err.code.as_deref(), err.line), (Some("1051"), Some(3)));
        d.ensure_table().await.expect("driver works after errors");
        assert!(d.applied(None).await.unwrap().is_empty());
        // In a transaction, the line of the failing statement too.
        let err = d
            .execute_in_transaction(
                "INSERT INTO first_t VALUES (1);\nINSERT INTO first_t VALUES (1, 2);",
                &RowChange::Insert(row("app", "1")),
            )
            .await
            .expect_err("column count mismatch");
        assert_eq!((err.code.as_deref(), err.line), (Some("1136"), Some(2)), "{err:?}");
        // Blank SQL is not sent.
        d.execute("-- nothing\n/* at all */ ;\n", false).await.expect("blank batch");
        d.execute("", true).await.expect("empty batch");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn procedures_and_triggers_run_as_written() {
    with_database("proc", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        let sql = "\
CREATE TABLE items (id INT PRIMARY KEY, n INT NOT NULL);
CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(100));
CREATE PROCEDURE add_item(IN x INT)
BEGIN
  INSERT INTO items VALUES (x, x * 2);
  INSERT INTO audit (msg) VALUES (CONCAT('added; ', x));
END;
CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW
BEGIN
  IF NEW.n > 10 THEN
    INSERT INTO audit (msg) VALUES ('big');
  END IF;
END;
CALL add_item(7);
CALL add_item(2);
";
        d.execute(sql, false).await.expect("procedure and trigger");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM items").await, 2);
        assert_eq!(count(&url, "SELECT COUNT(*) FROM audit").await, 3);
        assert_eq!(count(&url, "SELECT COUNT(*) FROM audit WHERE msg = 'big'").await, 1);
        d.execute("DROP TRIGGER items_ai;\nDROP PROCEDURE add_item;", false)
            .await
            .expect("drop them");
        // An error after a procedure definition points at the right line.
        let sql = "CREATE PROCEDURE p2()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND;\nINSERT INTO missing_t VALUES (1);";
        let err = d.execute(sql, false).await.unwrap_err();
        assert_eq!((err.code.as_deref(), err.line), (Some("1146"), Some(6)), "{err:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn write_all_is_one_transaction_and_keeps_every_value() {
    with_database("write_all", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        d.write(&RowChange::Insert(row("a", "1"))).await.unwrap();
        // Texts a literal must quote right: quotes, a backslash (bound instead), a `?`.
        let mut odd = row("a", "2");
        odd.description = "it's a \"quoted\" ? and a \\ backslash".into();
        odd.down_sql = Some("DROP TABLE `x?`; -- it's".into());
        let mut plain = row("a", "3");
        plain.description = "it's plain? yes".into();
        plain.down_sql = None;
        plain.dirty = true;
        let clean_1 = RowChange::MarkClean {
            app_name: "a".into(),
            migration_id: "1".into(),
            duration_ms: Some(7),
        };
        for new in [&odd, &plain] {
            d.write_all(&[clean_1.clone(), RowChange::Insert(new.clone())])
                .await
                .unwrap();
        }
        let rows = d.applied(Some("a")).await.unwrap();
        let got: Vec<_> = rows.iter().map(|r| r.row.clone()).collect();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].duration_ms, 7);
        for (got, want) in got[1..].iter().zip([&odd, &plain]) {
            assert_eq!(got.description, want.description);
            assert_eq!(got.down_sql, want.down_sql);
            assert_eq!(got.dirty, want.dirty);
            assert_eq!(got.checksum, want.checksum);
            assert_eq!(
                got.applied_at.timestamp_micros(),
                want.applied_at.timestamp_micros()
            );
        }
        // All or nothing: the duplicate fails the batch, and the clean before it is undone.
        d.write(&RowChange::MarkDirty {
            app_name: "a".into(),
            migration_id: "1".into(),
        })
        .await
        .unwrap();
        let failed = d
            .write_all(&[clean_1.clone(), RowChange::Insert(plain.clone())])
            .await;
        assert!(failed.is_err(), "a duplicate row must fail write_all");
        let rows = d.applied(Some("a")).await.unwrap();
        assert_eq!(rows.len(), 3);
        assert!(
            rows[0].dirty,
            "the clean in the failed batch was rolled back"
        );
        // The connection is usable afterwards, outside any transaction.
        d.write(&clean_1).await.unwrap();
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM ferry_migrations WHERE dirty").await,
            1
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn write_then_execute_commits_the_rows_before_the_sql_and_tells_which_failed() {
    with_database("write_exec", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        let mut dirty = row("a", "1");
        dirty.dirty = true;
        // Both run: the row, then the tables.
        let ran = d
            .write_then_execute(
                &[RowChange::Insert(dirty.clone())],
                "CREATE TABLE t1 (id INT);\nCREATE TABLE t2 (id INT);",
                false,
            )
            .await;
        assert!(matches!(ran, Ok(Ok(()))), "{ran:?}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM t2").await, 0);
        // The SQL fails at its third statement (line 4): the inner error names that line,
        // the rows before it are committed, the statements before it ran.
        let clean_1 = RowChange::MarkClean {
            app_name: "a".into(),
            migration_id: "1".into(),
            duration_ms: Some(3),
        };
        let mut dirty_2 = row("a", "2");
        dirty_2.dirty = true;
        let ran = d
            .write_then_execute(
                &[clean_1.clone(), RowChange::Insert(dirty_2.clone())],
                "CREATE TABLE t3 (id INT);\nCREATE TABLE t4 (id INT);\n\nINSERT INTO missing VALUES (1);\nCREATE TABLE t5 (id INT);",
                false,
            )
            .await;
        let inner = ran.expect("the rows were written").unwrap_err();
        assert_eq!(inner.line, Some(4), "{inner}");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM t4").await, 0);
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 't5'").await,
            0
        );
        let rows = d.applied(Some("a")).await.unwrap();
        let state: Vec<_> = rows.iter().map(|r| (r.migration_id.as_str(), r.dirty)).collect();
        assert_eq!(state, [("1", false), ("2", true)]);
        // A failing row change: the outer error, nothing of the batch kept, the SQL not run.
        let ran = d
            .write_then_execute(
                &[
                    RowChange::MarkClean {
                        app_name: "a".into(),
                        migration_id: "2".into(),
                        duration_ms: None,
                    },
                    RowChange::Insert(dirty_2.clone()),
                ],
                "CREATE TABLE t6 (id INT);",
                false,
            )
            .await;
        assert!(ran.is_err(), "a duplicate row must fail: {ran:?}");
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 't6'").await,
            0
        );
        assert!(d.applied(Some("a")).await.unwrap()[1].dirty);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_qualified_table() {
    with_database("schema", |url| async move {
        let other = testing::unique_name("other");
        let table = TableName::parse(&format!("{other}.tracking")).unwrap();
        let mut d = connect(&url, table).await.unwrap();
        assert!(!d.table_exists().await.unwrap());
        d.ensure_table()
            .await
            .expect("creates the database and the table");
        assert!(d.table_exists().await.unwrap());
        d.write(&RowChange::Insert(row("x", "1"))).await.unwrap();
        assert_eq!(d.applied(None).await.unwrap().len(), 1);
        assert_eq!(d.lock_name(), format!("ferry:{other}.tracking"));
        // The default table in the URL's database is a different one.
        let mut plain = open(&url, "ferry_migrations").await;
        assert!(!plain.table_exists().await.unwrap());
        drop(d);
        testing::drop_database(&other).await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_timeout_rounds_up_to_seconds() {
    with_database("lock", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut b = open(&url, "ferry_migrations").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        // `GET_LOCK` waits whole seconds: 1.5 s becomes 2 s, not 1 s.
        let started = Instant::now();
        let err = b.lock(Duration::from_millis(1500)).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1500), "{waited:?}");
        a.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_is_per_tracking_table() {
    with_database("locktable", |url| async move {
        let mut a = open(&url, "ferry_migrations").await;
        let mut other = open(&url, "other_table").await;
        a.lock(Duration::from_secs(1)).await.unwrap();
        other.lock(Duration::ZERO).await.expect("independent lock");
        other.unlock().await.unwrap();
        a.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_host_and_database_not_password() {
    with_database("connerr", |url| async move {
        // Unknown database.
        let missing = testing::unique_name("missing");
        let bad_db = ferry_core::driver::url::with_database(&url, &missing).unwrap();
        let err = connect(&bad_db, TableName::default())
            .await
            .expect_err("unknown database");
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{err:?}");
        assert_eq!(err.code.as_deref(), Some("1049"), "{err:?}");
        // The message first, the codes after (SPEC §16.10).
        assert!(
            err.to_string().ends_with("(error 1049, SQLSTATE 42000)"),
            "{err}"
        );
        assert!(
            err.message.starts_with("cannot connect to MySQL at "),
            "{err}"
        );
        assert!(
            err.message.contains(&format!("database \"{missing}\"")),
            "{err}"
        );
        assert!(err.message.contains("Unknown database"), "{err}");
        assert!(!err.message.contains('\n'));

        // Refused connection, with a password that must not leak.
        let refused = "mysql://root:s3cret@127.0.0.1:1/app_db?ssl-mode=DISABLED";
        let err = connect(refused, TableName::default())
            .await
            .expect_err("refused");
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err:?}");
        assert!(err.message.contains("127.0.0.1:1"), "{err}");
        assert!(err.message.contains("\"app_db\""), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(!err.message.contains('\n'));
        // The same with the default ssl-mode (PREFERRED falls back, still refused).
        let err = connect(
            "mariadb://root:s3cret@127.0.0.1:1/app_db",
            TableName::default(),
        )
        .await
        .expect_err("refused");
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(!err.to_string().contains("s3cret"), "{err}");

        // Wrong password on the real server.
        let wrong = url.replacen("://root@", "://root:s3cret@", 1);
        if wrong != url {
            let err = connect(&wrong, TableName::default())
                .await
                .expect_err("wrong password");
            assert_eq!(err.kind, DriverErrorKind::Connect, "{err:?}");
            assert!(err.message.contains("Access denied"), "{err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }

        // A bad URL is a configuration error, also without the password.
        let err = connect(
            "mysql://root:s3cret@127.0.0.1/x?ssl-mode=maybe",
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = connect("postgres://root:s3cret@127.0.0.1/x", TableName::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(!err.to_string().contains("s3cret"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmodes() {
    with_database("ssl", |url| async move {
        // ssl-mode=DISABLED, any case.
        for mode in ["DISABLED", "disabled", "Preferred"] {
            let mut d = open(
                &with_param(&url, &format!("ssl-mode={mode}")),
                "ferry_migrations",
            )
            .await;
            d.ensure_table()
                .await
                .unwrap_or_else(|e| panic!("ssl-mode={mode}: {e}"));
        }

        // ssl-mode=REQUIRED: works when the server has TLS, else a clean Connect error.
        let required = with_param(&url, "ssl-mode=REQUIRED");
        match connect(&required, TableName::default()).await {
            Ok(mut d) => {
                // The session is really encrypted.
                d.execute(
                    "CREATE TABLE tls_probe AS SELECT VARIABLE_VALUE AS v \
                     FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'",
                    false,
                )
                .await
                .expect("TLS connection works");
                let mut plain = raw(&url).await;
                let cipher: Option<String> =
                    plain.query_first("SELECT v FROM tls_probe").await.unwrap();
                plain.disconnect().await.unwrap();
                assert!(
                    cipher.is_some_and(|c| !c.is_empty()),
                    "ssl-mode=REQUIRED without TLS"
                );
                // A server certificate that no trusted root signed fails full verification.
                let strict = with_param(&url, "ssl-mode=VERIFY_IDENTITY");
                if let Err(e) = connect(&strict, TableName::default()).await {
                    assert!(e.message.contains("TLS"), "{e}");
                    assert_eq!(e.kind, DriverErrorKind::Connect, "{e:?}");
                    assert!(!e.message.contains('\n'), "{e}");
                }
            }
            Err(e) => {
                assert_eq!(e.kind, DriverErrorKind::Connect, "{e:?}");
                assert!(e.message.starts_with("cannot connect to MySQL at "), "{e}");
                assert!(!e.message.contains('\n'), "{e}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_host() {
    with_database("unix", |url| async move {
        let mut plain = raw(&url).await;
        let socket: Option<String> = plain.query_first("SELECT @@socket").await.unwrap();
        plain.disconnect().await.unwrap();
        let socket = socket.expect("server socket");
        if !std::path::Path::new(&socket).exists() {
            panic!("the server's socket {socket} is not on this machine");
        }
        let via_socket = with_param(&url, &format!("socket={socket}"));
        let mut d = open(&via_socket, "ferry_migrations").await;
        d.ensure_table().await.expect("socket connection works");
        assert!(d.table_exists().await.unwrap());
        let err = connect(
            &with_param(&url, "socket=/nonexistent/ferry.sock"),
            TableName::default(),
        )
        .await
        .expect_err("missing socket");
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(
            err.message.contains("socket /nonexistent/ferry.sock"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_scheme_and_utc_session() {
    with_database("session", |url| async move {
        let maria = url.replacen("mysql://", "mariadb://", 1);
        let mut d = open(&maria, "ferry_migrations").await;
        d.execute("SELECT 1", false)
            .await
            .expect("mariadb:// works");
        // The session runs in UTC.
        d.execute(
            "CREATE TABLE tz_probe AS SELECT @@session.time_zone AS tz",
            false,
        )
        .await
        .unwrap();
        let mut plain = raw(&url).await;
        let tz: Option<String> = plain.query_first("SELECT tz FROM tz_probe").await.unwrap();
        plain.disconnect().await.unwrap();
        assert_eq!(tz.as_deref(), Some("+00:00"));
    })
    .await;
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
        format!("mysql://u:pw-hidden@127.0.0.1:{port}/db?connect_timeout={timeout}")
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
            format!("{url}{join}connect_timeout=2&ssl-mode=DISABLED")
        };
        net::silence_and_cut_end_the_call(&boxed, &url, server, &proxied, "SELECT SLEEP(3);").await;
    })
    .await;
}

/// A schema with every kind of object the snapshot reads on MySQL and MariaDB.
const SNAPSHOT_SCHEMA: &str = "
CREATE TABLE users (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(200) NOT NULL,
    name VARCHAR(100) COLLATE utf8mb4_bin,
    mood ENUM('sad', 'ok') DEFAULT 'ok',
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    lower_email VARCHAR(200) AS (LOWER(email)) STORED,
    note TEXT,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_name_check CHECK (CHAR_LENGTH(name) > 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE posts (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    title VARCHAR(200) NOT NULL DEFAULT 'untitled',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE INDEX posts_title_idx ON posts (title DESC, published);
CREATE INDEX posts_prefix_idx ON posts (title(10));
CREATE FULLTEXT INDEX posts_ft ON posts (title);
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
CREATE TRIGGER posts_touch BEFORE INSERT ON posts FOR EACH ROW
BEGIN
    SET NEW.title = TRIM(NEW.title);
END;
CREATE PROCEDURE cleanup(IN days INT, OUT n INT)
BEGIN
    DELETE FROM posts WHERE NOT published;
    SET n = 0;
END;
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
";

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
        let mut conn = raw(&url).await;
        let version: String = conn.query_first("SELECT VERSION()").await.unwrap().unwrap();
        conn.disconnect().await.unwrap();
        let mariadb = version.contains("MariaDB");
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        if mariadb {
            d.execute("CREATE SEQUENCE counter START WITH 10 INCREMENT BY 5;", false)
                .await
                .unwrap();
        }
        let s = d.snapshot().await.unwrap();
        d.unlock().await.unwrap();
        assert_left_out(&s, "ferry_migrations");
        assert_left_out(&s, "ferry_migrations_lock");
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'ferry%'").await,
            2
        );

        // MySQL 8 shows `int`, MariaDB `int(11)`.
        let int = if mariadb { "int(11)" } else { "int" };
        let bigint = if mariadb { "bigint(20)" } else { "bigint" };
        let p = |kind: &str, name: &str, prop: &str| property(&s, kind, name, prop);
        assert_eq!(p("table", "users", "engine"), Some("innodb"));
        assert_eq!(p("column", "users.id", "type"), Some(bigint));
        assert_eq!(p("column", "users.id", "identity"), Some("auto_increment"));
        assert_eq!(p("column", "users.id", "nullable"), Some("no"));
        assert_eq!(p("column", "users.email", "type"), Some("varchar(200)"));
        assert_eq!(p("column", "users.email", "collation"), None);
        assert_eq!(p("column", "users.name", "collation"), Some("utf8mb4_bin"));
        assert_eq!(p("column", "users.name", "nullable"), Some("yes"));
        assert_eq!(p("column", "users.name", "default"), None);
        assert_eq!(p("column", "users.mood", "type"), Some("enum('sad','ok')"));
        assert!(p("column", "users.created", "on update").is_some_and(|u| u.starts_with("current_timestamp")));
        assert!(p("column", "users.lower_email", "generated").is_some_and(|g| g.contains("email")));
        assert_eq!(p("column", "users.lower_email", "extra"), Some("stored generated"));
        assert_eq!(p("primary key", "users", "columns"), Some("id"));
        assert_eq!(p("unique constraint", "users.users_email_key", "columns"), Some("email"));
        assert_eq!(p("unique constraint", "users.users_email_key", "table"), Some("users"));
        assert!(s.get("index", "users.users_email_key").is_none());
        assert!(s.get("index", "users.PRIMARY").is_none());
        assert_eq!(p("foreign key", "posts.posts_user_fk", "target"), Some("users(id)"));
        assert_eq!(p("foreign key", "posts.posts_user_fk", "columns"), Some("user_id"));
        assert_eq!(p("foreign key", "posts.posts_user_fk", "on delete"), Some("cascade"));
        assert!(p("check constraint", "users.users_name_check", "expression")
            .is_some_and(|e| e.contains("name")));
        assert_eq!(
            p("index", "posts.posts_title_idx", "columns"),
            Some("title desc, published")
        );
        assert_eq!(p("index", "posts.posts_title_idx", "method"), Some("btree"));
        assert_eq!(p("index", "posts.posts_title_idx", "unique"), Some("no"));
        assert_eq!(p("index", "posts.posts_title_idx", "table"), Some("posts"));
        assert_eq!(p("index", "posts.posts_prefix_idx", "columns"), Some("title(10)"));
        assert_eq!(p("index", "posts.posts_ft", "method"), Some("fulltext"));
        assert!(p("view", "recent", "definition").is_some_and(|v| v.starts_with("select `posts`.`id`")));
        assert_eq!(p("trigger", "posts.posts_touch", "table"), Some("posts"));
        assert_eq!(p("trigger", "posts.posts_touch", "timing"), Some("before"));
        assert_eq!(p("trigger", "posts.posts_touch", "event"), Some("insert"));
        assert_eq!(
            p("trigger", "posts.posts_touch", "definition"),
            Some("BEGIN SET NEW.title = TRIM(NEW.title); END")
        );
        let cleanup = format!("cleanup({int}, {int})");
        assert_eq!(
            p("procedure", &cleanup, "parameters"),
            Some(format!("IN days {int}, OUT n {int}").as_str())
        );
        let twice = format!("twice({int})");
        assert_eq!(p("function", &twice, "returns"), Some(int));
        assert_eq!(p("function", &twice, "definition"), Some("RETURN x * 2"));
        assert_eq!(p("function", &twice, "deterministic"), Some("yes"));
        if mariadb {
            assert_eq!(p("sequence", "counter", "start"), Some("10"));
            assert_eq!(p("sequence", "counter", "increment"), Some("5"));
            assert_eq!(p("sequence", "counter", "cycle"), Some("no"));
            assert!(s.get("table", "counter").is_none());
            assert!(s.get("column", "counter.start_value").is_none());
        }

        // Nothing changed, nothing differs; data is not schema.
        let s = assert_change(&mut d, s, "SELECT 1;", &[]).await;
        let data = if mariadb {
            "INSERT INTO users (email) VALUES ('a@b.c'); SELECT NEXTVAL(counter);"
        } else {
            "INSERT INTO users (email) VALUES ('a@b.c');"
        };
        let s = assert_change(&mut d, s, data, &[]).await;

        // Each change is seen, and only it.
        let s = assert_change(
            &mut d,
            s,
            "DROP INDEX posts_title_idx ON posts;",
            &[("index", "posts.posts_title_idx", "exists")],
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
            "ALTER TABLE posts MODIFY published BOOLEAN NULL DEFAULT FALSE;",
            &[("column", "posts.published", "nullable")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts DROP FOREIGN KEY posts_user_fk;\n\
             ALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) \
             REFERENCES users (id) ON DELETE RESTRICT;",
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
            "ALTER TABLE posts ADD COLUMN body TEXT;",
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
            "ALTER TABLE users MODIFY mood ENUM('sad', 'ok', 'happy') DEFAULT 'ok';",
            &[("column", "users.mood", "type")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "DROP TRIGGER posts_touch;",
            &[("trigger", "posts.posts_touch", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "DROP PROCEDURE cleanup;",
            &[("procedure", &cleanup, "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "DROP FUNCTION twice;\nCREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 3;",
            &[("function", &twice, "definition")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE users MODIFY name VARCHAR(100);",
            &[("column", "users.name", "collation")],
        )
        .await;
        if mariadb {
            assert_change(
                &mut d,
                s,
                "ALTER SEQUENCE counter INCREMENT BY 2;",
                &[("sequence", "counter", "increment")],
            )
            .await;
        }
    })
    .await;
}

/// Run `sql` on `d` (tracking changes) and return the owners it says changed.
async fn changed_by(d: &mut MysqlDriver, sql: &str) -> Option<Vec<String>> {
    d.execute(sql, false)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    d.changed_owners()
        .await
        .unwrap_or_else(|e| panic!("changed owners after {sql}: {e}"))
        .map(|owners| owners.into_iter().collect())
}

fn owners(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|n| (*n).to_owned()).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_owners_are_what_the_sql_names() {
    use ferry_core::snapshot::Tracker;

    with_database("changed", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        d.execute(
            "CREATE TABLE parent (id INT PRIMARY KEY);
             CREATE TABLE child (pid INT, CONSTRAINT child_fk FOREIGN KEY (pid) REFERENCES parent (id));
             CREATE TABLE MixedCase (Id INT);
             CREATE TRIGGER child_trg BEFORE INSERT ON child FOR EACH ROW SET NEW.pid = NEW.pid;
             CREATE FUNCTION MixedFn() RETURNS INT RETURN 1;
             CREATE PROCEDURE make_table() BEGIN CREATE TABLE made_by_call (a INT); END;",
            false,
        )
        .await
        .unwrap();
        assert!(d.track_changes().await.unwrap());
        let mut tracker = Tracker::start(&mut d).await.unwrap();
        tracker.take(&mut d).await.unwrap();

        // Nothing run, nothing changed; data names no owner it does not touch.
        assert_eq!(d.changed_owners().await.unwrap(), Some(Default::default()));
        assert_eq!(changed_by(&mut d, "SELECT 1 + 1;").await, owners(&[]));
        assert_eq!(
            changed_by(&mut d, "INSERT INTO parent VALUES (1);").await,
            owners(&["table:parent"])
        );
        assert_eq!(
            changed_by(&mut d, "ALTER TABLE child ADD COLUMN z INT;").await,
            owners(&["table:child"])
        );
        // The trigger's name alone names its table.
        assert_eq!(
            changed_by(&mut d, "DROP TRIGGER child_trg;").await,
            owners(&["table:child"])
        );
        // Routine names are case-insensitive, table names as the server stores them.
        assert_eq!(
            changed_by(&mut d, "DROP FUNCTION mixedfn;").await,
            owners(&["function:MixedFn"])
        );
        assert_eq!(
            changed_by(&mut d, "ALTER TABLE MixedCase ADD COLUMN x INT;").await,
            owners(&["table:MixedCase"])
        );
        // A rename names both names; the child follows from its part's depends_on.
        assert_eq!(
            changed_by(&mut d, "RENAME TABLE parent TO mother;").await,
            owners(&["table:mother", "table:parent"])
        );
        let parts = d.snapshot_parts(None).await.unwrap();
        assert_eq!(
            parts["table:child"].depends_on.iter().collect::<Vec<_>>(),
            ["table:mother"]
        );
        assert!(d.changed_owners().await.unwrap().is_some_and(|o| o.is_empty()));
        // Quoted names, whole.
        assert_eq!(
            changed_by(&mut d, "CREATE TABLE `odd ``name`` here` (a INT);").await,
            owners(&["table:odd `name` here"])
        );
        // What the text cannot show: unknown, once.
        assert_eq!(changed_by(&mut d, "CALL make_table();").await, None);
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, owners(&[]));
        assert_eq!(
            changed_by(&mut d, "EXECUTE IMMEDIATE CONCAT('DROP TABLE made_by', '_call');").await,
            None
        );
        assert_eq!(changed_by(&mut d, "SET @x = 'café';").await, None);
        // A failed batch still names what it named.
        assert!(d.execute("ALTER TABLE MixedCase ADD COLUMN y INT; DROP TABLE nowhere;", false).await.is_err());
        assert_eq!(d.changed_owners().await.unwrap(), Some(["table:MixedCase".to_owned()].into()));
        // A word that may be a statement's makes one answer unknown.
        assert_eq!(
            changed_by(&mut d, "ALTER TABLE MixedCase ADD COLUMN event INT;").await,
            None
        );
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, owners(&[]));
        // An event may run at any time: once one exists, nothing is known any more.
        assert_eq!(
            changed_by(&mut d, "CREATE EVENT e ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 DAY DO SELECT 1;").await,
            None
        );
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, None);
        d.execute("DROP EVENT e;", false).await.unwrap();
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, None);
        // Nor is anything tracked where the database holds an event.
        d.execute("CREATE EVENT e2 ON SCHEDULE AT CURRENT_TIMESTAMP + INTERVAL 1 DAY DO SELECT 1;", false)
            .await
            .unwrap();
        assert!(!d.track_changes().await.unwrap());
        assert_eq!(d.changed_owners().await.unwrap(), None);
        d.execute("DROP EVENT e2;", false).await.unwrap();
        assert!(d.track_changes().await.unwrap());
        // An event created by dynamic SQL is found all the same.
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, owners(&[]));
        assert_eq!(
            changed_by(
                &mut d,
                "EXECUTE IMMEDIATE CONCAT('CREATE EV', 'ENT e3 ON SCHEDULE AT \
                 CURRENT_TIMESTAMP + INTERVAL 1 DAY DO SELECT 1');"
            )
            .await,
            None
        );
        assert_eq!(changed_by(&mut d, "SELECT 1;").await, None);
    })
    .await;
}

/// What a real application's migrations do to routines, triggers, views and enums reads no
/// snapshot whole: each step reads again the few owners its text names.
#[tokio::test(flavor = "multi_thread")]
async fn replacing_routines_reads_no_snapshot_whole() {
    use ferry_core::testkit::snapshot::follow;

    with_database("routines", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        d.execute(
            "CREATE TABLE parent (id INT PRIMARY KEY, status ENUM('a', 'b'));
             CREATE TABLE child (id INT PRIMARY KEY, pid INT, name VARCHAR(20),
               CONSTRAINT child_fk FOREIGN KEY (pid) REFERENCES parent (id));
             CREATE VIEW kids AS SELECT id FROM child;",
            false,
        )
        .await
        .unwrap();
        let s = d.snapshot().await.unwrap();
        let s = follow(&mut d, s, "SELECT 1;").await;
        let steps = [
            "CREATE PROCEDURE purge_kids() DELETE FROM child WHERE id < 0;",
            "DROP PROCEDURE purge_kids; CREATE PROCEDURE purge_kids() BEGIN DELETE FROM child WHERE pid IS NULL; END;",
            "CREATE FUNCTION kids_count() RETURNS INT DETERMINISTIC READS SQL DATA \
             RETURN (SELECT COUNT(*) FROM child);",
            "CREATE TRIGGER child_touch BEFORE UPDATE ON child FOR EACH ROW SET NEW.name = NEW.name;",
            "DROP TRIGGER child_touch; \
             CREATE TRIGGER child_touch BEFORE INSERT ON child FOR EACH ROW SET NEW.name = 'x';",
            "CREATE OR REPLACE VIEW kids AS SELECT c.id, p.status, kids_count() AS n \
             FROM child c JOIN parent p ON p.id = c.pid;",
            "ALTER TABLE parent MODIFY COLUMN status ENUM('a', 'b', 'c');",
            "DROP FUNCTION kids_count; DROP PROCEDURE purge_kids; DROP TRIGGER child_touch;",
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

#[tokio::test(flavor = "multi_thread")]
async fn tracked_snapshots_stay_exact() {
    use ferry_core::testkit::snapshot::assert_change;

    with_database("tracked", |url| async move {
        let mut d = open(&url, "ferry_migrations").await;
        d.ensure_table().await.unwrap();
        d.execute(
            "CREATE TABLE parent (id INT PRIMARY KEY);
             CREATE TABLE child (pid INT, CONSTRAINT child_fk FOREIGN KEY (pid) REFERENCES parent (id));
             CREATE VIEW kids AS SELECT pid FROM child;
             CREATE PROCEDURE make_table() BEGIN CREATE TABLE made_by_call (a INT); END;",
            false,
        )
        .await
        .unwrap();
        let s = d.snapshot().await.unwrap();

        // Renaming a parent table or its column rewrites the child's foreign key.
        let s = assert_change(&mut d, s, "RENAME TABLE parent TO mother;", &[
            ("column", "mother.id", "exists"),
            ("column", "parent.id", "exists"),
            ("foreign key", "child.child_fk", "target"),
            ("primary key", "mother", "exists"),
            ("primary key", "parent", "exists"),
            ("table", "mother", "exists"),
            ("table", "parent", "exists"),
        ])
        .await;
        let s = assert_change(&mut d, s, "ALTER TABLE mother RENAME COLUMN id TO mid;", &[
            ("column", "mother.id", "exists"),
            ("column", "mother.mid", "exists"),
            ("foreign key", "child.child_fk", "target"),
            ("primary key", "mother", "columns"),
        ])
        .await;
        let s = assert_change(&mut d, s, "ALTER TABLE mother RENAME TO parent;", &[
            ("column", "mother.mid", "exists"),
            ("column", "parent.mid", "exists"),
            ("foreign key", "child.child_fk", "target"),
            ("primary key", "mother", "exists"),
            ("primary key", "parent", "exists"),
            ("table", "mother", "exists"),
            ("table", "parent", "exists"),
        ])
        .await;
        // A view over a renamed table keeps its text.
        let s = assert_change(&mut d, s, "RENAME TABLE child TO children;", &[
            ("column", "child.pid", "exists"),
            ("column", "children.pid", "exists"),
            ("foreign key", "child.child_fk", "exists"),
            ("foreign key", "children.child_fk", "exists"),
            ("index", "child.child_fk", "exists"),
            ("index", "children.child_fk", "exists"),
            ("table", "child", "exists"),
            ("table", "children", "exists"),
        ])
        .await;
        // A trigger dropped by its name only, created and dropped in one batch, one on a
        // renamed table.
        let s = assert_change(
            &mut d,
            s,
            "CREATE TRIGGER kid_trg BEFORE INSERT ON children FOR EACH ROW SET NEW.pid = NEW.pid;",
            &[("trigger", "children.kid_trg", "exists")],
        )
        .await;
        let s = assert_change(&mut d, s, "RENAME TABLE children TO child;", &[
            ("column", "child.pid", "exists"),
            ("column", "children.pid", "exists"),
            ("foreign key", "child.child_fk", "exists"),
            ("foreign key", "children.child_fk", "exists"),
            ("index", "child.child_fk", "exists"),
            ("index", "children.child_fk", "exists"),
            ("table", "child", "exists"),
            ("table", "children", "exists"),
            ("trigger", "child.kid_trg", "exists"),
            ("trigger", "children.kid_trg", "exists"),
        ])
        .await;
        let s = assert_change(&mut d, s, "DROP TRIGGER kid_trg;", &[
            ("trigger", "child.kid_trg", "exists"),
        ])
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE TRIGGER brief BEFORE INSERT ON child FOR EACH ROW SET NEW.pid = 1;
             DROP TRIGGER brief;
             CREATE VIEW brief_view AS SELECT 1 AS one;
             DROP VIEW brief_view;
             CREATE FUNCTION brief_fn() RETURNS INT RETURN 1;
             DROP FUNCTION brief_fn;",
            &[],
        )
        .await;
        // Quoted names with spaces, quotes, dots and backslashes; mixed case.
        let s = assert_change(
            &mut d,
            s,
            "CREATE TABLE `odd ``name`` here` (`a b` INT);
             CREATE TABLE `it's\\here` (a INT);
             CREATE TABLE MixedCase (Id INT);
             CREATE TABLE mixedcase (id INT);",
            &[
                ("column", "MixedCase.Id", "exists"),
                ("column", "it's\\here.a", "exists"),
                ("column", "mixedcase.id", "exists"),
                ("column", "odd `name` here.a b", "exists"),
                ("table", "MixedCase", "exists"),
                ("table", "it's\\here", "exists"),
                ("table", "mixedcase", "exists"),
                ("table", "odd `name` here", "exists"),
            ],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE `odd ``name`` here` ADD COLUMN c INT;
             ALTER TABLE `it's\\here` ADD COLUMN c INT;
             ALTER TABLE MixedCase MODIFY id BIGINT;",
            &[
                // MODIFY renames the column as written, `Id` to `id`.
                ("column", "MixedCase.Id", "exists"),
                ("column", "MixedCase.id", "exists"),
                ("column", "it's\\here.c", "exists"),
                ("column", "odd `name` here.c", "exists"),
            ],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "DROP TABLE `odd ``name`` here`, `it's\\here`, mixedcase;",
            &[
                ("column", "it's\\here.a", "exists"),
                ("column", "it's\\here.c", "exists"),
                ("column", "mixedcase.id", "exists"),
                ("column", "odd `name` here.a b", "exists"),
                ("column", "odd `name` here.c", "exists"),
                ("table", "it's\\here", "exists"),
                ("table", "mixedcase", "exists"),
                ("table", "odd `name` here", "exists"),
            ],
        )
        .await;
        // Copies of a table.
        let s = assert_change(&mut d, s, "CREATE TABLE child_like LIKE child;", &[
            ("column", "child_like.pid", "exists"),
            ("index", "child_like.child_fk", "exists"),
            ("table", "child_like", "exists"),
        ])
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE TABLE child_as AS SELECT pid FROM child;",
            &[("column", "child_as.pid", "exists"), ("table", "child_as", "exists")],
        )
        .await;
        // Several statements, one batch; an executed comment.
        let s = assert_change(
            &mut d,
            s,
            "CREATE TABLE m1 (a INT); CREATE TABLE m2 (b INT);
             DROP TABLE m1; ALTER TABLE m2 ADD c INT;
             /*!50001 DROP TABLE child_as */;",
            &[
                ("column", "child_as.pid", "exists"),
                ("column", "m2.b", "exists"),
                ("column", "m2.c", "exists"),
                ("table", "child_as", "exists"),
                ("table", "m2", "exists"),
            ],
        )
        .await;
        // Double-quoted names under ANSI_QUOTES, set in the same batch: the session's
        // `sql_mode` is put back after each batch. (Setting `sql_mode` makes the next
        // snapshot a whole read.)
        let s = assert_change(
            &mut d,
            s,
            "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES');\nCREATE TABLE \"dq name\" (a INT);",
            &[("column", "dq name.a", "exists"), ("table", "dq name", "exists")],
        )
        .await;
        // Back to the session's own `sql_mode`: double quotes make a string again.
        let s = assert_change(&mut d, s, "CREATE TABLE dq2 AS SELECT \"x\" AS a;", &[
            ("column", "dq2.a", "exists"),
            ("table", "dq2", "exists"),
        ])
        .await;
        // What the text does not show is read whole.
        let s = assert_change(&mut d, s, "CALL make_table();", &[
            ("column", "made_by_call.a", "exists"),
            ("table", "made_by_call", "exists"),
        ])
        .await;
        let s = assert_change(
            &mut d,
            s,
            "EXECUTE IMMEDIATE CONCAT('DROP TABLE made_by', '_call');",
            &[
                ("column", "made_by_call.a", "exists"),
                ("table", "made_by_call", "exists"),
            ],
        )
        .await;
        // Names outside ASCII: read whole, and still exact, also where an ASCII name names
        // them (routine names compare accent-insensitively: `cafe` is `café`).
        let s = assert_change(&mut d, s, "CREATE TABLE café (a INT);", &[
            ("column", "café.a", "exists"),
            ("table", "café", "exists"),
        ])
        .await;
        let s = assert_change(&mut d, s, "DROP TABLE café;", &[
            ("column", "café.a", "exists"),
            ("table", "café", "exists"),
        ])
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE FUNCTION café() RETURNS INT RETURN 1;",
            &[("function", "café()", "exists")],
        )
        .await;
        assert_change(&mut d, s, "DROP FUNCTION cafe;", &[
            ("function", "café()", "exists"),
        ])
        .await;
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
            let reads = wander_here(&mut d, ferry_core::sql::Dialect::MySql, seed, 120).await;
            assert_eq!(reads.whole, 1, "seed {seed}: {reads:?}");
        })
        .await;
    }
}

/// `server::Server`: a name with backticks, quotes and a space is created, found, created
/// again (`false`), dropped and dropped again (`false`) as one identifier; `accepts_connections`
/// counts a missing database as a server that is up, and a closed port as not.
#[tokio::test(flavor = "multi_thread")]
async fn server_creates_and_drops_any_name() {
    use ferry_driver_mysql::server::{accepts_connections, Server};
    let name = format!("{} `q` 'x\"", testing::unique_name("srv"));
    let admin = testing::admin_url();
    let server = Server::of_url(&admin).unwrap();
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(server.create_database(&name).await.unwrap());
    assert!(server.database_exists(&name).await.unwrap());
    assert!(!server.create_database(&name).await.unwrap());
    let missing = ferry_core::driver::url::with_database(&admin, "ferry_no_such_database").unwrap();
    assert_eq!(
        Server::of_url(&missing).unwrap().database(),
        Some("ferry_no_such_database")
    );
    accepts_connections(&missing).await.unwrap();
    assert!(server.drop_database(&name).await.unwrap());
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(!server.drop_database(&name).await.unwrap());
    let closed = "mysql://u@127.0.0.1:1/x?connect_timeout=3";
    assert_eq!(
        accepts_connections(closed).await.unwrap_err().kind,
        DriverErrorKind::Connect
    );
}

/// Each batch starts from the session the connection began with (SPEC §7), also for a user
/// who may not set the privileged session variables (`sql_log_bin`, ...): what a batch sets
/// (`FOREIGN_KEY_CHECKS`, `sql_mode`, `time_zone`, the database) is gone in the next one,
/// and the migration lock (`GET_LOCK`, on the same connection) is still held.
#[tokio::test(flavor = "multi_thread")]
async fn each_batch_starts_from_the_session_of_the_connection() {
    with_database("session", |url| async move {
        let mut admin = open(&url, "ferry_migrations").await;
        let user = testing::unique_name("ferry_plain");
        let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        admin
            .execute(
                &format!(
                    "CREATE USER '{user}'@'%'; GRANT ALL ON `{db}`.* TO '{user}'@'%';"
                ),
                false,
            )
            .await
            .unwrap();
        let (scheme, rest) = url.split_once("://").unwrap();
        let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
        for login in [url.clone(), format!("{scheme}://{user}@{rest}")] {
            let mut d = open(&login, "ferry_migrations").await;
            d.lock(Duration::from_secs(5)).await.unwrap();
            d.execute(
                "SET FOREIGN_KEY_CHECKS = 0; SET sql_mode = 'ANSI_QUOTES'; \
                 SET time_zone = '+05:00'; USE information_schema;",
                false,
            )
            .await
            .unwrap();
            // Checks on again: a foreign key to a missing table is refused.
            let err = d
                .execute(
                    "CREATE TABLE c (pid INT, CONSTRAINT c_p FOREIGN KEY (pid) REFERENCES nowhere (id));",
                    false,
                )
                .await
                .expect_err("FOREIGN_KEY_CHECKS is on again");
            assert!(err.to_string().to_lowercase().contains("foreign key"), "{err}");
            // The default sql_mode (double quotes make a string), in the connection's
            // database, at UTC.
            d.execute(
                "CREATE TABLE q AS SELECT \"x\" AS a, @@session.time_zone AS tz;",
                false,
            )
            .await
            .unwrap();
            let mut check = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
            let row: Option<(String, String)> = check
                .query_first("SELECT a, tz FROM q")
                .await
                .unwrap();
            assert_eq!(row, Some(("x".into(), "+00:00".into())), "{login}");
            check.query_drop("DROP TABLE q").await.unwrap();
            let holder = d.lock_holder().await.unwrap();
            assert!(holder.is_some(), "the lock is still held");
            d.unlock().await.unwrap();
        }
        admin
            .execute(&format!("DROP USER '{user}'@'%';"), false)
            .await
            .unwrap();
    })
    .await;
}
