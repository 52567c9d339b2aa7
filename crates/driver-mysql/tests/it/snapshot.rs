//! Schema snapshots: what `verify` compares (every kind of object MySQL and MariaDB have).

use std::time::Duration;

use ferry_core::Driver;
use mysql_async::prelude::Queryable;

use crate::support::{count, open, raw, with_database};

/// A schema with every kind of object the snapshot reads on MySQL and MariaDB.
const SNAPSHOT_SCHEMA: &str = "
CREATE TABLE users (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(200) NOT NULL,
    name VARCHAR(100) COLLATE utf8mb4_bin,
    mood ENUM('sad', 'ok') DEFAULT 'ok',
    created TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
    lower_email VARCHAR(200) AS (LOWER(email)) STORED,
    note TEXT,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_name_check CHECK (CHAR_LENGTH(name) > 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE TABLE posts (
    id INT AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    title VARCHAR(200) NOT NULL DEFAULT 'untitled',
    published BOOLEAN NOT NULL DEFAULT FALSE,
    CONSTRAINT posts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
CREATE INDEX posts_title_idx ON posts (title DESC, published);
CREATE INDEX posts_prefix_idx ON posts (title(10));
CREATE FULLTEXT INDEX posts_ft ON posts (title);
CREATE VIEW recent AS SELECT id, title FROM posts WHERE published;
CREATE TRIGGER posts_touch BEFORE INSERT ON posts FOR EACH ROW
BEGIN
    SET NEW.title = TRIM(NEW.title);
END;
CREATE PROCEDURE cleanup(IN days INT, OUT n INT)
BEGIN
    DELETE FROM posts WHERE NOT published;
    SET n = 0;
END;
CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
";

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
        let mut conn = raw(&url).await;
        let version: String = conn.query_first("SELECT VERSION()").await.unwrap().unwrap();
        conn.disconnect().await.unwrap();
        let mariadb = version.contains("MariaDB");
        d.execute(SNAPSHOT_SCHEMA, false).await.unwrap();
        if mariadb {
            d.execute("CREATE SEQUENCE counter START WITH 10 INCREMENT BY 5;", false)
                .await
                .unwrap();
        }
        let s = d.snapshot().await.unwrap();
        d.unlock().await.unwrap();
        assert_left_out(&s, "ferry_migrations");
        assert_left_out(&s, "ferry_migrations_lock");
        assert_eq!(
            count(&url, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'ferry%'").await,
            2
        );

        // MySQL 8 shows `int`, MariaDB `int(11)`.
        let int = if mariadb { "int(11)" } else { "int" };
        let bigint = if mariadb { "bigint(20)" } else { "bigint" };
        let p = |kind: &str, name: &str, prop: &str| property(&s, kind, name, prop);
        assert_eq!(p("table", "users", "engine"), Some("innodb"));
        assert_eq!(p("column", "users.id", "type"), Some(bigint));
        assert_eq!(p("column", "users.id", "identity"), Some("auto_increment"));
        assert_eq!(p("column", "users.id", "nullable"), Some("no"));
        assert_eq!(p("column", "users.email", "type"), Some("varchar(200)"));
        assert_eq!(p("column", "users.email", "collation"), None);
        assert_eq!(p("column", "users.name", "collation"), Some("utf8mb4_bin"));
        assert_eq!(p("column", "users.name", "nullable"), Some("yes"));
        assert_eq!(p("column", "users.name", "default"), None);
        assert_eq!(p("column", "users.mood", "type"), Some("enum('sad','ok')"));
        assert!(p("column", "users.created", "on update").is_some_and(|u| u.starts_with("current_timestamp")));
        assert!(p("column", "users.lower_email", "generated").is_some_and(|g| g.contains("email")));
        assert_eq!(p("column", "users.lower_email", "extra"), Some("stored generated"));
        assert_eq!(p("primary key", "users", "columns"), Some("id"));
        assert_eq!(p("unique constraint", "users.users_email_key", "columns"), Some("email"));
        assert_eq!(p("unique constraint", "users.users_email_key", "table"), Some("users"));
        assert!(s.get("index", "users.users_email_key").is_none());
        assert!(s.get("index", "users.PRIMARY").is_none());
        assert_eq!(p("foreign key", "posts.posts_user_fk", "target"), Some("users(id)"));
        assert_eq!(p("foreign key", "posts.posts_user_fk", "columns"), Some("user_id"));
        assert_eq!(p("foreign key", "posts.posts_user_fk", "on delete"), Some("cascade"));
        assert!(p("check constraint", "users.users_name_check", "expression")
            .is_some_and(|e| e.contains("name")));
        assert_eq!(
            p("index", "posts.posts_title_idx", "columns"),
            Some("title desc, published")
        );
        assert_eq!(p("index", "posts.posts_title_idx", "method"), Some("btree"));
        assert_eq!(p("index", "posts.posts_title_idx", "unique"), Some("no"));
        assert_eq!(p("index", "posts.posts_title_idx", "table"), Some("posts"));
        assert_eq!(p("index", "posts.posts_prefix_idx", "columns"), Some("title(10)"));
        assert_eq!(p("index", "posts.posts_ft", "method"), Some("fulltext"));
        assert!(p("view", "recent", "definition").is_some_and(|v| v.starts_with("select `posts`.`id`")));
        assert_eq!(p("trigger", "posts.posts_touch", "table"), Some("posts"));
        assert_eq!(p("trigger", "posts.posts_touch", "timing"), Some("before"));
        assert_eq!(p("trigger", "posts.posts_touch", "event"), Some("insert"));
        assert_eq!(
            p("trigger", "posts.posts_touch", "definition"),
            Some("BEGIN SET NEW.title = TRIM(NEW.title); END")
        );
        let cleanup = format!("cleanup({int}, {int})");
        assert_eq!(
            p("procedure", &cleanup, "parameters"),
            Some(format!("IN days {int}, OUT n {int}").as_str())
        );
        let twice = format!("twice({int})");
        assert_eq!(p("function", &twice, "returns"), Some(int));
        assert_eq!(p("function", &twice, "definition"), Some("RETURN x * 2"));
        assert_eq!(p("function", &twice, "deterministic"), Some("yes"));
        if mariadb {
            assert_eq!(p("sequence", "counter", "start"), Some("10"));
            assert_eq!(p("sequence", "counter", "increment"), Some("5"));
            assert_eq!(p("sequence", "counter", "cycle"), Some("no"));
            assert!(s.get("table", "counter").is_none());
            assert!(s.get("column", "counter.start_value").is_none());
        }

        // Nothing changed, nothing differs; data is not schema.
        let s = assert_change(&mut d, s, "SELECT 1;", &[]).await;
        let data = if mariadb {
            "INSERT INTO users (email) VALUES ('a@b.c'); SELECT NEXTVAL(counter);"
        } else {
            "INSERT INTO users (email) VALUES ('a@b.c');"
        };
        let s = assert_change(&mut d, s, data, &[]).await;

        // Each change is seen, and only it.
        let s = assert_change(
            &mut d,
            s,
            "DROP INDEX posts_title_idx ON posts;",
            &[("index", "posts.posts_title_idx", "exists")],
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
            "ALTER TABLE posts MODIFY published BOOLEAN NULL DEFAULT FALSE;",
            &[("column", "posts.published", "nullable")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE posts DROP FOREIGN KEY posts_user_fk;\n\
             ALTER TABLE posts ADD CONSTRAINT posts_user_fk FOREIGN KEY (user_id) \
             REFERENCES users (id) ON DELETE RESTRICT;",
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
            "ALTER TABLE posts ADD COLUMN body TEXT;",
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
            "ALTER TABLE users MODIFY mood ENUM('sad', 'ok', 'happy') DEFAULT 'ok';",
            &[("column", "users.mood", "type")],
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
            "DROP PROCEDURE cleanup;",
            &[("procedure", &cleanup, "exists")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "DROP FUNCTION twice;\nCREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 3;",
            &[("function", &twice, "definition")],
        )
        .await;
        let s = assert_change(
            &mut d,
            s,
            "ALTER TABLE users MODIFY name VARCHAR(100);",
            &[("column", "users.name", "collation")],
        )
        .await;
        if mariadb {
            assert_change(
                &mut d,
                s,
                "ALTER SEQUENCE counter INCREMENT BY 2;",
                &[("sequence", "counter", "increment")],
            )
            .await;
        }
    })
    .await;
}
