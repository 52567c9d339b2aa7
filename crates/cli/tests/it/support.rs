//! Test support: a temporary project on a fresh database of one backend, and helpers to run
//! the real `ferry` binary against it.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use ferry_core::{Driver, TableName};

/// The backends the shared suite runs on. (A one-backend build of ferry constructs only
/// its own.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)]
pub enum Backend {
    Sqlite,
    Postgres,
    Mysql,
    /// PostgreSQL through a PgBouncer of the test's own in transaction mode (pool size 4).
    PgBouncer,
}

impl Backend {
    /// SQL that takes a few seconds, for kill tests.
    pub fn slow_sql(self) -> &'static str {
        match self {
            Backend::Postgres | Backend::PgBouncer => "SELECT pg_sleep(20);",
            Backend::Mysql => "SELECT SLEEP(20);",
            Backend::Sqlite => {
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000000) SELECT count(*) FROM c;"
            }
        }
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A fresh database; dropped with the value.
pub struct TestDb {
    /// The runtime that drivers opened by the test live on (their connection tasks run here).
    pub rt: tokio::runtime::Runtime,
    pub backend: Backend,
    pub url: String,
    name: String,
    /// The PgBouncer in front of the database ([`Backend::PgBouncer`]); stopped on drop.
    pub bouncer: Option<ferry_driver_postgres::testing::PgBouncer>,
}

impl TestDb {
    pub fn create(backend: Backend, dir: &Path) -> TestDb {
        match backend {
            Backend::Sqlite => TestDb {
                rt: runtime(),
                backend,
                url: format!("sqlite:{}", dir.join("test.db").display()),
                name: String::new(),
                bouncer: None,
            },
            Backend::Postgres => {
                let name = ferry_driver_postgres::testing::unique_name("cli");
                let url = runtime()
                    .block_on(ferry_driver_postgres::testing::create_database(&name))
                    .unwrap_or_else(|e| panic!("PostgreSQL test database (is the server up? FERRY_TEST_POSTGRES_URL): {e}"));
                TestDb {
                    rt: runtime(),
                    backend,
                    url,
                    name,
                    bouncer: None,
                }
            }
            Backend::PgBouncer => {
                let bouncer = ferry_driver_postgres::testing::PgBouncer::start(4)
                    .unwrap_or_else(|e| panic!("PgBouncer: {e}"));
                let name = ferry_driver_postgres::testing::unique_name("cli");
                runtime()
                    .block_on(ferry_driver_postgres::testing::create_database(&name))
                    .unwrap_or_else(|e| panic!("PostgreSQL test database (is the server up? FERRY_TEST_POSTGRES_URL): {e}"));
                TestDb {
                    rt: runtime(),
                    backend,
                    url: bouncer.url(&name),
                    name,
                    bouncer: Some(bouncer),
                }
            }
            Backend::Mysql => {
                let name = ferry_driver_mysql::testing::unique_name("cli");
                let url = runtime()
                    .block_on(ferry_driver_mysql::testing::create_database(&name))
                    .unwrap_or_else(|e| {
                        panic!("MySQL test database (is the server up? FERRY_TEST_MYSQL_URL): {e}")
                    });
                TestDb {
                    rt: runtime(),
                    backend,
                    url,
                    name,
                    bouncer: None,
                }
            }
        }
    }

    /// A driver connected to this database.
    pub fn driver(&self) -> Box<dyn Driver> {
        self.driver_for(TableName::default())
    }

    pub fn driver_for(&self, table: TableName) -> Box<dyn Driver> {
        let url = self.url.clone();
        self.rt.block_on(async move {
            let d: Box<dyn Driver> = match self.backend {
                Backend::Sqlite => {
                    Box::new(ferry_driver_sqlite::connect(&url, table).await.unwrap())
                }
                Backend::Postgres | Backend::PgBouncer => {
                    Box::new(ferry_driver_postgres::connect(&url, table).await.unwrap())
                }
                Backend::Mysql => Box::new(ferry_driver_mysql::connect(&url, table).await.unwrap()),
            };
            d
        })
    }

