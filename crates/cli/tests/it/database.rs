//! `ferry database create|drop|wait` and `ferry show` (SPEC §16.5) on every backend: the
//! database really appears and goes, an existing or missing one is said so with exit 0, a
//! declined or impossible prompt changes nothing, `wait` returns as soon as the server
//! accepts a connection and gives up after `--timeout`.

use std::time::{Duration, Instant};

use crate::support::{run_in_pty, runtime, Backend, Project};

/// A database that does not exist yet, with a name that must be quoted (upper case and a
/// hyphen): its URL, and a way to ask whether it exists.
struct Fresh {
    backend: Backend,
    url: String,
    name: String,
}

impl Fresh {
    fn new(backend: Backend, project: &Project) -> Fresh {
        let name = match backend {
            Backend::Sqlite => project.path("fresh.db").display().to_string(),
            Backend::Postgres | Backend::PgBouncer => format!(
                "Ferry-Db-{}",
                ferry_driver_postgres::testing::unique_name("x")
            ),
            Backend::Mysql => format!("Ferry-Db-{}", ferry_driver_mysql::testing::unique_name("x")),
        };
        let url = match backend {
            Backend::Sqlite => format!("sqlite:{name}"),
            Backend::Postgres | Backend::PgBouncer => ferry_core::driver::url::with_database(
                &ferry_driver_postgres::testing::admin_url(),
                &name,
            )
            .unwrap(),
            Backend::Mysql => ferry_core::driver::url::with_database(
                &ferry_driver_mysql::testing::admin_url(),
                &name,
            )
            .unwrap(),
        };
        Fresh { backend, url, name }
    }

