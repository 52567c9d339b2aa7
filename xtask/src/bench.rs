//! `cargo xtask bench`: ferry's command phases against the database's own client (the floor).
//!
//! A benchmark, not a test: it asserts nothing about speed. It builds ferry in release mode,
//! writes one app of N migrations (each a `CREATE TABLE` and a `CREATE INDEX`, down a
//! `DROP TABLE`) to a temporary folder, and runs each phase as a whole process (start
//! included), measured with `wait4`: wall time, CPU (user + system) and peak RSS.
//!
//! Phases, each on a fresh database, K rounds, the median reported:
//! - P1 `forwards all`; P1a `forwards all --atomic` (PostgreSQL, SQLite);
//! - P2 `check` with everything applied; P3 `forwards all` with nothing pending;
//! - P4 `backwards bench all -y`;
//! - P5 `check` on a second app of `--large` migrations (recorded with `--fake`), and P5f
//!   `forwards all` with nothing pending on it;
//! - `ferry --version`.
//!
//! The floor is the database's own client (`psql`, `mariadb`, `sqlite3`; for SQLite without
//! its shell, rusqlite in this process) running the same SQL: a script with one transaction
//! per migration (its section, then one tracking-row write), and for P2/P3/P5 one `SELECT` of
//! the tracking rows. `--peers` adds sqlx-cli when `sqlx` is on the `PATH`.
//!
//! Results go to `target/bench/bench-<N>.json`; `--write-docs` rewrites the marked section of
//! `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::{build_ferry, target_dir, workspace_root};

/// The app the generated project holds.
const APP: &str = "bench";
/// The app of `--large` migrations (P5).
const LARGE_APP: &str = "large";
/// Where `--write-docs` puts the table.
const DOCS: &str = "docs/benchmarks.md";
const BEGIN_MARK: &str = "<!-- cargo xtask bench: begin (generated, do not edit by hand) -->";
const END_MARK: &str = "<!-- cargo xtask bench: end -->";

/// A backend the benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Backend {
    /// PostgreSQL, on the server of `--postgres` / `FERRY_TEST_POSTGRES_URL`
    Postgres,
    /// SQLite, files in a temporary folder
    Sqlite,
    /// MySQL or MariaDB, on the server of `--mysql` / `FERRY_TEST_MYSQL_URL`
    Mysql,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgres",
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Number of migrations in the generated app (N)
    #[arg(long, default_value_t = 1000)]
    migrations: usize,
    /// Fresh databases per phase; the median is reported (K)
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Number of migrations of the second app, for P5 (`check` at scale) and its slope
    #[arg(long, default_value_t = 10_000)]
    large: usize,
    /// Backends to run on (default: all three)
    #[arg(long, value_enum, value_delimiter = ',')]
    backends: Vec<Backend>,
    /// PostgreSQL server, a URL that may CREATE DATABASE (default: FERRY_TEST_POSTGRES_URL, else `postgres://postgres@127.0.0.1:5432/postgres`)
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// MySQL/MariaDB server, a URL that may CREATE DATABASE (default: FERRY_TEST_MYSQL_URL, else `mysql://root@127.0.0.1:3306/test`)
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,
    /// Also run sqlx-cli on the same workload, when `sqlx` is on the PATH
    #[arg(long)]
    peers: bool,
    /// Use this ferry binary instead of building one
    #[arg(long, value_name = "PATH")]
    ferry: Option<PathBuf>,
    /// Rewrite the generated section of docs/benchmarks.md with this run's table
    #[arg(long)]
    write_docs: bool,
    /// Measure fleet runs instead (`ferry --fleet`, SPEC §11): PostgreSQL databases and
    /// SQLite files migrated with --parallel 1, 4, 8, 16, a shell loop and xargs -P 8
    #[arg(long)]
    fleet: bool,
    /// With --fleet: PostgreSQL databases (0 for none)
    #[arg(long, default_value_t = 100, requires = "fleet")]
    fleet_postgres: usize,
    /// With --fleet: SQLite files (0 for none)
    #[arg(long, default_value_t = 1000, requires = "fleet")]
    fleet_sqlite: usize,
    /// With --fleet: migrations per target
    #[arg(long, default_value_t = 20, requires = "fleet")]
    fleet_migrations: usize,
    /// Measure `ferry verify` instead, against plain up + down + up (--backends applies)
    #[arg(long, conflicts_with = "fleet")]
    verify: bool,
    /// With --verify: migrations in the app
    #[arg(long, default_value_t = 300, requires = "verify")]
    verify_migrations: usize,
}