    /// A dump of the whole database (schema and data), to compare before and after: the
    /// SQLite file's bytes, `pg_dump` of the PostgreSQL database (directly, also for
    /// [`Backend::PgBouncer`]; without the lease lock's table, which a lease-locked run
    /// creates outside its migrations' transaction, and without pg_dump's random
    /// `\restrict` keys), `mariadb-dump` of the MySQL one.
    pub fn dump(&self) -> String {
        let run = |cmd: &mut std::process::Command| {
            let out = cmd.output().expect("run the dump tool");
            assert!(
                out.status.success(),
                "dump: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        match self.backend {
            Backend::Sqlite => {
                let path = self.url.strip_prefix("sqlite:").unwrap();
                let bytes = std::fs::read(path).unwrap_or_default();
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            }
            Backend::Postgres | Backend::PgBouncer => {
                let admin = ferry_driver_postgres::testing::admin_url();
                let url = ferry_core::driver::url::with_database(&admin, &self.name).unwrap();
                let dump = run(std::process::Command::new("pg_dump").args([
                    "--no-owner",
                    "--exclude-table=ferry_migrations_lock",
                    "-d",
                    &url,
                ]));
                String::from_utf8_lossy(&dump)
                    .lines()
                    .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
            Backend::Mysql => {
                // mysql://user[:password]@host[:port]/database: the test server's, which may
                // be a throwaway one on a port of its own.
                let rest = self.url.split_once("://").map_or(&*self.url, |(_, r)| r);
                let rest = rest.split('?').next().unwrap_or(rest);
                let (auth, hostpart) = rest.rsplit_once('@').unwrap_or(("root", rest));
                let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
                let hostport = hostpart.split('/').next().unwrap_or(hostpart);
                let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
                String::from_utf8_lossy(&run(std::process::Command::new("mariadb-dump")
                    .args([
                        "-u",
                        user,
                        "-h",
                        host,
                        "-P",
                        port,
                        "--skip-dump-date",
                        &self.name,
                    ])
                    .env("MYSQL_PWD", password)))
                .into_owned()
            }
        }
    }

    /// Assert the database is as `before` (a [`TestDb::dump`]), showing the lines that differ.
    #[track_caller]
    pub fn assert_unchanged(&self, before: &str, why: &str) {
        let after = self.dump();
        if after != before {
            let old: std::collections::BTreeSet<&str> = before.lines().collect();
            let new: std::collections::BTreeSet<&str> = after.lines().collect();
            let gone: Vec<_> = old.difference(&new).take(20).collect();
            let added: Vec<_> = new.difference(&old).take(20).collect();
            panic!("{why}: the database changed\n--- gone\n{gone:#?}\n--- added\n{added:#?}");
        }
    }

    /// Whether the tracking table exists.
    pub fn table_exists(&self) -> bool {
        let mut d = self.driver();
        self.rt.block_on(d.table_exists()).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        match self.backend {
            Backend::Sqlite => {}
            Backend::Postgres | Backend::PgBouncer => {
                // Stop the bouncer first: its server connections would keep the database open.
                drop(self.bouncer.take());
                let _ = runtime().block_on(ferry_driver_postgres::testing::drop_database(&name));
            }
            Backend::Mysql => {
                let _ = runtime().block_on(ferry_driver_mysql::testing::drop_database(&name));
            }
        }
    }
}

/// A project folder with `ferry.toml` (apps `blog` then `users`, blog depends on users) and a
/// fresh database.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
}

pub const CONFIG: &str = r#"
[[app]]
name = "blog"
migrations = "migrations/blog"
depends_on = ["users"]

[[app]]
name = "users"
migrations = "migrations/users"
"#;

impl Project {
    pub fn new(backend: Backend) -> Project {
        Self::with_config(backend, CONFIG)
    }

