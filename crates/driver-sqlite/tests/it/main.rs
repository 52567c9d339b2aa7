//! Integration tests of the SQLite driver: the core conformance suite, then only what is
//! specific to SQLite (the file and its modes, the lock as one transaction with savepoints,
//! `no-transaction` sections, the worker thread).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::testkit::{run_conformance, DriverFactory};
use ferry_core::{BoxFuture, Driver, DriverErrorKind, RowChange, TableName, TrackingRow};
use ferry_driver_sqlite::testing::database_url;
use ferry_driver_sqlite::SqliteDriver;

struct Factory {
    url: String,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let driver = ferry_driver_sqlite::connect(&self.url, table.clone())
                .await
                .expect("open the test database");
            Box::new(driver) as Box<dyn Driver>
        })
    }
}

#[tokio::test]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "conformance");
    run_conformance(&Factory { url }).await;
}

async fn open(url: &str) -> SqliteDriver {
    ferry_driver_sqlite::connect(url, TableName::default())
        .await
        .unwrap()
}

fn row(id: &str, dirty: bool) -> RowChange {
    RowChange::Insert(TrackingRow {
        app_name: "a".into(),
        migration_id: id.into(),
        description: "d".into(),
        checksum: "c".into(),
        down_sql: None,
        applied_at: chrono::Utc::now(),
        duration_ms: 0,
        dirty,
    })
}

async fn ids(driver: &mut SqliteDriver) -> Vec<String> {
    let rows = driver.applied(None).await.unwrap();
    rows.into_iter().map(|r| r.row.migration_id).collect()
}

/// Asserts that `driver` cannot take the lock, because another connection holds it.
async fn assert_locked_out(driver: &mut SqliteDriver, context: &str) {
    let err = driver
        .lock(Duration::from_millis(200))
        .await
        .expect_err(context);
    assert_eq!(err.kind, DriverErrorKind::LockTimeout, "{context}");
}

/// The driver blocks on its worker thread, not on the caller's: on a current-thread runtime
/// a timer task keeps ticking while `lock` waits for another connection's lock.
#[tokio::test(flavor = "current_thread")]
async fn waiting_for_the_lock_leaves_the_executor_free() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "executor");
    let mut holder = open(&url).await;
    holder.ensure_table().await.unwrap();
    holder.lock(Duration::from_secs(5)).await.unwrap();
    let mut waiter = open(&url).await;

    let ticks = Arc::new(AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = Arc::clone(&ticks);
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let started = Instant::now();
    let err = waiter
        .lock(Duration::from_millis(800))
        .await
        .expect_err("the lock is held");
    let waited = started.elapsed();
    let ticked = ticks.load(Ordering::SeqCst);
    ticker.abort();
    assert_eq!(err.kind, DriverErrorKind::LockTimeout);
    assert!(waited >= Duration::from_millis(700), "waited {waited:?}");
    assert!(
        ticked >= 10,
        "the timer ticked {ticked} times in {waited:?}: the lock wait blocked the executor"
    );
}

/// Dropping the driver waits for its worker to close the connection, so the lock (and its
/// uncommitted work) is gone when `drop` returns.
#[tokio::test]
async fn dropping_the_driver_releases_the_lock_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "drop");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;
    a.lock(Duration::from_secs(5)).await.unwrap();
    a.write(&row("1", false)).await.unwrap();
    drop(a);
    b.lock(Duration::ZERO)
        .await
        .expect("the lock is free without waiting");
    assert!(ids(&mut b).await.is_empty(), "rolled back");
    b.unlock().await.unwrap();
}

#[tokio::test]
async fn read_only_use_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.db");
    let mut d = open(&format!("sqlite://{}", path.display())).await;
    assert!(!d.table_exists().await.unwrap());
    assert!(d.applied(None).await.unwrap().is_empty());
    assert!(!path.exists(), "a read created the database file");
    d.ensure_table().await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn missing_folder_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(&dir.path().join("no/such/dir"), "x")).await;
    let err = d.ensure_table().await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect);
    assert!(err.message.contains("does not exist"), "{err}");
}

