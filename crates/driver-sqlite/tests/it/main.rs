//! Integration tests of the SQLite driver: the core conformance suite, then only what is
//! specific to SQLite (the file and its modes, the lock as one transaction with savepoints,
//! `no-transaction` sections, the worker thread).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::driver::{BoxFuture, RowChange, TrackingRow};
use ferry_core::testkit::{run_conformance, DriverFactory};
use ferry_core::{Driver, DriverErrorKind, TableName};
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
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{mode}");
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

mod client;

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

/// The snapshot read in part after each change is the whole one (`assert_change` checks it),
/// also where a change reaches beyond the owner a statement names: `ALTER TABLE` (a rename
/// rewrites other tables', views' and triggers' text), foreign keys whose target is another
/// table's primary key (the parent changed, created after the child, named in another case),
/// virtual tables, savepoints and transactions rolled back across changes, several owners in
/// one batch; and where it does not reach the main database at all (`temp`).
#[tokio::test]
async fn tracked_snapshots_survive_changes_that_reach_other_owners() {
    use ferry_core::testkit::snapshot::{assert_change, property};

    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(dir.path(), "tracked")).await;
    d.execute(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
CREATE TABLE pet (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES parent);
CREATE TABLE log (msg TEXT);
CREATE VIEW parent_names AS SELECT name FROM parent;
CREATE TRIGGER log_parent AFTER INSERT ON log BEGIN DELETE FROM parent WHERE id = 0; END;
CREATE INDEX parent_name ON parent (name);",
        false,
    )
    .await
    .unwrap();
    let s = d.snapshot().await.unwrap();
    assert_eq!(
        property(&s, "foreign key", "pet.fk(owner)->parent(id)", "target"),
        Some("parent(id)")
    );

    // RENAME rewrites the child's foreign key, the view and the trigger of another table.
    let s = assert_change(
        &mut d,
        s,
        "ALTER TABLE parent RENAME TO folk;",
        &[
            ("column", "folk.id", "exists"),
            ("column", "folk.name", "exists"),
            ("column", "parent.id", "exists"),
            ("column", "parent.name", "exists"),
            ("foreign key", "child.fk(parent_id)->folk(id)", "exists"),
            ("foreign key", "child.fk(parent_id)->parent(id)", "exists"),
            ("foreign key", "pet.fk(owner)->folk(id)", "exists"),
            ("foreign key", "pet.fk(owner)->parent(id)", "exists"),
            ("index", "parent_name", "table"),
            ("primary key", "folk", "exists"),
            ("primary key", "parent", "exists"),
            ("table", "folk", "exists"),
            ("table", "parent", "exists"),
            ("trigger", "log.log_parent", "definition"),
            ("view", "parent_names", "definition"),
        ],
    )
    .await;
    // RENAME COLUMN of the key an implicit foreign key targets: the child's text does not
    // change, its target does.
    let s = assert_change(
        &mut d,
        s,
        "ALTER TABLE folk RENAME COLUMN id TO folk_id;",
        &[
            ("column", "folk.folk_id", "exists"),
            ("column", "folk.id", "exists"),
            (
                "foreign key",
                "child.fk(parent_id)->folk(folk_id)",
                "exists",
            ),
            ("foreign key", "child.fk(parent_id)->folk(id)", "exists"),
            ("foreign key", "pet.fk(owner)->folk(folk_id)", "exists"),
            ("foreign key", "pet.fk(owner)->folk(id)", "exists"),
            ("primary key", "folk", "columns"),
            ("trigger", "log.log_parent", "definition"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "ALTER TABLE folk ADD COLUMN born TEXT;",
        &[("column", "folk.born", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "ALTER TABLE folk DROP COLUMN born;",
        &[("column", "folk.born", "exists")],
    )
    .await;
    // The target of an implicit foreign key is dropped and created again with another key.
    let s = assert_change(
        &mut d,
        s,
        "DROP VIEW parent_names;
DROP TRIGGER log_parent;
DROP TABLE folk;
CREATE TABLE folk (code TEXT PRIMARY KEY);",
        &[
            ("column", "folk.code", "exists"),
            ("column", "folk.folk_id", "exists"),
            ("column", "folk.name", "exists"),
            ("foreign key", "pet.fk(owner)->folk(code)", "exists"),
            ("foreign key", "pet.fk(owner)->folk(folk_id)", "exists"),
            ("index", "parent_name", "exists"),
            ("primary key", "folk", "columns"),
            ("trigger", "log.log_parent", "exists"),
            ("view", "parent_names", "exists"),
        ],
    )
    .await;
    // A parent created after its child.
    let s = assert_change(
        &mut d,
        s,
        "CREATE TABLE kid (x INTEGER REFERENCES later);",
        &[
            ("column", "kid.x", "exists"),
            ("foreign key", "kid.fk(x)->later()", "exists"),
            ("table", "kid", "exists"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "CREATE TABLE later (k INTEGER PRIMARY KEY, v TEXT);",
        &[
            ("column", "later.k", "exists"),
            ("column", "later.v", "exists"),
            ("foreign key", "kid.fk(x)->later()", "exists"),
            ("foreign key", "kid.fk(x)->later(k)", "exists"),
            ("primary key", "later", "exists"),
            ("table", "later", "exists"),
        ],
    )
    .await;
    // An index, a trigger dropped alone.
    let s = assert_change(
        &mut d,
        s,
        "CREATE INDEX kid_x ON kid (x);
CREATE TRIGGER kid_log AFTER INSERT ON kid BEGIN INSERT INTO log VALUES ('kid'); END;",
        &[
            ("index", "kid_x", "exists"),
            ("trigger", "kid.kid_log", "exists"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "DROP INDEX kid_x;",
        &[("index", "kid_x", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "DROP TRIGGER kid_log;",
        &[("trigger", "kid.kid_log", "exists")],
    )
    .await;
    // `temp` is not the main database, even where its names shadow the main ones (in one
    // batch: the driver drops `temp` objects after each).
    let s = assert_change(
        &mut d,
        s,
        "CREATE TEMP TABLE scratch (a);
CREATE TEMP TABLE log (x);
CREATE TEMP TRIGGER kid_temp AFTER INSERT ON main.kid BEGIN SELECT 1; END;
CREATE INDEX temp.scratch_a ON scratch (a);
DROP TABLE log; ALTER TABLE scratch RENAME TO scratch2; DROP TABLE scratch2;",
        &[],
    )
    .await;
    // The main database attached again under another name: its changes are main's.
    let again = dir.path().join("tracked.db");
    let s = assert_change(
        &mut d,
        s,
        &format!(
            "ATTACH '{}' AS again;\nCREATE TABLE again.twin (x INT);",
            again.display()
        ),
        &[("column", "twin.x", "exists"), ("table", "twin", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        // Attached again: the driver detaches what a batch attached.
        &format!(
            "ATTACH '{}' AS again;\nDROP TABLE again.twin; DETACH again;",
            again.display()
        ),
        &[("column", "twin.x", "exists"), ("table", "twin", "exists")],
    )
    .await;
    // A virtual table, whose module creates tables of its own (five, here).
    let shadow = [
        ("notes_config", &["k", "v"][..]),
        ("notes_content", &["c0", "id"][..]),
        ("notes_data", &["block", "id"][..]),
        ("notes_docsize", &["id", "sz"][..]),
        ("notes_idx", &["pgno", "segid", "term"][..]),
    ];
    let columns: Vec<String> = shadow
        .iter()
        .flat_map(|(table, columns)| columns.iter().map(move |c| format!("{table}.{c}")))
        .collect();
    let mut notes: Vec<(&str, &str, &str)> = columns
        .iter()
        .map(|c| ("column", c.as_str(), "exists"))
        .collect();
    for (table, _) in shadow {
        notes.push(("primary key", table, "exists"));
        notes.push(("table", table, "exists"));
    }
    notes.push(("table", "notes", "exists"));
    notes.sort();
    let s = assert_change(
        &mut d,
        s,
        "CREATE VIRTUAL TABLE notes USING fts5(body);",
        &notes,
    )
    .await;
    let s = assert_change(&mut d, s, "DROP TABLE notes;", &notes).await;
    // What a savepoint rolled back did not happen.
    let s = assert_change(
        &mut d,
        s,
        "SAVEPOINT sp;
CREATE TABLE gone (a);
DROP TABLE kid;
ALTER TABLE later RENAME TO sooner;
ROLLBACK TO sp;
RELEASE sp;",
        &[],
    )
    .await;
    // A savepoint opened by one change and rolled back by the next undoes what the first
    // did; so does a transaction.
    let s = assert_change(
        &mut d,
        s,
        "SAVEPOINT outer_sp; CREATE TABLE q1 (a);",
        &[("column", "q1.a", "exists"), ("table", "q1", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "ROLLBACK TO outer_sp; RELEASE outer_sp;",
        &[("column", "q1.a", "exists"), ("table", "q1", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "BEGIN; CREATE TABLE q2 (a);",
        &[("column", "q2.a", "exists"), ("table", "q2", "exists")],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "ROLLBACK;",
        &[("column", "q2.a", "exists"), ("table", "q2", "exists")],
    )
    .await;
    // VACUUM copies the schema through a database of its own: nothing changes.
    let s = assert_change(&mut d, s, "VACUUM;", &[]).await;
    // Names in any case are one owner; an implicit foreign key names its target as written.
    let s = assert_change(
        &mut d,
        s,
        "CREATE TABLE shouty (x INTEGER REFERENCES Quiet);
CREATE TABLE quiet (q INTEGER PRIMARY KEY);",
        &[
            ("column", "quiet.q", "exists"),
            ("column", "shouty.x", "exists"),
            ("foreign key", "shouty.fk(x)->Quiet(q)", "exists"),
            ("primary key", "quiet", "exists"),
            ("table", "quiet", "exists"),
            ("table", "shouty", "exists"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "DROP TABLE QUIET; CREATE TABLE quiet (r TEXT PRIMARY KEY);",
        &[
            ("column", "quiet.q", "exists"),
            ("column", "quiet.r", "exists"),
            ("foreign key", "shouty.fk(x)->Quiet(q)", "exists"),
            ("foreign key", "shouty.fk(x)->Quiet(r)", "exists"),
            ("primary key", "quiet", "columns"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "CREATE TABLE MiXed (Id INTEGER PRIMARY KEY, n TEXT); CREATE INDEX mixed_n ON MIXED (n);",
        &[
            ("column", "MiXed.Id", "exists"),
            ("column", "MiXed.n", "exists"),
            ("index", "mixed_n", "exists"),
            ("primary key", "MiXed", "exists"),
            ("table", "MiXed", "exists"),
        ],
    )
    .await;
    let s = assert_change(
        &mut d,
        s,
        "DROP INDEX MIXED_N; DROP TABLE mixed;",
        &[
            ("column", "MiXed.Id", "exists"),
            ("column", "MiXed.n", "exists"),
            ("index", "mixed_n", "exists"),
            ("primary key", "MiXed", "exists"),
            ("table", "MiXed", "exists"),
        ],
    )
    .await;
    // Several owners in one batch, seen through or not.
    let s = assert_change(
        &mut d,
        s,
        "CREATE TABLE a1 (id INTEGER PRIMARY KEY REFERENCES later);
CREATE INDEX a1_id ON a1 (id);
ALTER TABLE later RENAME TO later2;
DROP TABLE child;
CREATE VIEW v2 AS SELECT 1 AS one;",
        &[
            ("column", "a1.id", "exists"),
            ("column", "child.id", "exists"),
            ("column", "child.parent_id", "exists"),
            ("column", "later.k", "exists"),
            ("column", "later.v", "exists"),
            ("column", "later2.k", "exists"),
            ("column", "later2.v", "exists"),
            ("foreign key", "a1.fk(id)->later2(k)", "exists"),
            (
                "foreign key",
                "child.fk(parent_id)->folk(folk_id)",
                "exists",
            ),
            ("foreign key", "kid.fk(x)->later(k)", "exists"),
            ("foreign key", "kid.fk(x)->later2(k)", "exists"),
            ("index", "a1_id", "exists"),
            ("primary key", "a1", "exists"),
            ("primary key", "child", "exists"),
            ("primary key", "later", "exists"),
            ("primary key", "later2", "exists"),
            ("table", "a1", "exists"),
            ("table", "child", "exists"),
            ("table", "later", "exists"),
            ("table", "later2", "exists"),
            ("view", "v2", "exists"),
        ],
    )
    .await;
    let _ = s;
}

/// Where parts could be unsound, tracking is off and every snapshot is read whole: once
/// `sqlite_schema` may be written by hand (`writable_schema`, also when it was on before
/// tracking started), and once a table's name has a dot (`a` and `a.b` would both hold a
/// `column a.b.c`).
#[tokio::test]
async fn tracking_is_off_where_parts_could_be_unsound() {
    use ferry_core::snapshot::Tracker;

    let edit =
        "UPDATE sqlite_schema SET sql = 'CREATE VIEW v AS SELECT 2 AS one' WHERE name = 'v';";
    for (setup, change, expected) in [
        (
            "CREATE VIEW v AS SELECT 1 AS one;".to_owned(),
            format!("PRAGMA writable_schema = ON;\n{edit}\nPRAGMA writable_schema = OFF;"),
            &[("view", "v", "definition")][..],
        ),
        (
            "CREATE VIEW v AS SELECT 1 AS one; PRAGMA writable_schema = ON;".to_owned(),
            edit.to_owned(),
            &[("view", "v", "definition")][..],
        ),
        (
            "CREATE TABLE v (a INT);".to_owned(),
            "CREATE TABLE \"v.a\" (b INT);".to_owned(),
            &[("column", "v.a.b", "exists"), ("table", "v.a", "exists")][..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut d = open(&database_url(dir.path(), "off")).await;
        d.execute(&setup, false).await.unwrap();
        let mut tracker = Tracker::start(&mut d).await.unwrap();
        let before = tracker.take(&mut d).await.unwrap();
        d.execute(&change, false).await.unwrap();
        let after = tracker.take(&mut d).await.unwrap();
        assert_eq!(after.schema(), d.snapshot().await.unwrap(), "{change}");
        let found: Vec<(String, String, String)> = before
            .differences(&after)
            .into_iter()
            .map(|d| (d.object, d.name, d.property))
            .collect();
        let expected: Vec<(String, String, String)> = expected
            .iter()
            .map(|(a, b, c)| ((*a).to_owned(), (*b).to_owned(), (*c).to_owned()))
            .collect();
        assert_eq!(found, expected, "{change}");
        d.execute("CREATE TABLE later (x INT)", false)
            .await
            .unwrap();
        let later = tracker.take(&mut d).await.unwrap();
        assert_eq!(later.schema(), d.snapshot().await.unwrap(), "{change}");
        assert_eq!(
            tracker.reads().whole,
            3,
            "{change}: every snapshot read whole"
        );
    }
}

/// A table's text written by hand shows in the pragmas only once SQLite parses the schema
/// again (an `ALTER TABLE` of any table does): tracking makes it parse the schema when it
/// starts, so that the first snapshot already sees what a later one would.
#[tokio::test]
async fn tracking_starts_from_the_schema_as_written() {
    use ferry_core::snapshot::Tracker;

    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(dir.path(), "written")).await;
    d.execute(
        "CREATE TABLE t (a INT); CREATE TABLE u (x INT);
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = 'CREATE TABLE t (a INT, b INT)' WHERE name = 't';
PRAGMA writable_schema = OFF;",
        false,
    )
    .await
    .unwrap();
    let stale = d.snapshot().await.unwrap();
    assert!(stale.get("column", "t.b").is_none(), "not parsed yet");
    let mut tracker = Tracker::start(&mut d).await.unwrap();
    let first = tracker.take(&mut d).await.unwrap();
    assert!(first.schema().get("column", "t.b").is_some());
    d.execute("ALTER TABLE u ADD COLUMN y INT", false)
        .await
        .unwrap();
    let next = tracker.take(&mut d).await.unwrap();
    assert_eq!(next.schema(), d.snapshot().await.unwrap());
    assert_eq!(tracker.reads().whole, 1, "read in part");
}

/// After creating one table in a schema of 50, the tracker reads that one owner, not the
/// schema again; dropping it or adding a column (a statement the authorizer does not see
/// through) reads one owner too.
#[tokio::test]
async fn the_tracker_reads_only_what_changed() {
    use ferry_core::snapshot::Tracker;

    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(dir.path(), "reads")).await;
    let schema: String = (0..50)
        .map(|i| {
            format!(
                "CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT);\nCREATE INDEX t{i}_v ON t{i} (v);\n"
            )
        })
        .collect();
    d.execute(&schema, false).await.unwrap();
    let mut tracker = Tracker::start(&mut d).await.unwrap();
    assert!(tracker.is_incremental());
    let first = tracker.take(&mut d).await.unwrap();
    assert_eq!(tracker.reads().whole, 1);
    assert_eq!(first.parts().count(), 50);

    let mut owners = tracker.reads().owners;
    for (sql, changed) in [
        (
            "CREATE TABLE extra (id INTEGER PRIMARY KEY); CREATE INDEX extra_id ON extra (id);",
            1,
        ),
        ("ALTER TABLE extra ADD COLUMN note TEXT;", 1),
        ("DROP TABLE extra;", 1),
        // Triggers and views created, re-created over joins and dropped: their table or view.
        ("CREATE TRIGGER t1_touch AFTER UPDATE ON t1 BEGIN SELECT 1; END;", 1),
        (
            "DROP TRIGGER t1_touch; CREATE TRIGGER t1_touch AFTER INSERT ON t1 BEGIN SELECT 2; END;",
            1,
        ),
        (
            "CREATE VIEW v1 AS SELECT a.id, b.v FROM t1 a JOIN t2 b ON b.id = a.id;",
            1,
        ),
        (
            "DROP VIEW v1; CREATE VIEW v1 AS SELECT a.id FROM t1 a JOIN t3 b ON b.id = a.id;",
            1,
        ),
        ("DROP TRIGGER t1_touch; DROP VIEW v1;", 2),
        ("SELECT * FROM t1; INSERT INTO t2 (v) VALUES ('x');", 0),
    ] {
        d.execute_step(sql, false).await.unwrap();
        let now = tracker.take(&mut d).await.unwrap();
        assert_eq!(now.schema(), d.snapshot().await.unwrap(), "{sql}");
        let reads = tracker.reads();
        assert_eq!(reads.whole, 1, "{sql}: nothing read whole");
        assert_eq!(reads.owners, owners + changed, "{sql}: owners read");
        owners = reads.owners;
    }
    assert_eq!(first.differences(&tracker.take(&mut d).await.unwrap()), []);
}

/// A step is all or nothing: a failing statement rolls back the statements of its section
/// before it (the savepoint), and only them; the lock stays. The snapshot after it is read
/// whole, and is right.
#[tokio::test]
async fn a_failing_step_rolls_back_its_savepoint() {
    use ferry_core::snapshot::Tracker;

    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "step");
    let mut d = open(&url).await;
    d.relax_durability().await.unwrap();
    d.lock(Duration::from_secs(5)).await.unwrap();
    let mut tracker = Tracker::start(&mut d).await.unwrap();
    tracker.take(&mut d).await.unwrap();
    d.execute_step("CREATE TABLE kept (x INT);", false)
        .await
        .unwrap();
    let before = tracker.take(&mut d).await.unwrap();
    let err = d
        .execute_step(
            "CREATE TABLE a (x INT);\nDROP TABLE kept;\nINSERT INTO missing VALUES (1);",
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.line, Some(3), "{err}");
    let after = tracker.take(&mut d).await.unwrap();
    assert_eq!(after.schema(), d.snapshot().await.unwrap());
    assert_eq!(before.differences(&after), [], "the step left nothing");
    assert_eq!(tracker.reads().whole, 2, "read whole after the rollback");
    let mut other = open(&url).await;
    assert_locked_out(&mut other, "the lock survives a failed step").await;
    d.execute_step("CREATE TABLE a (x INT);", false)
        .await
        .unwrap();
    d.unlock().await.unwrap();
    let s = other.snapshot().await.unwrap();
    assert!(s.get("table", "a").is_some() && s.get("table", "kept").is_some());
}

/// A transaction rolled back by a statement that names no rollback (`OR ROLLBACK`, or a
/// trigger's `RAISE(ROLLBACK)`) undoes changes the tracker saw earlier: the next snapshot is
/// read whole.
#[tokio::test]
async fn an_implicit_rollback_is_seen() {
    use ferry_core::snapshot::Tracker;

    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(dir.path(), "implicit")).await;
    let mut tracker = Tracker::start(&mut d).await.unwrap();
    tracker.take(&mut d).await.unwrap();
    for undo in [
        "INSERT OR ROLLBACK INTO q VALUES (1);",
        "INSERT INTO q VALUES (2);",
    ] {
        d.execute(
            "BEGIN; CREATE TABLE q (a UNIQUE); INSERT INTO q VALUES (1);
CREATE TRIGGER q_no BEFORE INSERT ON q WHEN NEW.a = 2 BEGIN SELECT RAISE(ROLLBACK, 'no'); END;",
            false,
        )
        .await
        .unwrap();
        let with_q = tracker.take(&mut d).await.unwrap();
        assert!(with_q.schema().get("table", "q").is_some());
        d.execute(undo, false).await.expect_err(undo);
        let after = tracker.take(&mut d).await.unwrap();
        assert!(after.schema().get("table", "q").is_none(), "{undo}");
        assert_eq!(after.schema(), d.snapshot().await.unwrap(), "{undo}");
    }
}

/// rusqlite fails the authorizer on a name that is not UTF-8 (it panics inside the callback,
/// prints that, and SQLite refuses the statement). While tracking, such a statement runs
/// anyway: the hooks are taken off and tracking is off from then on.
#[tokio::test]
async fn a_name_the_authorizer_cannot_read_does_not_fail_the_step() {
    use ferry_core::snapshot::Tracker;

    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(dir.path(), "utf8")).await;
    d.execute(
        "CREATE TABLE t (a INT);
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = 'CREATE TABLE t (a INT, ' || CAST(x'ff' AS TEXT) || ' INT)'
    WHERE name = 't';
PRAGMA writable_schema = RESET;",
        false,
    )
    .await
    .unwrap();
    let mut tracker = Tracker::start(&mut d).await.unwrap();
    d.execute("SELECT * FROM t; CREATE TABLE u (x INT);", false)
        .await
        .expect("runs without the authorizer");
    d.execute("CREATE TABLE w (x INT);", false).await.unwrap();
    // The snapshot cannot read the name either: an error, not a wrong answer.
    let err = tracker.take(&mut d).await.unwrap_err();
    assert!(
        err.message.contains("UTF-8") || err.message.contains("utf-8"),
        "{err}"
    );
}

/// Random walks through tables, foreign keys, indexes, views, column and table renames and
/// drops: after every step the snapshot read in part is the whole one.
#[tokio::test]
async fn tracked_snapshots_follow_random_changes() {
    use ferry_core::testkit::snapshot::wander_here;

    for seed in 1..=4 {
        let dir = tempfile::tempdir().unwrap();
        let mut d = open(&database_url(dir.path(), "wander")).await;
        let reads = wander_here(&mut d, ferry_core::sql::Dialect::Sqlite, seed, 150).await;
        assert!(reads.partial > 75, "seed {seed}: {reads:?}");
    }
}
