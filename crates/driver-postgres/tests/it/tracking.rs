//! Tracked snapshots: read in part after the changes event triggers report, checked against
//! whole reads; tenant snapshots; no tracking without a superuser.

use ferry_core::Driver;
use ferry_driver_postgres::testing;

use crate::support::{open, with_database};

use crate::snapshot::SNAPSHOT_SCHEMA;

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
