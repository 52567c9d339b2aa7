//! Running SQL: schemas and `search_path`, `no-transaction` statements sent alone, dollar
//! quotes, SQLSTATE and error positions, the session each batch starts from.

use std::time::Duration;

use chrono::Utc;
use ferry_core::driver::{RowChange, TrackingRow};
use ferry_core::{Driver, DriverErrorKind};
use ferry_driver_postgres::testing;

use crate::support::{open, row, scalar, with_database};

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