/// `mode=ro` and `mode=rw` never create the file; `ro` refuses writes.
#[tokio::test]
async fn modes_ro_and_rw() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    for mode in ["ro", "rw"] {
        let url = format!("sqlite:{}?mode={mode}", missing.display());
        let err = ferry_driver_sqlite::connect(&url, TableName::default())
            .await
            .expect_err(mode);
        assert_eq!(err.kind, DriverErrorKind::Connect, "{mode}");
        assert!(err.message.contains("does not exist"), "{mode}: {err}");
    }
    assert!(!missing.exists());

    let url = database_url(dir.path(), "modes");
    open(&url).await.ensure_table().await.unwrap();
    let mut ro = open(&format!("{url}?mode=ro")).await;
    assert!(ro.table_exists().await.unwrap());
    let err = ro.write(&row("1", false)).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("SQLITE_READONLY"), "{err}");
    let mut rw = open(&format!("{url}?mode=rw")).await;
    rw.write(&row("1", false)).await.unwrap();
    assert_eq!(ids(&mut ro).await, ["1"]);
}

/// `sqlite::memory:` and `mode=memory` are private to their connection and touch no file.
#[tokio::test]
async fn memory_databases_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mem.db");
    for url in [
        "sqlite::memory:".to_owned(),
        format!("sqlite:{}?mode=memory", path.display()),
    ] {
        let mut a = open(&url).await;
        a.ensure_table().await.unwrap();
        a.write(&row("1", false)).await.unwrap();
        assert_eq!(ids(&mut a).await, ["1"], "{url}");
        let mut b = open(&url).await;
        assert!(!b.table_exists().await.unwrap(), "{url}: shared");
    }
    assert!(!path.exists());
}

/// The lock is one `BEGIN IMMEDIATE` transaction: taking it again does not nest, each
/// migration is a savepoint that a failure rolls back alone, rows are visible to the locking
/// connection at once and to others after the one `unlock`.
#[tokio::test]
async fn lock_is_one_transaction_with_a_savepoint_per_migration() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "savepoints");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;

    a.lock(Duration::from_secs(5)).await.unwrap();
    a.lock(Duration::from_secs(5))
        .await
        .expect("taking the lock again succeeds at once");
    a.execute_in_transaction("CREATE TABLE one (x INT);", &row("1", false))
        .await
        .unwrap();
    let err = a
        .execute_in_transaction(
            "CREATE TABLE two (x INT);\nINSERT INTO missing VALUES (1);",
            &row("2", false),
        )
        .await
        .unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    // Only the failed savepoint was rolled back: `two` is gone, migration 1 and the lock stay.
    a.execute_in_transaction("CREATE TABLE two (x INT);", &row("2", false))
        .await
        .unwrap();
    a.write(&row("3", true)).await.unwrap();
    assert_eq!(
        ids(&mut a).await,
        ["1", "2", "3"],
        "visible to the lock holder"
    );
    assert!(ids(&mut b).await.is_empty(), "committed before unlock");
    assert_locked_out(&mut b, "the lock survives a failed migration").await;

    a.unlock().await.unwrap();
    assert_eq!(ids(&mut b).await, ["1", "2", "3"], "one unlock commits");
    b.lock(Duration::from_secs(1))
        .await
        .expect("one unlock releases a lock taken twice");
    b.unlock().await.unwrap();
}

