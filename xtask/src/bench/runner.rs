//! Running the phases: ferry, the floor and sqlx-cli, each measured as a whole process.

use super::*;

pub(super) struct Bench {
    pub(super) binary: PathBuf,
    pub(super) project: Project,
    pub(super) dir: PathBuf,
    pub(super) runs: usize,
    pub(super) sqlx: Option<PathBuf>,
    pub(super) settler: Settler,
}

impl Bench {
    /// P1 once for the floor and once for ferry, not measured: the first run on a server is
    /// faster than every later one (nothing of earlier runs left to flush: the floor's first
    /// P1 took 5.1 s where its later ones took 7-9 s, in each of three runs on MariaDB), and
    /// would otherwise favour whoever goes first in round 1.
    fn warm_up(&self, backend: Backend, floor: &Floor, up: &str) -> Result<()> {
        eprintln!("{}: warm-up (P1 once each, not measured)", backend.name());
        if !matches!(floor, Floor::None) {
            let db = Scratch::fresh(backend, &self.dir)?;
            let result = self.floor(backend, floor, &db, up);
            db.drop()?;
            result?;
        }
        let db = Scratch::fresh(backend, &self.dir)?;
        let result = self.ferry(&db.url(), &["forwards", APP]);
        db.drop()?;
        result.map(drop)
    }

    /// Every phase on one backend.
    pub(super) fn backend(
        &self,
        backend: Backend,
        floor: &Floor,
        results: &mut Results,
    ) -> Result<()> {
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
        self.warm_up(backend, floor, &up)?;
        for round in 0..self.runs {
            eprintln!("{name}: round {} of {}", round + 1, self.runs);
            // Each phase runs for the floor and for ferry back to back, on databases of their
            // own, so that the two of a pair see the same load on a shared machine; which of
            // the two goes first alternates from round to round, so that neither always
            // inherits the other's writes still being flushed.
            let floor_first = round % 2 == 0;
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
                    let mut floor_run = || -> Result<()> {
                        if let Some(db) = &floor_db {
                            self.settler.settle(backend);
                            add(name, "floor", self.floor(backend, floor, db, script)?);
                        }
                        Ok(())
                    };
                    if floor_first {
                        floor_run()?;
                    }
                    self.settler.settle(backend);
                    let ferry = self.ferry(&url, args)?;
                    if !floor_first {
                        floor_run()?;
                    }
                    add(name, "ferry", ferry);
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
    pub(super) fn ferry(&self, url: &str, args: &[&str]) -> Result<Cost> {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("-c")
            .arg(&self.project.config)
            .args(["-d", url, "-q", "--no-dotenv", "--color", "never"])
            .args(args)
            .current_dir(&self.dir);
        self.measure(&mut cmd, None)
    }

    /// The floor runs `script` on `db`.
    pub(super) fn floor(
        &self,
        backend: Backend,
        floor: &Floor,
        db: &Scratch,
        script: &str,
    ) -> Result<Cost> {
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
    pub(super) fn floor_on_ferry_table(
        &self,
        backend: Backend,
        floor: &Floor,
        db: &Scratch,
        select: &str,
    ) -> Result<Cost> {
        self.floor(backend, floor, db, select)
    }

    /// sqlx-cli's P1–P4 on `db`.
    pub(super) fn sqlx_round(
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
    pub(super) fn measure(&self, cmd: &mut Command, stdin: Option<File>) -> Result<Cost> {
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