impl BenchArgs {
    /// The variant CI runs so that the harness cannot rot: N = 50, K = 1, every backend.
    pub fn ci() -> Self {
        BenchArgs {
            migrations: 50,
            runs: 1,
            large: 200,
            backends: Vec::new(),
            postgres: None,
            mysql: None,
            peers: false,
            ferry: None,
            write_docs: false,
            fleet: false,
            fleet_postgres: 0,
            fleet_sqlite: 0,
            fleet_migrations: 0,
            verify: false,
            verify_migrations: 0,
        }
    }
}

/// What one process cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    /// Peak resident set size, bytes.
    rss: u64,
}

/// The runs of one phase by one tool on one backend.
#[derive(Debug, Default)]
struct Series {
    runs: Vec<Cost>,
}

impl Series {
    fn median(&self) -> Option<Cost> {
        if self.runs.is_empty() {
            return None;
        }
        let med = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let mut rss: Vec<u64> = self.runs.iter().map(|c| c.rss).collect();
        rss.sort_unstable();
        Some(Cost {
            wall: med(self.runs.iter().map(|c| c.wall).collect()),
            cpu: med(self.runs.iter().map(|c| c.cpu).collect()),
            rss: rss[rss.len() / 2],
        })
    }
}

/// The phases, in the order they are reported.
const PHASES: [(&str, &str); 9] = [
    ("P1", "apply all"),
    ("P1a", "apply all, --atomic"),
    ("P2", "check, all applied"),
    ("P3", "forwards, nothing pending"),
    ("P4", "revert all"),
    ("P5", "check, large app"),
    ("P5f", "forwards, nothing pending, large app"),
    ("V", "ferry --version"),
    ("", ""),
];

/// Series by (backend, phase, tool), tool being `ferry`, `floor` or `sqlx`.
type Results = BTreeMap<(Backend, &'static str, &'static str), Series>;

/// Run `cargo xtask bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if args.migrations == 0 || args.runs == 0 || args.large == 0 {
        bail!("--migrations, --runs and --large must be at least 1");
    }
    let backends = if args.backends.is_empty() {
        vec![Backend::Postgres, Backend::Sqlite, Backend::Mysql]
    } else {
        let mut b = args.backends.clone();
        b.sort();
        b.dedup();
        b
    };
    if let Some(url) = &args.postgres {
        std::env::set_var(ferry_driver_postgres::testing::URL_VAR, url);
    }
    if let Some(url) = &args.mysql {
        std::env::set_var(ferry_driver_mysql::testing::URL_VAR, url);
    }
    let binary = match &args.ferry {
        Some(path) => path.clone(),
        None => build_ferry(None, None)?,
    };
    if args.verify {
        let server = |b: Backend| match b {
            Backend::Postgres => Some(ferry_driver_postgres::testing::admin_url()),
            Backend::Mysql => Some(ferry_driver_mysql::testing::admin_url()),
            Backend::Sqlite => None,
        };
        return crate::bench_verify::run(&crate::bench_verify::VerifyBench {
            ferry: binary,
            migrations: args.verify_migrations.max(1),
            backends: backends.iter().map(|&b| (b.name(), server(b))).collect(),
        });
    }
    if args.fleet {
        return crate::bench_fleet::run(&crate::bench_fleet::FleetBench {
            ferry: binary,
            postgres: args.fleet_postgres,
            sqlite: args.fleet_sqlite,
            migrations: args.fleet_migrations.max(1),
            write_docs: args.write_docs,
        });
    }
    let dir = tempfile::Builder::new()
        .prefix("ferry-bench-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let project = Project::write(dir.path(), args.migrations, args.large)?;
    let sqlx = if args.peers {
        find_on_path("sqlx")
    } else {
        None
    };
    if args.peers && sqlx.is_none() {
        eprintln!("--peers: no `sqlx` on the PATH; sqlx-cli is left out");
    }
    let bench = Bench {
        binary,
        project,
        dir: dir.path().to_owned(),
        runs: args.runs,
        sqlx,
    };
    eprintln!(
        "project: {} (app `{APP}`: {} migrations, app `{LARGE_APP}`: {})",
        dir.path().display(),
        args.migrations,
        args.large
    );

    let mut results = Results::new();
    let mut floors = BTreeMap::new();
    for &backend in &backends {
        let floor = Floor::find(backend);
        eprintln!("{}: floor = {}", backend.name(), floor.describe());
        bench.backend(backend, &floor, &mut results)?;
        floors.insert(backend, floor.describe());
    }
    let machine = machine(&backends)?;
    let table = table(&results, &backends, args, &machine, &floors);
    println!("{table}");

    let out = target_dir().join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let path = out.join(format!("bench-{}.json", args.migrations));
    let json = to_json(&results, args, &machine, &floors);
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    if args.write_docs {
        write_docs(&table)?;
        eprintln!("rewrote the generated section of {DOCS}");
    }
    Ok(())
}