/// A `no-transaction` section commits the lock's transaction (the dirty row first), runs
/// outside any transaction (`VACUUM` refuses to run in one) and takes the lock again, also
/// when it fails.
#[tokio::test]
async fn no_transaction_commits_runs_and_relocks() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "vacuum");
    let mut a = open(&url).await;
    a.ensure_table().await.unwrap();
    let mut b = open(&url).await;

    a.lock(Duration::from_secs(5)).await.unwrap();
    a.write(&row("1", true)).await.unwrap();
    assert!(ids(&mut b).await.is_empty());
    a.execute("VACUUM;", true).await.expect("VACUUM runs");
    assert_eq!(ids(&mut b).await, ["1"], "the dirty row is committed");
    assert_locked_out(&mut b, "the lock is taken again").await;

    let err = a.execute("SELECT 1;\nSELEC 2;", true).await.unwrap_err();
    assert_eq!(err.line, Some(2), "{err}");
    assert_locked_out(&mut b, "the lock is taken again after a failure").await;
    a.unlock().await.unwrap();
    b.lock(Duration::from_secs(1)).await.unwrap();
    b.unlock().await.unwrap();
}

mod library {
    //! The library API of `ferry-core` as a Rust program uses it, on SQLite.

    use ferry_core::{
        run_backwards, run_forwards, AppConfig, AppRegistry, Confirm, ConfirmRequest, Error,
        Migration, Migrator, Status, TableName,
    };

    struct Answer(bool);

    impl Confirm for Answer {
        fn confirm(&self, request: &ConfirmRequest) -> ferry_core::Result<bool> {
            assert_eq!(request.question, "Reverse 2 migration(s)?");
            assert_eq!(request.items[0].migration_id, "2", "newest first");
            Ok(self.0)
        }
    }

    async fn migrator(confirm: bool) -> (tempfile::TempDir, Migrator) {
        let dir = tempfile::tempdir().unwrap();
        let url = ferry_driver_sqlite::testing::database_url(dir.path(), "lib");
        let app = AppConfig::embedded(
            "embedded",
            vec![
                Migration::new(
                    "1",
                    "one",
                    "CREATE TABLE one (id INTEGER);",
                    Some("DROP TABLE one;"),
                ),
                Migration::new(
                    "2",
                    "two",
                    "CREATE TABLE two (id INTEGER);",
                    Some("DROP TABLE two;"),
                ),
            ],
        );
        let driver = ferry_driver_sqlite::connect(&url, TableName::default())
            .await
            .unwrap();
        let m = Migrator::new(AppRegistry::new(vec![app]).unwrap(), Box::new(driver))
            .with_confirm(Answer(confirm));
        (dir, m)
    }

    #[tokio::test]
    async fn declined_confirmation_is_an_unsuccessful_result() {
        let (_dir, mut m) = migrator(false).await;
        assert!(
            run_forwards(&mut m, "embedded", Some("all"), false, false)
                .await
                .unwrap()
                .success
        );
        let r = run_backwards(&mut m, "embedded", Some("all"), false, false, false)
            .await
            .unwrap();
        assert!(!r.success);
        assert_eq!(r.message.as_deref(), Some("Not proceeding."));
        let statuses = ferry_core::CheckMigrationManager::new("embedded")
            .get_migration_statuses(&mut m)
            .await
            .unwrap();
        assert!(statuses
            .iter()
            .all(|s| s.status == Status::Applied && s.has_ran));
    }

    #[tokio::test]
    async fn accepted_confirmation_reverses_and_unknown_ids_are_unsuccessful() {
        let (_dir, mut m) = migrator(true).await;
        let r = run_forwards(&mut m, "embedded", Some("42"), false, false)
            .await
            .unwrap();
        assert!(!r.success, "unknown ID");
        ferry_core::forwards(&mut m, "embedded").await.unwrap();
        let r = run_backwards(&mut m, "embedded", Some("all"), false, false, false)
            .await
            .unwrap();
        assert!(r.success);
        assert_eq!(r.migrations.len(), 2);
        ferry_core::forwards(&mut m, "embedded").await.unwrap();
        let err = ferry_core::backwards(&mut m, "embedded", Some("7"), true)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unsuccessful(_)), "{err:?}");
        let err = run_forwards(&mut m, "nope", Some("all"), false, false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("known apps: embedded"), "{err}");
    }
}

