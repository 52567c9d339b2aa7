//! Schema snapshots: what `verify` compares (every kind of object PostgreSQL has).

use std::time::Duration;

use ferry_core::Driver;

use crate::support::{open, scalar, with_database};

/// A schema with every kind of object the snapshot reads (the extension `pg_trgm` is
/// created only where the server has it).
pub(crate) const SNAPSHOT_SCHEMA: &str = r#"
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
