//! Tracked snapshots: the owners a change names, and snapshots read in part checked against
//! whole reads.

use ferry_core::Driver;
use ferry_driver_mysql::MysqlDriver;

use crate::support::{open, with_database};

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