/// A schema with every kind of object the snapshot reads on SQLite.
const SNAPSHOT_SCHEMA: &str = "
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    name TEXT COLLATE NOCASE,
    lower_email TEXT GENERATED ALWAYS AS (lower(email)) VIRTUAL,
    CONSTRAINT users_name_check CHECK (length(name) > 1)
);
CREATE TABLE tags (post_id INTEGER, tag TEXT, PRIMARY KEY (post_id, tag)) WITHOUT ROWID;
CREATE INDEX users_lower_idx ON users (lower(email) DESC);
";

/// The `posts` table as the rebuild in `posts(..)` makes it (SQLite's way to change a column
/// or a constraint: create the new table, copy, drop, rename, then recreate what depended on
/// the old one).
fn posts(title: &str, published: &str, on_delete: &str, check: &str) -> String {
    format!(
        "DROP VIEW IF EXISTS recent;
CREATE TABLE posts_new (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE {on_delete},
    title TEXT {title},
    published INTEGER {published}{check}
);
INSERT INTO posts_new SELECT id, user_id, title, published FROM posts;
DROP TABLE posts;
ALTER TABLE posts_new RENAME TO posts;
CREATE INDEX posts_title_idx ON posts (title DESC);
CREATE INDEX posts_published_idx ON posts (user_id) WHERE published;
CREATE TRIGGER posts_touch AFTER UPDATE OF title ON posts
BEGIN
    UPDATE posts SET title = trim(NEW.title) WHERE id = NEW.id;
END;
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
"
    )
}