/// The generated project: a config with two apps and the SQL of each migration.
struct Project {
    config: PathBuf,
    /// The up and down SQL of migration i (1-based) of app `bench`, and its ID.
    migrations: Vec<(String, String, String)>,
    large: usize,
}

fn up_sql(i: usize) -> String {
    format!(
        "CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at TIMESTAMP);\n\
         CREATE INDEX bench_{i}_name ON bench_{i} (name);\n"
    )
}

fn down_sql(i: usize) -> String {
    format!("DROP TABLE bench_{i};\n")
}

impl Project {
    fn write(dir: &Path, n: usize, large: usize) -> Result<Project> {
        let config = dir.join("ferry.toml");
        std::fs::write(
            &config,
            format!(
                "[[app]]\nname = \"{APP}\"\nmigrations = \"migrations/{APP}\"\n\n\
                 [[app]]\nname = \"{LARGE_APP}\"\nmigrations = \"migrations/{LARGE_APP}\"\n"
            ),
        )?;
        let mut migrations = Vec::with_capacity(n);
        for (app, count) in [(APP, n), (LARGE_APP, large)] {
            let folder = dir.join("migrations").join(app);
            std::fs::create_dir_all(&folder)?;
            let width = count.to_string().len().max(4);
            for i in 1..=count {
                let id = format!("{i:0width$}");
                let (up, down) = (up_sql(i), down_sql(i));
                let text = format!(
                    "-- ferry:description Create table {i}\n-- ferry:up\n{up}\n-- ferry:down\n{down}"
                );
                let path = folder.join(format!("{id}_create_table_{i}.sql"));
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                // sqlx-cli's form of the same migrations, for --peers.
                if app == APP {
                    let sqlx = dir.join("sqlx");
                    std::fs::create_dir_all(&sqlx)?;
                    std::fs::write(sqlx.join(format!("{i}_create_table_{i}.up.sql")), &up)?;
                    std::fs::write(sqlx.join(format!("{i}_create_table_{i}.down.sql")), &down)?;
                    // The checksum ferry records: SHA-256 of the up section (its lines up to
                    // the down marker, the blank line included).
                    migrations.push((id, format!("{up}\n"), down));
                }
            }
        }
        Ok(Project {
            config,
            migrations,
            large,
        })
    }
}

/// A database made for one run, dropped again by [`Scratch::drop`].
enum Scratch {
    Sqlite(PathBuf),
    Postgres { name: String, url: String },
    Mysql { name: String, url: String },
}

impl Scratch {
    fn fresh(backend: Backend, dir: &Path) -> Result<Scratch> {
        Ok(match backend {
            Backend::Sqlite => {
                let name = ferry_core::scratch::unique_name("bench");
                Scratch::Sqlite(dir.join(format!("{name}.db")))
            }
            Backend::Postgres => {
                let name = ferry_driver_postgres::testing::unique_name("bench");
                let url = block_on(ferry_driver_postgres::testing::create_database(&name))?;
                Scratch::Postgres { name, url }
            }
            Backend::Mysql => {
                let name = ferry_driver_mysql::testing::unique_name("bench");
                let url = block_on(ferry_driver_mysql::testing::create_database(&name))?;
                Scratch::Mysql { name, url }
            }
        })
    }

    fn url(&self) -> String {
        match self {
            Scratch::Sqlite(path) => format!("sqlite:{}", path.display()),
            Scratch::Postgres { url, .. } | Scratch::Mysql { url, .. } => url.clone(),
        }
    }

