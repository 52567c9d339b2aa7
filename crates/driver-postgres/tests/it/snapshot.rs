//! Schema snapshots: what `verify` compares, and snapshots read in part after tracked changes.

use std::time::Duration;

use ferry_core::Driver;
use ferry_driver_postgres::testing;

use crate::support::{open, scalar, with_database};

/// A schema with every kind of object the snapshot reads (the extension `pg_trgm` is
/// created only where the server has it).
const SNAPSHOT_SCHEMA: &str = r#"
CREATE SCHEMA extra;
CREATE TYPE mood AS ENUM ('sad', 'ok');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN posint AS integer NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE SEQUENCE counter START 10 INCREMENT 5;
CREATE TABLE users (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email text NOT NULL UNIQUE,
    name varchar(100) COLLATE "C",
    score posint,
    feeling mood DEFAULT 'ok',
    lower_email text GENERATED ALWAYS AS (lower(email)) STORED,
    CONSTRAINT users_name_check CHECK (length(name) > 1)
);
CREATE TABLE posts (
    id serial PRIMARY KEY,
    user_id bigint NOT NULL,
    title text NOT NULL DEFAULT 'untitled',
    published boolean NOT NULL DEFAULT false,
    CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX posts_title_idx ON posts (title DESC);
CREATE INDEX posts_published_idx ON posts (user_id) WHERE published;
CREATE INDEX users_lower_idx ON users USING hash (lower(email));
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
CREATE MATERIALIZED VIEW counts AS SELECT user_id, count(*) AS n FROM posts GROUP BY user_id;
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.title := trim(NEW.title);
    RETURN NEW;
END $$;
CREATE TRIGGER posts_touch BEFORE INSERT OR UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION touch();
CREATE PROCEDURE cleanup(days integer) LANGUAGE sql AS $$ DELETE FROM posts WHERE NOT published $$;
CREATE TABLE extra.notes (id int PRIMARY KEY, user_id bigint REFERENCES public.users (id));
"#;

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
        let trgm = scalar(
            &d,
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'",
        )
        .await
        .as_deref()
            == Some("1");
        if trgm {
            d.execute("CREATE EXTENSION pg_trgm;", false).await.unwrap();
        }
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        let s = d.snapshot().await.unwrap();
        d.unlock().await.unwrap();
        assert_left_out(&s, "ferry_migrations");
        assert_left_out(&s, "ferry_migrations_lock");
        assert_eq!(
            scalar(&d, "SELECT to_regclass('ferry_migrations_lock')::text")
                .await
                .as_deref(),
            Some("ferry_migrations_lock")
        );

        let p = |kind: &str, name: &str, prop: &str| property(&s, kind, name, prop);
        assert_eq!(p("schema", "public", "exists"), None);
        assert_eq!(p("schema", "extra", "exists"), None);
        assert_eq!(p("extension", "plpgsql", "version"), Some("1.0"));
        if trgm {
            assert!(p("extension", "pg_trgm", "version").is_some());
            // Its functions belong to it, and are not listed.
            assert!(s.get("function", "similarity(text, text)").is_none());
        }
        assert_eq!(p("table", "users", "exists"), None);
        assert_eq!(p("table", "extra.notes", "exists"), None);
        assert_eq!(p("column", "users.id", "type"), Some("bigint"));
        assert_eq!(p("column", "users.id", "identity"), Some("always"));
        assert_eq!(p("column", "users.id", "nullable"), Some("no"));
        assert_eq!(
            p("column", "users.name", "type"),
            Some("character varying(100)")
        );
        assert_eq!(p("column", "users.name", "collation"), Some("C"));
        assert_eq!(p("column", "users.name", "nullable"), Some("yes"));
        assert_eq!(p("column", "users.email", "collation"), None);
        assert_eq!(p("column", "users.score", "type"), Some("posint"));
        assert_eq!(p("column", "users.feeling", "default"), Some("'ok'::mood"));
        assert_eq!(
            p("column", "users.lower_email", "generated"),
            Some("lower(email)")
        );
        assert_eq!(p("column", "users.lower_email", "default"), None);
        assert_eq!(
            p("column", "posts.title", "default"),
            Some("'untitled'::text")
        );
        assert_eq!(
            p("column", "posts.id", "default"),
            Some("nextval('posts_id_seq'::regclass)")
        );
        assert_eq!(p("column", "extra.notes.user_id", "type"), Some("bigint"));
        assert_eq!(p("primary key", "users", "columns"), Some("id"));
        assert_eq!(
            p("primary key", "extra.notes", "table"),
            Some("extra.notes")
        );
        assert_eq!(
            p("unique constraint", "users.users_email_key", "columns"),
            Some("email")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "target"),
            Some("users(id)")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "on delete"),
            Some("cascade")
        );
        assert_eq!(
            p("foreign key", "posts.posts_user_fk", "on update"),
            Some("no action")
        );
        assert_eq!(
            p("foreign key", "extra.notes.notes_user_id_fkey", "target"),
            Some("users(id)")
        );
        assert_eq!(
            p("check constraint", "users.users_name_check", "expression"),
            Some("(length((name)::text) > 1)")
        );
        // The indexes of the primary keys and the unique constraint are left out.
        assert!(s.get("index", "users_pkey").is_none());
        assert!(s.get("index", "users_email_key").is_none());
        assert_eq!(p("index", "posts_title_idx", "columns"), Some("title desc"));
        assert_eq!(p("index", "posts_title_idx", "method"), Some("btree"));
        assert_eq!(p("index", "posts_title_idx", "unique"), Some("no"));
        assert_eq!(p("index", "posts_title_idx", "predicate"), None);
        assert_eq!(
            p("index", "posts_published_idx", "predicate"),
            Some("published")
        );
        assert_eq!(
            p("index", "users_lower_idx", "columns"),
            Some("lower(email)")
        );
        assert_eq!(p("index", "users_lower_idx", "method"), Some("hash"));
        assert_eq!(p("index", "users_lower_idx", "table"), Some("users"));
        assert_eq!(
            p("view", "recent", "definition"),
            Some("SELECT posts.id, posts.title FROM posts WHERE posts.published;")
        );
        assert!(p("materialized view", "counts", "definition")
            .is_some_and(|d| d.contains("GROUP BY posts.user_id")));
        assert_eq!(p("sequence", "counter", "start"), Some("10"));
        assert_eq!(p("sequence", "counter", "increment"), Some("5"));
        assert_eq!(p("sequence", "counter", "type"), Some("bigint"));
        assert_eq!(p("sequence", "posts_id_seq", "owned by"), Some("posts.id"));
        // An identity column's sequence is the column's.
        assert!(!s
            .objects()
            .any(|(kind, name, _)| kind == "sequence" && name.starts_with("users")));
        assert_eq!(p("enum type", "mood", "values"), Some("sad, ok"));
        assert_eq!(
            p("composite type", "pair", "attributes"),
            Some("a integer, b text")
        );
        assert_eq!(p("domain", "posint", "type"), Some("integer"));
        assert_eq!(p("domain", "posint", "nullable"), Some("no"));
        assert_eq!(p("domain", "posint", "default"), Some("1"));
        assert_eq!(p("domain", "posint", "check"), Some("CHECK (VALUE > 0)"));
        assert_eq!(p("trigger", "posts.posts_touch", "table"), Some("posts"));
        assert_eq!(p("trigger", "posts.posts_touch", "timing"), Some("before"));
        assert_eq!(
            p("trigger", "posts.posts_touch", "event"),
            Some("insert or update")
        );
        assert!(p("function", "touch()", "definition").is_some_and(
            |d| d.contains("RETURNS trigger LANGUAGE plpgsql AS $function$ BEGIN NEW.title")
        ));
        assert!(p("procedure", "cleanup(integer)", "definition").is_some());

        // Nothing changed, nothing differs; data is not schema.
        let s = assert_change(&mut d, s, "SELECT 1;", &[]).await;
        let s = assert_change(
            &mut d,
            s,
            "INSERT INTO users (email) VALUES ('a@b.c'); SELECT nextval('counter');",
            &[],
        )
        .await;

        // Each change is seen, and only it.
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
            "ALTER TABLE posts ALTER COLUMN title SET DEFAULT 'none';",
            &[("column", "posts.title", "default")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts ALTER COLUMN published DROP NOT NULL;",
            &[("column", "posts.published", "nullable")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts DROP CONSTRAINT posts_user_fk, ADD CONSTRAINT posts_user_fk \
             FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE RESTRICT;",
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
            "ALTER TABLE posts ADD COLUMN body text;",
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
            "ALTER TYPE mood ADD VALUE 'happy';",
            &[("enum type", "mood", "values")],
        )
        .await;
        assert_eq!(
            property(&s, "enum type", "mood", "values"),
            Some("sad, ok, happy")
        );
        let s = assert_change(
            &mut d,
            s,
            "DROP TRIGGER posts_touch ON posts;",
            &[("trigger", "posts.posts_touch", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER SEQUENCE counter INCREMENT 2;",
            &[("sequence", "counter", "increment")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER DOMAIN posint SET DEFAULT 2;",
            &[("domain", "posint", "default")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RETURN NEW; END $$;",
            &[("function", "touch()", "definition")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE extra.notes ALTER COLUMN user_id TYPE integer;",
            &[("column", "extra.notes.user_id", "type")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "REFRESH MATERIALIZED VIEW counts; DROP MATERIALIZED VIEW counts;",
            &[("materialized view", "counts", "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "CREATE SCHEMA more;",
            &[("schema", "more", "exists")],
        )
        .await;
        let s = if trgm {
            assert_change(
                &mut d,
                s,
                "DROP EXTENSION pg_trgm;",
                &[("extension", "pg_trgm", "exists")],
            )
            .await
        } else {
            s
        };
        // A migration that moves `search_path` does not rename everything.
        assert_change(&mut d, s, "SET search_path TO extra, public;", &[]).await;

        // A tracking table in a schema of its own is left out by its qualified name.
        let mut ops = open(&url, "ops.ferry_migrations").await;
        ops.ensure_table().await.unwrap();
        ops.set_lock_options(LockOptions::new(LockKind::Table));
        ops.lock(Duration::from_secs(5)).await.unwrap();
        let s = ops.snapshot().await.unwrap();
        ops.unlock().await.unwrap();
        assert!(s.get("schema", "ops").is_some());
        assert_left_out(&s, "ops.ferry_migrations");
        assert_left_out(&s, "ops.ferry_migrations_lock");
        assert!(s.get("table", "users").is_some());
    })
    .await;
}

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
