//! Integration tests of the MySQL/MariaDB driver against a live server
//! (`FERRY_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
//!
//! Every test creates its own database and drops it at the end. An unreachable server fails
//! the tests; nothing is skipped.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use ferry_core::testkit::{run_conformance, DriverFactory};
use ferry_core::{BoxFuture, Driver, DriverErrorKind, RowChange, TableName, TrackingRow};
use ferry_driver_mysql::{connect, testing, MysqlDriver};
use mysql_async::prelude::Queryable;

/// Run `body` with the URL of a fresh database, dropping the database afterwards (also when
/// `body` panics).
async fn with_db<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = testing::unique_name(prefix);
    let url = testing::create_database(&name)
        .await
        .unwrap_or_else(|e| panic!("the MySQL test server must be reachable: {e}"));
    let outcome = tokio::spawn(body(url)).await;
    testing::drop_database(&name)
        .await
        .expect("drop test database");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn driver(url: &str) -> MysqlDriver {
    connect(url, TableName::default()).await.expect("connect")
}

/// A plain client connection, for looking at the database behind the driver's back.
async fn raw(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_async::Opts::from_url(url).expect("plain URL"))
        .await
        .expect("raw connection")
}

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

fn new_row(app: &str, id: &str) -> TrackingRow {
    TrackingRow {
        app_name: app.into(),
        migration_id: id.into(),
        description: format!("migration {id}"),
        checksum: "a".repeat(64),
        down_sql: Some(String::new()),
        applied_at: Utc.with_ymd_and_hms(2024, 2, 29, 23, 59, 58).unwrap()
            + chrono::Duration::microseconds(123_456),
        duration_ms: 999_999,
        dirty: false,
    }
}