    fn drop(self) -> Result<()> {
        match self {
            Scratch::Sqlite(path) => {
                for suffix in ["", "-journal", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
                Ok(())
            }
            Scratch::Postgres { name, .. } => {
                block_on(ferry_driver_postgres::testing::drop_database(&name))
            }
            Scratch::Mysql { name, .. } => {
                block_on(ferry_driver_mysql::testing::drop_database(&name))
            }
        }
    }
}

fn block_on<T, E: std::fmt::Display>(
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(future).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The database's own client.
enum Floor {
    /// `psql`, `mariadb` (or `mysql`) or `sqlite3`, at this path.
    Client(PathBuf),
    /// No `sqlite3` shell: rusqlite in this process (no process start counted).
    InProcess,
    /// No client for this server.
    None,
}

impl Floor {
    fn find(backend: Backend) -> Floor {
        let names: &[&str] = match backend {
            Backend::Postgres => &["psql"],
            Backend::Mysql => &["mariadb", "mysql"],
            Backend::Sqlite => &["sqlite3"],
        };
        match names.iter().find_map(|n| find_on_path(n)) {
            Some(path) => Floor::Client(path),
            None if backend == Backend::Sqlite => Floor::InProcess,
            None => Floor::None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Floor::Client(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Floor::InProcess => "rusqlite in-process".into(),
            Floor::None => "none (no client on the PATH)".into(),
        }
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The tracking table as each backend's driver creates it, for the floor's scripts.
fn floor_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id BIGSERIAL PRIMARY KEY, \
             app_name TEXT NOT NULL, migration_id TEXT NOT NULL, description TEXT NOT NULL, \
             checksum TEXT NOT NULL, down_sql TEXT, applied_at TIMESTAMPTZ NOT NULL, \
             duration_ms BIGINT NOT NULL, dirty BOOLEAN NOT NULL DEFAULT FALSE, \
             UNIQUE (app_name, migration_id));\n"
        }
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             app_name TEXT NOT NULL, migration_id TEXT NOT NULL, description TEXT NOT NULL, \
             checksum TEXT NOT NULL, down_sql TEXT, applied_at TEXT NOT NULL, \
             duration_ms INTEGER NOT NULL, dirty INTEGER NOT NULL DEFAULT 0, \
             UNIQUE (app_name, migration_id));\n"
        }
        Backend::Mysql => {
            "CREATE TABLE IF NOT EXISTS ferry_migrations (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             app_name VARCHAR(255) NOT NULL, migration_id VARCHAR(255) NOT NULL, \
             description TEXT NOT NULL, checksum CHAR(64) NOT NULL, down_sql LONGTEXT NULL, \
             applied_at DATETIME(6) NOT NULL, duration_ms BIGINT NOT NULL, \
             dirty BOOLEAN NOT NULL DEFAULT FALSE, UNIQUE KEY (app_name, migration_id)) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
        }
    }
}

const FLOOR_SELECT: &str = "SELECT id, app_name, migration_id, description, checksum, down_sql, \
     applied_at, duration_ms, dirty FROM ferry_migrations WHERE app_name = 'bench' ORDER BY id;\n";

/// The floor's apply script: one transaction per migration, its SQL and one tracking row.
fn floor_up_script(backend: Backend, project: &Project) -> String {
    let (begin, now, dirty) = match backend {
        Backend::Postgres => ("BEGIN", "now()", "false"),
        Backend::Sqlite => ("BEGIN", "strftime('%Y-%m-%dT%H:%M:%fZ','now')", "0"),
        Backend::Mysql => ("START TRANSACTION", "UTC_TIMESTAMP(6)", "FALSE"),
    };
    let mut script = floor_table(backend).to_owned();
    for (i, (id, up, down)) in project.migrations.iter().enumerate() {
        let checksum = ferry_core::checksum(up);
        let down = down.replace('\'', "''");
        let _ = write!(
            script,
            "{begin};\n{up}INSERT INTO ferry_migrations (app_name, migration_id, description, \
             checksum, down_sql, applied_at, duration_ms, dirty) VALUES ('{APP}', '{id}', \
             'Create table {n}', '{checksum}', '{down}', {now}, 0, {dirty});\nCOMMIT;\n",
            n = i + 1
        );
    }
    script
}

/// The floor's revert script: newest first, one transaction per migration.
fn floor_down_script(backend: Backend, project: &Project) -> String {
    let begin = match backend {
        Backend::Mysql => "START TRANSACTION",
        _ => "BEGIN",
    };
    let mut script = String::new();
    for (id, _, down) in project.migrations.iter().rev() {
        let _ = write!(
            script,
            "{begin};\n{down}DELETE FROM ferry_migrations WHERE app_name = '{APP}' AND \
             migration_id = '{id}';\nCOMMIT;\n"
        );
    }
    script
}

/// A MySQL URL's parts, for the `mariadb` client's options.
struct MysqlParts {
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<String>,
    database: String,
}