#[tokio::test]
async fn snapshot_sees_what_verify_must_compare() {
    use ferry_core::testkit::snapshot::{assert_change, assert_left_out, property};

    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "snapshot");
    let mut d = open(&url).await;
    // A missing file is an empty schema, and stays missing.
    assert!(d.snapshot().await.unwrap().is_empty());
    assert!(!dir.path().join("snapshot.db").exists());
    // The tracking table exists, and is left out (SQLite's lock is no table).
    d.ensure_table().await.unwrap();
    d.lock(Duration::from_secs(5)).await.unwrap();
    d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
    d.execute(
        &format!(
            "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, title TEXT, published INTEGER);\n{}",
            posts(
                "NOT NULL DEFAULT 'untitled'",
                "NOT NULL DEFAULT 0",
                "CASCADE",
                ",\n    CHECK (length(title) > 0)"
            )
        ),
        false,
    )
    .await
    .unwrap();
    let s = d.snapshot().await.unwrap();
    d.unlock().await.unwrap();
    assert_left_out(&s, "ferry_migrations");

    let p = |kind: &str, name: &str, prop: &str| property(&s, kind, name, prop);
    assert_eq!(p("table", "users", "options"), None);
    assert_eq!(p("table", "tags", "options"), Some("without rowid"));
    assert_eq!(p("column", "users.id", "type"), Some("integer"));
    assert_eq!(p("column", "users.id", "identity"), Some("autoincrement"));
    assert_eq!(p("column", "users.email", "nullable"), Some("no"));
    assert_eq!(p("column", "users.name", "collation"), Some("nocase"));
    assert_eq!(p("column", "users.name", "nullable"), Some("yes"));
    assert_eq!(
        p("column", "users.lower_email", "generated"),
        Some("lower(email)")
    );
    assert_eq!(p("column", "posts.title", "default"), Some("'untitled'"));
    assert_eq!(p("primary key", "users", "columns"), Some("id"));
    assert_eq!(p("primary key", "tags", "columns"), Some("post_id, tag"));
    assert_eq!(
        p("unique constraint", "users.unique(email)", "columns"),
        Some("email")
    );
    assert_eq!(
        p("unique constraint", "users.unique(email)", "table"),
        Some("users")
    );
    let fk = "posts.fk(user_id)->users(id)";
    assert_eq!(p("foreign key", fk, "target"), Some("users(id)"));
    assert_eq!(p("foreign key", fk, "on delete"), Some("cascade"));
    assert_eq!(p("foreign key", fk, "on update"), Some("no action"));
    assert_eq!(
        p("check constraint", "users.users_name_check", "expression"),
        Some("length(name) > 1")
    );
    let check = "posts.check(length(title) > 0)";
    assert_eq!(p("check constraint", check, "table"), Some("posts"));
    // Automatic indexes are covered by their constraints.
    assert!(!s.objects().any(|(_, name, _)| name.starts_with("sqlite_")));
    assert_eq!(p("index", "posts_title_idx", "columns"), Some("title desc"));
    assert_eq!(p("index", "posts_title_idx", "unique"), Some("no"));
    assert_eq!(p("index", "posts_title_idx", "method"), None);
    assert_eq!(
        p("index", "posts_published_idx", "predicate"),
        Some("published")
    );
    assert_eq!(
        p("index", "users_lower_idx", "columns"),
        Some("lower(email) desc")
    );
    assert_eq!(p("index", "users_lower_idx", "table"), Some("users"));
    assert_eq!(
        p("view", "recent", "definition"),
        Some("CREATE VIEW recent AS SELECT id, title FROM posts WHERE published")
    );
    assert_eq!(p("trigger", "posts.posts_touch", "table"), Some("posts"));
    assert_eq!(p("trigger", "posts.posts_touch", "timing"), Some("after"));
    assert_eq!(p("trigger", "posts.posts_touch", "event"), Some("update"));

    // Nothing changed, nothing differs; data is not schema.
    let s = assert_change(&mut d, s, "SELECT 1;", &[]).await;
    let s = assert_change(
        &mut d,
        s,
        "INSERT INTO users (email) VALUES ('a@b.c');",
        &[],
    )
    .await;
    // Rebuilding a table the same way changes nothing (SQLite rewrites its text).
    let rebuild = posts(
        "NOT NULL DEFAULT 'untitled'",
        "NOT NULL DEFAULT 0",
        "CASCADE",
        ",\n    CHECK (length(title) > 0)",
    );
    let s = assert_change(&mut d, s, &rebuild, &[]).await;

    // Each change is seen, and only it.
    let s = assert_change(
        &mut d,
        s,
        &posts(
            "NOT NULL DEFAULT 'none'",
            "NOT NULL DEFAULT 0",
            "CASCADE",
            ",\n    CHECK (length(title) > 0)",
        ),
        &[("column", "posts.title", "default")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        &posts(
            "NOT NULL DEFAULT 'none'",
            "DEFAULT 0",
            "CASCADE",
            ",\n    CHECK (length(title) > 0)",
        ),
        &[("column", "posts.published", "nullable")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        &posts(
            "NOT NULL DEFAULT 'none'",
            "DEFAULT 0",
            "RESTRICT",
            ",\n    CHECK (length(title) > 0)",
        ),
        &[("foreign key", fk, "on delete")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        &posts("NOT NULL DEFAULT 'none'", "DEFAULT 0", "RESTRICT", ""),
        &[("check constraint", check, "exists")],
    )
    .await;
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
        "ALTER TABLE posts ADD COLUMN body TEXT;",
        &[("column", "posts.body", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "DROP VIEW recent;\nCREATE VIEW recent AS SELECT id, title FROM posts WHERE NOT published;",
        &[("view", "recent", "definition")],
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
        "CREATE UNIQUE INDEX users_name_idx ON users (name) WHERE name IS NOT NULL;",
        &[("index", "users_name_idx", "exists")],
    )
    .await;
    assert_eq!(
        property(&s, "index", "users_name_idx", "unique"),
        Some("yes")
    );
    assert_change(
        &mut d,
        s,
        "ALTER TABLE posts DROP COLUMN body;",
        &[("column", "posts.body", "exists")],
    )
    .await;
}