struct Factory {
    url: String,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let d = connect(&self.url, table.clone())
                .await
                .expect("conformance connect");
            Box::new(d) as Box<dyn Driver>
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() {
    with_db("conf", |url| async move {
        run_conformance(&Factory { url }).await;
    })
    .await;
}

#[tokio::test]
async fn capabilities_and_backend() {
    with_db("caps", |url| async move {
        let d = driver(&url).await;
        assert_eq!(d.backend(), "mysql");
        let caps = d.capabilities();
        assert!(!caps.transactional_ddl);
        assert_eq!(caps.dialect, ferry_core::sql::Dialect::MySql);
    })
    .await;
}

#[tokio::test]
async fn failing_statement_reports_code_line_and_drains() {
    with_db("batch", |url| async move {
        let mut d = driver(&url).await;
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
        // Blank SQL is not sent.
        d.execute("-- nothing\n/* at all */ ;\n", false).await.expect("blank batch");
        d.execute("", true).await.expect("empty batch");
    })
    .await;
}

#[tokio::test]
async fn procedures_and_triggers_run_as_written() {
    with_db("proc", |url| async move {
        let mut d = driver(&url).await;
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

#[tokio::test]
async fn transaction_rolls_back_sql_and_row() {
    with_db("tx", |url| async move {
        let mut d = driver(&url).await;
        d.ensure_table().await.unwrap();
        d.execute("CREATE TABLE t (id INT PRIMARY KEY);", false)
            .await
            .unwrap();
        let change = RowChange::Insert(new_row("app", "1"));
        let err = d
            .execute_in_transaction(
                "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1, 2);",
                &change,
            )
            .await
            .expect_err("second statement fails");
        assert_eq!(err.kind, DriverErrorKind::Query);
        assert_eq!(err.code.as_deref(), Some("1136"), "{err:?}");
        assert_eq!(err.line, Some(2));
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM t").await,
            0,
            "first insert rolled back"
        );
        assert!(d.applied(None).await.unwrap().is_empty(), "row rolled back");

        // A failing row change rolls back the SQL too.
        d.write(&RowChange::Insert(new_row("app", "9")))
            .await
            .unwrap();
        let err = d
            .execute_in_transaction(
                "INSERT INTO t VALUES (5);",
                &RowChange::Insert(new_row("app", "9")),
            )
            .await
            .expect_err("duplicate tracking row");
        assert_eq!(err.code.as_deref(), Some("1062"));
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM t").await,
            0,
            "SQL rolled back with the row"
        );
        d.write(&RowChange::Delete {
            app_name: "app".into(),
            migration_id: "9".into(),
        })
        .await
        .unwrap();

        // Success: both committed, duration measured by the driver.
        d.execute_in_transaction(
            "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2);",
            &change,
        )
        .await
        .expect("commit");
        assert_eq!(count(&url, "SELECT COUNT(*) FROM t").await, 2);
        let rows = d.applied(Some("app")).await.unwrap();
        assert_eq!(rows.len(), 1);
        let expected = new_row("app", "1");
        assert_eq!(rows[0].migration_id, "1");
        assert_eq!(
            rows[0].applied_at, expected.applied_at,
            "applied_at round-trips as UTC with microseconds"
        );
        assert!(
            rows[0].duration_ms < 999_999,
            "duration measured by the driver"
        );
        assert_eq!(rows[0].down_sql.as_deref(), Some(""));
        assert!(!rows[0].dirty);

        // Deleting in a transaction.
        d.execute_in_transaction(
            "DELETE FROM t;",
            &RowChange::Delete {
                app_name: "app".into(),
                migration_id: "1".into(),
            },
        )
        .await
        .unwrap();
        assert!(d.applied(None).await.unwrap().is_empty());
        assert_eq!(count(&url, "SELECT COUNT(*) FROM t").await, 0);
    })
    .await;
}

#[tokio::test]
async fn rows_round_trip_and_filter_by_app() {
    with_db("rows", |url| async move {
        let mut d = driver(&url).await;
        assert!(!d.table_exists().await.unwrap());
        d.ensure_table().await.unwrap();
        assert!(d.table_exists().await.unwrap());
        let mut irreversible = new_row("a'; DROP TABLE x; --", "007");
        irreversible.down_sql = None;
        irreversible.dirty = true;
        irreversible.description = "it's \"quoted\" — ünïcode 🚢".into();
        d.write(&RowChange::Insert(irreversible.clone()))
            .await
            .unwrap();
        d.write(&RowChange::Insert(new_row("b", "1")))
            .await
            .unwrap();
        let all = d.applied(None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(all[0].row_id < all[1].row_id);
        let a = d.applied(Some("a'; DROP TABLE x; --")).await.unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].migration_id, "007");
        assert_eq!(a[0].description, irreversible.description);
        assert_eq!(a[0].down_sql, None);
        assert!(a[0].dirty);
        assert_eq!(a[0].duration_ms, 999_999);
        d.write(&RowChange::MarkClean {
            app_name: irreversible.app_name.clone(),
            migration_id: "007".into(),
            duration_ms: Some(42),
        })
        .await
        .unwrap();
        let a = d.applied(Some(&irreversible.app_name)).await.unwrap();
        assert!(!a[0].dirty);
        assert_eq!(a[0].duration_ms, 42);
        d.write(&RowChange::MarkDirty {
            app_name: "b".into(),
            migration_id: "1".into(),
        })
        .await
        .unwrap();
        d.write(&RowChange::MarkClean {
            app_name: "b".into(),
            migration_id: "1".into(),
            duration_ms: None,
        })
        .await
        .unwrap();
        let b = d.applied(Some("b")).await.unwrap();
        assert_eq!((b[0].dirty, b[0].duration_ms), (false, 999_999));
        assert!(d.applied(Some("c")).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn tracking_table_in_another_database() {
    with_db("schema", |url| async move {
        let other = testing::unique_name("other");
        let table = TableName::parse(&format!("{other}.tracking")).unwrap();
        let mut d = connect(&url, table).await.unwrap();
        assert!(!d.table_exists().await.unwrap());
        d.ensure_table()
            .await
            .expect("creates the database and the table");
        assert!(d.table_exists().await.unwrap());
        d.write(&RowChange::Insert(new_row("x", "1")))
            .await
            .unwrap();
        assert_eq!(d.applied(None).await.unwrap().len(), 1);
        assert_eq!(d.lock_name(), format!("ferry:{other}.tracking"));
        // The default table in the URL's database is a different one.
        let mut plain = driver(&url).await;
        assert!(!plain.table_exists().await.unwrap());
        drop(d);
        testing::drop_database(&other).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn lock_excludes_other_connections() {
    with_db("lock", |url| async move {
        let mut a = driver(&url).await;
        let mut b = driver(&url).await;
        a.unlock().await.expect("unlock without holding is fine");
        a.lock(Duration::from_secs(1)).await.expect("a locks");
        let started = Instant::now();
        let err = b
            .lock(Duration::from_millis(1500))
            .await
            .expect_err("b must time out");
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        assert!(
            started.elapsed() >= Duration::from_millis(1500),
            "timeout rounded up to 2 s"
        );
        let err = b.lock(Duration::ZERO).await.expect_err("zero timeout");
        assert_eq!(err.kind, DriverErrorKind::LockTimeout);
        b.unlock()
            .await
            .expect("unlocking a lock held by another is not an error");
        a.unlock().await.unwrap();
        b.lock(Duration::from_secs(1))
            .await
            .expect("b gets it after a unlocks");
        b.unlock().await.unwrap();

        a.lock(Duration::from_secs(1)).await.unwrap();
        drop(a);
        b.lock(Duration::from_secs(10))
            .await
            .expect("the lock dies with a's connection");
        b.unlock().await.unwrap();

        // Another tracking table is another lock.
        let mut c = connect(&url, TableName::parse("other_table").unwrap())
            .await
            .unwrap();
        b.lock(Duration::from_secs(1)).await.unwrap();
        c.lock(Duration::ZERO).await.expect("independent lock");
        c.unlock().await.unwrap();
        b.unlock().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn connection_errors_are_one_line_and_hide_the_password() {
    with_db("connerr", |url| async move {
        // Unknown database.
        let missing = testing::unique_name("missing");
        let bad_db = testing::database_url(&missing);
        let err = connect(&bad_db, TableName::default())
            .await
            .expect_err("unknown database");
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err:?}");
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

#[tokio::test]
async fn url_variants_connect() {
    with_db("urls", |url| async move {
        // mariadb:// scheme.
        let maria = url.replacen("mysql://", "mariadb://", 1);
        let mut d = driver(&maria).await;
        d.execute("SELECT 1", false)
            .await
            .expect("mariadb:// works");

        // ssl-mode=DISABLED, any case.
        for mode in ["DISABLED", "disabled", "Preferred"] {
            let mut d = driver(&with_param(&url, &format!("ssl-mode={mode}"))).await;
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

        // The session runs in UTC.
        let mut conn_check = driver(&url).await;
        conn_check
            .execute(
                "CREATE TABLE tz_probe AS SELECT @@session.time_zone AS tz",
                false,
            )
            .await
            .unwrap();
        let mut plain = raw(&url).await;
        let tz: Option<String> = plain.query_first("SELECT tz FROM tz_probe").await.unwrap();
        assert_eq!(tz.as_deref(), Some("+00:00"));

        // A unix socket.
        let socket: Option<String> = plain.query_first("SELECT @@socket").await.unwrap();
        plain.disconnect().await.unwrap();
        let socket = socket.expect("server socket");
        if std::path::Path::new(&socket).exists() {
            let via_socket = with_param(&url, &format!("socket={socket}"));
            let mut d = driver(&via_socket).await;
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
        } else {
            panic!("the server's socket {socket} is not on this machine");
        }
    })
    .await;
}