fn mysql_parts(url: &str) -> Result<MysqlParts> {
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .context("not a mysql:// URL")?;
    let rest = rest.split('?').next().unwrap_or_default();
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((a, r)) => (Some(a), r),
        None => (None, rest),
    };
    let (hostport, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
        None => (hostport.to_owned(), None),
    };
    let (user, password) = match auth.map(|a| a.split_once(':').unwrap_or((a, ""))) {
        Some((u, p)) => (
            Some(percent_decode(u)),
            (!p.is_empty()).then(|| percent_decode(p)),
        ),
        None => (None, None),
    };
    Ok(MysqlParts {
        user,
        password,
        host,
        port,
        database: percent_decode(database),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or("-"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// PostgreSQL's URL without ferry's own query options, for `psql`.
fn psql_url(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

struct Bench {
    binary: PathBuf,
    project: Project,
    dir: PathBuf,
    runs: usize,
    sqlx: Option<PathBuf>,
}

impl Bench {
    /// Every phase on one backend.
    fn backend(&self, backend: Backend, floor: &Floor, results: &mut Results) -> Result<()> {
        let name = backend.name();
        let mut add = |phase: &'static str, tool: &'static str, cost: Cost| {
            results
                .entry((backend, phase, tool))
                .or_default()
                .runs
                .push(cost);
        };
        let up = floor_up_script(backend, &self.project);
        let down = floor_down_script(backend, &self.project);
        for round in 0..self.runs {
            eprintln!("{name}: round {} of {}", round + 1, self.runs);
            // Each phase runs for the floor and for ferry back to back, on databases of their
            // own, so that the two of a pair see the same load on a shared machine.
            let floor_db = match floor {
                Floor::None => None,
                _ => Some(Scratch::fresh(backend, &self.dir)?),
            };
            let ferry_db = Scratch::fresh(backend, &self.dir)?;
            let atomic_db = match backend {
                Backend::Mysql => None,
                _ => Some(Scratch::fresh(backend, &self.dir)?),
            };
            let url = ferry_db.url();
            let result = (|| -> Result<()> {
                let mut phase = |name: &'static str, script: &str, args: &[&str]| -> Result<()> {
                    if let Some(db) = &floor_db {
                        add(name, "floor", self.floor(backend, floor, db, script)?);
                    }
                    add(name, "ferry", self.ferry(&url, args)?);
                    if let (Some(db), "P1") = (&atomic_db, name) {
                        let atomic = self.ferry(&db.url(), &["forwards", APP, "--atomic"])?;
                        add("P1a", "ferry", atomic);
                    }
                    Ok(())
                };
                phase("P1", &up, &["forwards", APP])?;
                phase("P2", FLOOR_SELECT, &["check", APP])?;
                phase("P3", FLOOR_SELECT, &["forwards", APP])?;
                phase("P4", &down, &["backwards", APP, "all", "-y"])?;
                Ok(())
            })();
            for db in [floor_db, Some(ferry_db), atomic_db].into_iter().flatten() {
                db.drop()?;
            }
            result?;
            if let Some(sqlx) = &self.sqlx {
                let db = Scratch::fresh(backend, &self.dir)?;
                let result = self.sqlx_round(sqlx, &db, &mut add);
                db.drop()?;
                result?;
            }
        }
        // P5: the large app, recorded without running its SQL; the floor reads its rows.
        let db = Scratch::fresh(backend, &self.dir)?;
        let url = db.url();
        let result = (|| -> Result<()> {
            eprintln!(
                "{name}: P5 ({} migrations recorded with --fake)",
                self.project.large
            );
            self.ferry(&url, &["forwards", LARGE_APP, "--fake", "-y"])?;
            let select = FLOOR_SELECT.replace(&format!("'{APP}'"), &format!("'{LARGE_APP}'"));
            for _ in 0..self.runs {
                add("P5", "ferry", self.ferry(&url, &["check", LARGE_APP])?);
                add("P5f", "ferry", self.ferry(&url, &["forwards", LARGE_APP])?);
                if !matches!(floor, Floor::None) {
                    let cost = self.floor_on_ferry_table(backend, floor, &db, &select)?;
                    add("P5", "floor", cost);
                    add("P5f", "floor", cost);
                }
            }
            Ok(())
        })();
        db.drop()?;
        result?;
        for _ in 0..self.runs.max(5) {
            add(
                "V",
                "ferry",
                self.measure(Command::new(&self.binary).arg("--version"), None)?,
            );
        }
        Ok(())
    }

    /// Run ferry once on `url`; a non-zero exit is an error.
    fn ferry(&self, url: &str, args: &[&str]) -> Result<Cost> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.project.config)
            .args(["-d", url, "-q", "--no-dotenv", "--color", "never"])
            .args(args)
            .current_dir(&self.dir);
        self.measure(&mut cmd, None)
    }

    /// The floor runs `script` on `db`.
    fn floor(&self, backend: Backend, floor: &Floor, db: &Scratch, script: &str) -> Result<Cost> {
        let file = self.dir.join("floor.sql");
        std::fs::write(&file, script)?;
        let client = match floor {
            Floor::Client(path) => path,
            Floor::InProcess => {
                let Scratch::Sqlite(path) = db else {
                    bail!("an in-process floor is SQLite's only");
                };
                let started = Instant::now();
                let conn = rusqlite::Connection::open(path)?;
                conn.execute_batch(script)?;
                drop(conn);
                return Ok(Cost {
                    wall: started.elapsed(),
                    cpu: Duration::ZERO,
                    rss: 0,
                });
            }
            Floor::None => bail!("no floor client"),
        };
        let mut cmd = Command::new(client);
        match (backend, db) {
            (Backend::Postgres, Scratch::Postgres { url, .. }) => {
                cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
                    .arg(psql_url(url));
            }
            (Backend::Mysql, Scratch::Mysql { url, .. }) => {
                let parts = mysql_parts(url)?;
                cmd.arg("--no-defaults")
                    .arg(format!("--host={}", parts.host));
                if let Some(port) = &parts.port {
                    cmd.arg(format!("--port={port}"));
                }
                if let Some(user) = &parts.user {
                    cmd.arg(format!("--user={user}"));
                }
                if let Some(password) = &parts.password {
                    cmd.env("MYSQL_PWD", password);
                }
                cmd.arg(&parts.database);
            }
            (Backend::Sqlite, Scratch::Sqlite(path)) => {
                cmd.arg("-bail").arg(path);
            }
            _ => bail!("floor and database disagree"),
        }
        self.measure(&mut cmd, Some(File::open(&file)?))
    }

    /// The floor's `SELECT` on a database whose tracking table ferry made.
    fn floor_on_ferry_table(
        &self,
        backend: Backend,
        floor: &Floor,
        db: &Scratch,
        select: &str,
    ) -> Result<Cost> {
        self.floor(backend, floor, db, select)
    }

    /// sqlx-cli's P1–P4 on `db`.
    fn sqlx_round(
        &self,
        sqlx: &Path,
        db: &Scratch,
        add: &mut impl FnMut(&'static str, &'static str, Cost),
    ) -> Result<()> {
        let url = match db {
            Scratch::Sqlite(path) => format!("sqlite:{}?mode=rwc", path.display()),
            other => other.url(),
        };
        let source = self.dir.join("sqlx");
        let run = |args: &[&str]| {
            let mut cmd = Command::new(sqlx);
            cmd.args(["migrate"])
                .args(args)
                .arg("--source")
                .arg(&source)
                .args(["--database-url", &url]);
            self.measure(&mut cmd, None)
        };
        add("P1", "sqlx", run(&["run"])?);
        add("P2", "sqlx", run(&["info"])?);
        add("P3", "sqlx", run(&["run"])?);
        add("P4", "sqlx", run(&["revert", "--target-version", "0"])?);
        Ok(())
    }

    /// Run `cmd` to its end with `stdin` (nothing when `None`); its wall time, CPU and peak
    /// RSS. A non-zero exit is an error.
    ///
    /// `cmd` is started by a helper process (this program again, see [`measure_helper`]),
    /// not by us: Linux carries the memory high-water mark of the process that spawns a
    /// program over to it, so the peak RSS of a program we spawned would be at least ours.
    fn measure(&self, cmd: &mut Command, stdin: Option<File>) -> Result<Cost> {
        let stderr = self.dir.join("stderr.txt");
        let report = self.dir.join("measure.txt");
        let _ = std::fs::remove_file(&report);
        let mut helper = Command::new(std::env::current_exe()?);
        helper
            .arg(HELPER)
            .arg(&report)
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .env("NO_COLOR", "1")
            .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
            .stdout(Stdio::null())
            .stderr(File::create(&stderr)?);
        if let Some(dir) = cmd.get_current_dir() {
            helper.current_dir(dir);
        }
        let status = helper.status().context("cannot run the measuring helper")?;
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        let numbers: Vec<u64> = text
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [code, wall_us, cpu_us, rss] = numbers[..] else {
            bail!(
                "the measuring helper failed ({status}):\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        if code != 0 {
            bail!(
                "`{} {}` failed (status {code}):\n{}",
                cmd.get_program().to_string_lossy(),
                cmd.get_args()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        Ok(Cost {
            wall: Duration::from_micros(wall_us),
            cpu: Duration::from_micros(cpu_us),
            rss,
        })
    }
}

/// The first argument that makes xtask the measuring helper instead of a task.
pub const HELPER: &str = "__bench-measure";

/// The measuring helper: `xtask __bench-measure REPORT PROGRAM ARGS...` runs PROGRAM with
/// our stdin, stdout and stderr, waits for it with `wait4`, and writes to REPORT its exit
/// code (non-zero for a signal), wall time and CPU time (user + system) in µs and its peak
/// RSS in bytes. Called first thing in `main`, before anything grows our memory: PROGRAM's
/// peak RSS cannot be below ours (see [`Bench::measure`]), so ours must stay small.
pub fn measure_helper(args: &[std::ffi::OsString]) -> Result<()> {
    let [report, program, rest @ ..] = args else {
        bail!("usage: xtask {HELPER} REPORT PROGRAM [ARGS...]");
    };
    let mut cmd = Command::new(program);
    cmd.args(rest);
    rusage::reset_peak_on_exec(&mut cmd);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let (code, cpu, rss) = rusage::wait(child)?;
    let wall = started.elapsed();
    std::fs::write(
        report,
        // A signal is reported as exit code 999.
        format!(
            "{} {} {} {rss}\n",
            u32::try_from(code).unwrap_or(999),
            wall.as_micros(),
            cpu.as_micros()
        ),
    )?;
    Ok(())
}

/// Waiting for a child with its resource usage (`wait4`).
mod rusage {
    use std::process::Child;
    use std::time::Duration;

    use anyhow::Result;

    /// Wait for `child`; its exit code (-1 for a signal), CPU time (user + system) and peak
    /// RSS in bytes.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn wait(child: Child) -> Result<(i32, Duration, u64)> {
        let pid = libc::pid_t::try_from(child.id())?;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero `rusage` is valid (plain integers), and both pointers are to
        // live locals for the length of the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got != pid {
            anyhow::bail!("wait4: {}", std::io::Error::last_os_error());
        }
        // The child is reaped; `Child` does not wait on drop.
        drop(child);
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        // Linux reports ru_maxrss in KiB.
        let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
        Ok((code, tv(usage.ru_utime) + tv(usage.ru_stime), rss))
    }

    /// Have `cmd`'s process start with its peak RSS reset to what it holds (Linux's
    /// `/proc/self/clear_refs` "5"), just before it execs the program: forked from us, it
    /// would otherwise begin with our high-water mark, which the program inherits.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn reset_peak_on_exec(cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only async-signal-safe calls (open, write, close) on
        // a static path and buffer; a failure (not Linux, no /proc) is ignored.
        unsafe {
            cmd.pre_exec(|| {
                let fd = libc::open(c"/proc/self/clear_refs".as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"5".as_ptr().cast(), 1);
                    libc::close(fd);
                }
                Ok(())
            });
        }
    }

    /// Elsewhere: nothing to do.
    #[cfg(not(unix))]
    pub fn reset_peak_on_exec(_cmd: &mut std::process::Command) {}

    /// Elsewhere: wall time only.
    #[cfg(not(unix))]
    pub fn wait(mut child: Child) -> Result<(i32, Duration, u64)> {
        let status = child.wait()?;
        Ok((status.code().unwrap_or(-1), Duration::ZERO, 0))
    }
}

