//! Schema snapshots: what `verify` compares, and tracked snapshots after changes that reach
//! other owners.

use std::time::Duration;

use ferry_driver_sqlite::testing::database_url;

use crate::support::open;

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
