//! The change tracker: where it is off, where it starts, what it reads again, and rolled-back
//! steps.

use std::time::Duration;

use ferry_core::Driver;
use ferry_driver_sqlite::testing::database_url;

use crate::support::{assert_locked_out, open};

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