/// The machine, in one line, and the servers' versions.
fn machine(backends: &[Backend]) -> Result<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let mut servers = Vec::new();
    for &backend in backends {
        let version = match backend {
            Backend::Postgres => block_on(async {
                let url = ferry_driver_postgres::testing::admin_url();
                let (client, conn) =
                    tokio_postgres::connect(&psql_url(&url), tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                let row = client.query_one("SHOW server_version", &[]).await?;
                Ok::<_, tokio_postgres::Error>(format!("PostgreSQL {}", row.get::<_, String>(0)))
            })
            .unwrap_or_else(|e| format!("PostgreSQL (version unknown: {e})")),
            Backend::Mysql => block_on(async {
                use mysql_async::prelude::Queryable;
                let url = ferry_driver_mysql::testing::admin_url();
                let mut conn = mysql_async::Conn::from_url(url).await?;
                let v: Option<String> = conn.query_first("SELECT VERSION()").await?;
                let _ = conn.disconnect().await;
                Ok::<_, mysql_async::Error>(format!("MySQL/MariaDB {}", v.unwrap_or_default()))
            })
            .unwrap_or_else(|e| format!("MySQL (version unknown: {e})")),
            Backend::Sqlite => format!("SQLite {} (bundled)", rusqlite::version()),
        };
        servers.push(version);
    }
    Ok(format!(
        "{model}, {cores} cores, {mem_gib} GiB, Linux {}; {}; servers on 127.0.0.1 (TCP)",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        servers.join(", ")
    ))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

fn mib(bytes: u64) -> String {
    if bytes == 0 {
        "–".into()
    } else {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    }
}

/// The Markdown table of a run.
fn table(
    results: &Results,
    backends: &[Backend],
    args: &BenchArgs,
    machine: &str,
    floors: &BTreeMap<Backend, String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "N = {} migrations (each `CREATE TABLE` + `CREATE INDEX`, down `DROP TABLE`), P5 at \
         N = {}; median of K = {} runs, each phase a whole process on a fresh database; the \
         ratio is the median of each run's ratio to the floor run just before it. \
         Machine: {machine}.\n",
        args.migrations, args.large, args.runs
    );
    let with_sqlx = results.keys().any(|(_, _, tool)| *tool == "sqlx");
    let _ = write!(
        out,
        "| backend | phase | floor (wall) | ferry wall | ferry CPU | ferry peak RSS | ratio to floor |"
    );
    if with_sqlx {
        let _ = write!(out, " sqlx-cli wall | sqlx-cli ratio |");
    }
    out.push('\n');
    out.push_str("|---|---|---|---|---|---|---|");
    if with_sqlx {
        out.push_str("---|---|");
    }
    out.push('\n');
    for &backend in backends {
        for (phase, what) in PHASES.iter().filter(|(p, _)| !p.is_empty()) {
            let get = |tool| {
                results
                    .get(&(backend, *phase, tool))
                    .and_then(Series::median)
            };
            let Some(ferry) = get("ferry") else { continue };
            let floor = get("floor").or_else(|| {
                (*phase == "P1a")
                    .then(|| results.get(&(backend, "P1", "floor")))
                    .flatten()
                    .and_then(Series::median)
            });
            let floor_runs = results
                .get(&(backend, if *phase == "P1a" { "P1" } else { phase }, "floor"))
                .map(|s| s.runs.as_slice())
                .unwrap_or_default();
            // The median of each run's ratio to the floor run next to it (the pairs ran back
            // to back); without pairs, the ratio of the medians.
            let ratio = |tool: &str, c: Cost| {
                let runs = results
                    .get(&(backend, *phase, tool))
                    .map(|s| s.runs.as_slice())
                    .unwrap_or_default();
                if !floor_runs.is_empty() && runs.len() == floor_runs.len() {
                    let mut ratios: Vec<f64> = runs
                        .iter()
                        .zip(floor_runs)
                        .map(|(r, f)| r.wall.as_secs_f64() / f.wall.as_secs_f64())
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    return format!("{:.2}×", ratios[ratios.len() / 2]);
                }
                floor.map_or_else(
                    || "–".to_owned(),
                    |f| format!("{:.2}×", c.wall.as_secs_f64() / f.wall.as_secs_f64()),
                )
            };
            let _ = write!(
                out,
                "| {} | {phase} {what} | {} | {} | {} | {} | {} |",
                backend.name(),
                floor.map_or_else(|| "–".to_owned(), |f| ms(f.wall)),
                ms(ferry.wall),
                ms(ferry.cpu),
                mib(ferry.rss),
                ratio("ferry", ferry)
            );
            if with_sqlx {
                match get("sqlx") {
                    Some(s) => {
                        let _ = write!(out, " {} | {} |", ms(s.wall), ratio("sqlx", s));
                    }
                    None => out.push_str(" – | – |"),
                }
            }
            out.push('\n');
        }
    }
    out.push('\n');
    for &backend in backends {
        let get = |phase| {
            results
                .get(&(backend, phase, "ferry"))
                .and_then(Series::median)
        };
        if let (Some(small), Some(large)) = (get("P2"), get("P5")) {
            // A slope over a few hundred migrations is noise.
            if args.large >= args.migrations + 1000 {
                let slope = (large.wall.as_secs_f64() - small.wall.as_secs_f64())
                    / (args.large - args.migrations) as f64;
                let _ = writeln!(
                    out,
                    "- {}: `check` costs {:.1} µs per migration (slope of P2 → P5 wall time); \
                     floor: {}.",
                    backend.name(),
                    slope * 1e6,
                    floors.get(&backend).map_or("?", String::as_str)
                );
            }
        }
    }
    out
}

