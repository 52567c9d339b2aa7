//! Running SQL: multi-statement batches (error numbers, the failing statement's line,
//! draining), procedures and triggers, row writes with SQL, databases as schemas, the session
//! each batch starts from.

use std::time::Duration;

use ferry_core::driver::RowChange;
use ferry_core::{Driver, DriverErrorKind, TableName};
use ferry_driver_mysql::{connect, testing};
use mysql_async::prelude::Queryable;

use crate::support::{count, open, row, with_database};

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
