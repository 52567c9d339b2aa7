//! The generated project and the scratch databases each round runs on.

use super::*;

/// The generated project: a config with two apps and the SQL of each migration.
pub(super) struct Project {
    pub(super) config: PathBuf,
    /// The up and down SQL of migration i (1-based) of app `bench`, and its ID.
    pub(super) migrations: Vec<(String, String, String)>,
    pub(super) large: usize,
}

pub(super) fn up_sql(i: usize) -> String {
    format!(
        "CREATE TABLE bench_{i} (id INTEGER PRIMARY KEY, name VARCHAR(50), created_at TIMESTAMP);\n\
         CREATE INDEX bench_{i}_name ON bench_{i} (name);\n"
    )
}

pub(super) fn down_sql(i: usize) -> String {
    format!("DROP TABLE bench_{i};\n")
}

impl Project {
    pub(super) fn write(dir: &Path, n: usize, large: usize) -> Result<Project> {
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
pub(super) enum Scratch {
    Sqlite(PathBuf),
    Postgres { name: String, url: String },
    Mysql { name: String, url: String },
}

impl Scratch {
    pub(super) fn fresh(backend: Backend, dir: &Path) -> Result<Scratch> {
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

    pub(super) fn url(&self) -> String {
        match self {
            Scratch::Sqlite(path) => format!("sqlite:{}", path.display()),
            Scratch::Postgres { url, .. } | Scratch::Mysql { url, .. } => url.clone(),
        }
    }

    pub(super) fn drop(self) -> Result<()> {
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

pub(super) fn block_on<T, E: std::fmt::Display>(
    future: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a tokio runtime")?;
    runtime.block_on(future).map_err(|e| anyhow::anyhow!("{e}"))
}