    fn exists(&self) -> bool {
        let rt = runtime();
        match self.backend {
            Backend::Sqlite => std::path::Path::new(&self.name).is_file(),
            Backend::Postgres | Backend::PgBouncer => rt
                .block_on(
                    ferry_driver_postgres::server::Server::of_url(&self.url)
                        .unwrap()
                        .database_exists(&self.name),
                )
                .unwrap(),
            Backend::Mysql => rt
                .block_on(
                    ferry_driver_mysql::server::Server::of_url(&self.url)
                        .unwrap()
                        .database_exists(&self.name),
                )
                .unwrap(),
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let rt = runtime();
        let _ = match self.backend {
            Backend::Sqlite => Ok(()),
            Backend::Postgres | Backend::PgBouncer => {
                rt.block_on(ferry_driver_postgres::testing::drop_database(&self.name))
            }
            Backend::Mysql => rt.block_on(ferry_driver_mysql::testing::drop_database(&self.name)),
        };
    }
}

fn create_and_drop(backend: Backend) {
    let project = Project::new(backend);
    let db = Fresh::new(backend, &project);
    let run = |args: &[&str]| {
        let mut all = vec!["-d", db.url.as_str(), "database"];
        all.extend_from_slice(args);
        project.run(&all)
    };
    // Dropping a database that does not exist: said so, exit 0, no prompt.
    run(&["drop"])
        .expect(0)
        .stderr_has(&format!("database {} does not exist", db.name));
    assert!(!db.exists());
    run(&["create"])
        .expect(0)
        .stderr_has(&format!("created database {}", db.name));
    assert!(db.exists());
    // Migrations run on it.
    project.table_migration("users", "1", "t1");
    project.run(&["-d", &db.url, "forwards", "all"]).expect(0);
    // Creating it again: said so, exit 0, nothing lost.
    run(&["create"]).expect(0).stderr_has("already exists");
    project.run(&["-d", &db.url, "check", "--strict"]).expect(0);
    // Without a terminal and without -y: refused before reading stdin, nothing dropped.
    run(&["drop"]).expect(1).stderr_has("-y");
    assert!(db.exists());
    // Declined at the prompt: nothing dropped.
    let declined = run_in_pty(&project, &["-d", &db.url, "database", "drop"], "n\n");
    assert_eq!(declined.code, 1, "{declined:?}");
    assert!(
        declined
            .stdout
            .contains(&format!("Drop database {}? [y/N]", db.name)),
        "{declined:?}"
    );
    assert!(declined.stdout.contains("Not proceeding."), "{declined:?}");
    assert!(db.exists());
    // Agreed at the prompt: dropped.
    let agreed = run_in_pty(&project, &["-d", &db.url, "database", "drop"], "yes\n");
    assert_eq!(agreed.code, 0, "{agreed:?}");
    assert!(!db.exists());
    // And with -y.
    run(&["create"]).expect(0);
    assert!(db.exists());
    run(&["drop", "-y"])
        .expect(0)
        .stderr_has("dropped database");
    assert!(!db.exists());
    run(&["drop", "-y"]).expect(0).stderr_has("does not exist");
}

fn wait(backend: Backend) {
    let project = Project::new(backend);
    let db = Fresh::new(backend, &project);
    // The server is up: at once, for an existing database and for one not created yet.
    for url in [project.db.url.as_str(), db.url.as_str()] {
        let started = Instant::now();
        project
            .run(&["-d", url, "database", "wait", "--timeout", "10"])
            .expect(0);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    assert!(!db.exists());
    if backend == Backend::Sqlite {
        return;
    }
    // Nothing listens on port 1: exit 1 after the timeout, password hidden.
    let closed = match backend {
        Backend::Mysql => "mysql://u:s3cr3t-wait@127.0.0.1:1/x",
        _ => "postgres://u:s3cr3t-wait@127.0.0.1:1/x",
    };
    let started = Instant::now();
    let run = project.run(&["-d", closed, "database", "wait", "--timeout", "1"]);
    let took = started.elapsed();
    run.expect(1)
        .stderr_has("did not accept a connection within 1 s");
    assert!(!run.stderr.contains("s3cr3t-wait"), "{}", run.stderr);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

mod sqlite {
    #[test]
    fn create_and_drop() {
        super::create_and_drop(super::Backend::Sqlite)
    }
    #[test]
    fn wait() {
        super::wait(super::Backend::Sqlite)
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    #[test]
    fn create_and_drop() {
        super::create_and_drop(super::Backend::Postgres)
    }
    #[test]
    fn wait() {
        super::wait(super::Backend::Postgres)
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    #[test]
    fn create_and_drop() {
        super::create_and_drop(super::Backend::Mysql)
    }
    #[test]
    fn wait() {
        super::wait(super::Backend::Mysql)
    }
}

/// Usage errors: an SQLite glob, an in-memory database, a MySQL URL without a database, a
/// folder at an SQLite database's path.
#[test]
fn database_usage_errors() {
    let project = Project::new(Backend::Sqlite);
    for url in [
        "sqlite:tenants/*.db",
        "sqlite::memory:",
        "mysql://root@127.0.0.1:3306",
    ] {
        project.run(&["-d", url, "database", "create"]).expect(2);
    }
    assert!(!project.path("tenants").exists());
    // A folder where the SQLite file would be: neither created over nor deleted.
    std::fs::create_dir(project.path("folder.db")).unwrap();
    for command in [&["create"][..], &["drop", "-y"]] {
        let mut args = vec!["-d", "sqlite:folder.db", "database"];
        args.extend_from_slice(command);
        project.run(&args).expect(2).stderr_has("is not a file");
    }
    assert!(project.path("folder.db").is_dir());
}

/// `ferry show`: a migration's up or down section from its file, without a database.
#[test]
fn show_prints_one_section() {
    let project = Project::new(Backend::Sqlite);
    project.write(
        "blog",
        "20240101000001_posts.sql",
        "-- ferry:up\nCREATE TABLE posts (id INTEGER PRIMARY KEY);\n-- ferry:down\nDROP TABLE posts;\n",
    );
    project.write(
        "blog",
        "20240101000002_seed.sql",
        "-- ferry:up\nINSERT INTO posts VALUES (1);\n",
    );
    // No database is touched: the URL points nowhere.
    let show = |args: &[&str]| {
        let mut all = vec!["-d", "postgres://u:pw@127.0.0.1:1/none", "show"];
        all.extend_from_slice(args);
        project.run(&all)
    };
    let up = show(&["blog", "20240101000001"]);
    up.expect(0);
    assert_eq!(
        up.stdout.trim(),
        "CREATE TABLE posts (id INTEGER PRIMARY KEY);"
    );
    let down = show(&["blog", "20240101000001", "--down"]);
    down.expect(0);
    assert_eq!(down.stdout.trim(), "DROP TABLE posts;");
    show(&["blog", "20240101000002", "--down"])
        .expect(1)
        .stderr_has("no down section");
    let unknown = show(&["blog", "20240101000009"]);
    unknown
        .expect(1)
        .stderr_has("20240101000001, 20240101000002");
    assert_eq!(unknown.stdout, "");
    show(&["nope", "1"]).expect(1).stderr_has("known apps");
    assert!(!project.path("test.db").exists());
}