fn to_json(
    results: &Results,
    args: &BenchArgs,
    machine: &str,
    floors: &BTreeMap<Backend, String>,
) -> serde_json::Value {
    let series: Vec<_> = results
        .iter()
        .map(|((backend, phase, tool), s)| {
            let median = s.median();
            json!({
                "backend": backend.name(),
                "phase": phase,
                "tool": tool,
                "runs": s.runs.iter().map(|c| json!({
                    "wall_ms": c.wall.as_secs_f64() * 1000.0,
                    "cpu_ms": c.cpu.as_secs_f64() * 1000.0,
                    "peak_rss_bytes": c.rss,
                })).collect::<Vec<_>>(),
                "median_wall_ms": median.map(|c| c.wall.as_secs_f64() * 1000.0),
                "median_cpu_ms": median.map(|c| c.cpu.as_secs_f64() * 1000.0),
                "median_peak_rss_bytes": median.map(|c| c.rss),
            })
        })
        .collect();
    json!({
        "migrations": args.migrations,
        "large": args.large,
        "runs": args.runs,
        "machine": machine,
        "floors": floors.iter().map(|(b, f)| (b.name().to_owned(), json!(f))).collect::<serde_json::Map<_, _>>(),
        "series": series,
    })
}

/// Replace the generated section of docs/benchmarks.md (between the marks) with `table`,
/// adding the section at the end the first time.
fn write_docs(table: &str) -> Result<()> {
    let path = workspace_root().join(DOCS);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let body = format!("{BEGIN_MARK}\n{table}{END_MARK}");
    let new = match (text.find(BEGIN_MARK), text.find(END_MARK)) {
        (Some(begin), Some(end)) if begin < end => {
            format!("{}{body}{}", &text[..begin], &text[end + END_MARK.len()..])
        }
        _ => format!(
            "{}\n## Command phases (`cargo xtask bench`)\n\n{body}\n",
            text.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    std::fs::write(&path, new).with_context(|| format!("cannot write {}", path.display()))
}