    pub fn with_config(backend: Backend, config: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        // Behind the pooler, runs take the lease lock: a short lease keeps a killed run's
        // lock from stalling the next test for the default 30 s.
        let config = match backend {
            Backend::PgBouncer if !config.contains("lock_lease") => {
                format!("lock_lease = 3\n{config}")
            }
            _ => config.to_owned(),
        };
        std::fs::write(dir.path().join("ferry.toml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("migrations/users")).unwrap();
        std::fs::create_dir_all(dir.path().join("migrations/blog")).unwrap();
        let db = TestDb::create(backend, dir.path());
        Project { dir, db }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `migrations/<app>/<name>`.
    pub fn write(&self, app: &str, name: &str, text: &str) -> PathBuf {
        let path = self.path(&format!("migrations/{app}/{name}"));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A standard migration creating table `t` (and dropping it going back).
    pub fn table_migration(&self, app: &str, id: &str, table: &str) -> PathBuf {
        self.write(
            app,
            &format!("{id}_create_{table}.sql"),
            &format!(
                "-- ferry:up\nCREATE TABLE {table} (id INTEGER PRIMARY KEY);\n-- ferry:down\nDROP TABLE {table};\n"
            ),
        )
    }

    /// The `ferry` command in this project, with the database URL in the environment.
    pub fn ferry(&self) -> Command {
        let mut cmd = Command::cargo_bin("ferry").unwrap();
        cmd.current_dir(self.dir.path())
            .env("FERRY_DATABASE_URL", &self.db.url)
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .timeout(std::time::Duration::from_secs(120));
        cmd
    }

    /// Start ferry with `args` in the background (stdin empty, output captured).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("ferry"))
            .current_dir(self.dir.path())
            .env("FERRY_DATABASE_URL", &self.db.url)
            .env_remove("DATABASE_URL")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Start `n` runs of `args` at once; assert that every one exits 0.
    pub fn run_concurrently(&self, n: usize, args: &[&str]) {
        let children: Vec<_> = (0..n).map(|_| self.spawn(args)).collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Run ferry with `args` and stdin closed (not a terminal).
    pub fn run(&self, args: &[&str]) -> Run {
        let output = self.ferry().args(args).write_stdin("").output().unwrap();
        Run::from(output)
    }

    /// `(app, id, status)` for every row of `ferry check --format json`.
    pub fn statuses(&self) -> Vec<(String, String, String)> {
        let r = self.run(&["check", "--format", "json"]);
        assert_eq!(r.code, 0, "check failed: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["migrations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["app_name"].as_str().unwrap().to_owned(),
                    m["migration_id"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    /// The IDs with status `status` in app `app`.
    pub fn ids(&self, app: &str, status: &str) -> Vec<String> {
        self.statuses()
            .into_iter()
            .filter(|(a, _, s)| a == app && s == status)
            .map(|(_, id, _)| id)
            .collect()
    }
}

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Assert the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stderr\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}",
            self.stdout
        );
        self
    }
}

fn s(list: &[&str]) -> Vec<String> {
    list.iter().map(|x| x.to_string()).collect()
}

/// `ids(..)` helper for assertions.
pub fn v(list: &[&str]) -> Vec<String> {
    s(list)
}

/// Run `ferry args` in a pseudo-terminal (via `script`), typing `input`.
pub fn run_in_pty(project: &Project, args: &[&str], input: &str) -> Run {
    let bin = assert_cmd::cargo::cargo_bin("ferry");
    let mut line = format!("'{}'", bin.display());
    for a in args {
        line.push_str(&format!(" '{a}'"));
    }
    let output = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(project.dir.path())
        .env("FERRY_DATABASE_URL", &project.db.url)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(1500));
            // A failed write means `script` is gone already; its output says why.
            let _ = stdin
                .write_all(input.as_bytes())
                .and_then(|()| stdin.flush());
            std::thread::sleep(std::time::Duration::from_millis(500));
            drop(stdin);
            child.wait_with_output()
        })
        .expect("run `script` (util-linux) for a pseudo-terminal");
    Run::from(output)
}
