//! `examples/embedded` built and run for real, as a user's crate would be: a copy in a temporary
//! folder (path dependencies on this workspace's crates, the `ferry` crate only with
//! `ferry-build`; its own target folder under the workspace's `target/`, `cargo build
//! --offline`). Adding, editing and removing migration files and building again gives a
//! program with exactly the files on disk, whose IDs and checksums are the CLI loader's.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A copy of `examples/embedded` that builds outside the workspace.
struct Example {
    dir: tempfile::TempDir,
}

impl Example {
    fn new() -> Example {
        let root = workspace();
        let source = root.join("examples/embedded");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&source, dir.path());
        let path = |crate_dir: &str| root.join(crate_dir).display().to_string();
        let manifest = format!(
            r#"[package]
name = "ferry-example-embedded"
version = "0.1.0"
edition = "2021"
publish = false

[features]
postgres = ["ferry/postgres"]
mysql = ["ferry/mysql"]

[dependencies]
ferry = {{ path = {ferry:?}, default-features = false, features = ["sqlite"] }}
tokio = {{ version = "1.46", features = ["rt", "macros"] }}

[build-dependencies]
ferry-build = {{ path = {build:?} }}

[workspace]

[profile.dev.package."*"]
debug = false
"#,
            ferry = path("crates/ferry"),
            build = path("crates/build"),
        );
        std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
        std::fs::copy(root.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
        Example { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn target() -> PathBuf {
        workspace().join("target/ferry-build-example")
    }

    /// `cargo build --offline`: `Ok` or the build's stderr.
    fn build(&self) -> Result<(), String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--offline", "--quiet"])
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", Self::target())
            .env_remove("RUSTFLAGS")
            .output()
            .unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// What the program prints (`ferry::Applied`) for the migrations `applied` (`app id
    /// description`) on `db`.
    fn report(db: &Path, applied: &[&str]) -> String {
        let url = format!("sqlite:{}", db.display());
        match applied.len() {
            0 => format!("{url}: up to date, no migration to apply\n"),
            n => format!(
                "{url}: applied {n} migration{}\n{}",
                if n == 1 { "" } else { "s" },
                applied
                    .iter()
                    .map(|line| format!("  {line}\n"))
                    .collect::<String>()
            ),
        }
    }

    /// Run the program on the database `db`: its stdout.
    fn run(&self, db: &Path) -> String {
        let out = Command::new(Self::target().join("debug/ferry-example-embedded"))
            .env("DATABASE_URL", format!("sqlite:{}", db.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the example failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "Cargo.toml" || name == "target" || name.to_string_lossy().ends_with(".db") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

/// The checksums recorded in the example's database, by migration ID.
fn recorded(db: &Path) -> Vec<(String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT migration_id, checksum FROM ferry_migrations ORDER BY migration_id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The checksums the CLI's loader computes for the folder.
fn on_disk(dir: &Path) -> Vec<(String, String)> {
    ferry_core::load_migrations(dir)
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.checksum))
        .collect()
}

#[test]
fn the_program_always_embeds_exactly_the_files_on_disk() {
    let example = Example::new();
    let db = example.path("app.db");
    let blog = example.path("migrations/blog");
    let users = example.path("migrations/users");

    example.build().unwrap();
    assert_eq!(
        example.run(&db),
        Example::report(
            &db,
            &[
                "users 20250101090000 Create the users table",
                "blog 20250102090000 create posts"
            ]
        )
    );
    assert_eq!(example.run(&db), Example::report(&db, &[]));

    // A new file: built again, the program applies it.
    let added = blog.join("20250103090000_add_body.sql");
    std::fs::write(
        &added,
        "-- ferry:up\nALTER TABLE posts ADD COLUMN body TEXT;\n-- ferry:down\nALTER TABLE posts DROP COLUMN body;\n",
    )
    .unwrap();
    example.build().unwrap();
    assert_eq!(
        example.run(&db),
        Example::report(&db, &["blog 20250103090000 add body"])
    );

    // Another new file, edited before it is applied: the recorded checksum is the edited
    // file's, as the CLI reads it.
    let edited = users.join("20250104090000_add_name.sql");
    std::fs::write(
        &edited,
        "-- ferry:up\nALTER TABLE users ADD COLUMN name TEXT;\n",
    )
    .unwrap();
    example.build().unwrap();
    std::fs::write(
        &edited,
        "-- ferry:up\nALTER TABLE users ADD COLUMN full_name TEXT;\n",
    )
    .unwrap();
    example.build().unwrap();
    assert_eq!(
        example.run(&db),
        Example::report(&db, &["users 20250104090000 add name"])
    );
    let mut expected = on_disk(&users);
    expected.extend(on_disk(&blog));
    expected.sort();
    assert_eq!(recorded(&db), expected);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.query_row("SELECT full_name FROM users", [], |_| Ok(()))
        .map(|_| ())
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(()),
            other => Err(other),
        })
        .expect("the edited SQL ran");

    // A removed file: the program no longer has it (its row reads as missing, nothing runs).
    std::fs::remove_file(&added).unwrap();
    example.build().unwrap();
    let fresh = example.path("fresh.db");
    assert_eq!(
        example.run(&fresh),
        Example::report(
            &fresh,
            &[
                "users 20250101090000 Create the users table",
                "users 20250104090000 add name",
                "blog 20250102090000 create posts"
            ]
        )
    );

    // A file the CLI would refuse fails the build, naming the file and line.
    std::fs::write(
        blog.join("20250105090000_bad.sql"),
        "-- ferry:up\nSELECT 1;\n-- ferry:sideways\n",
    )
    .unwrap();
    let err = example.build().unwrap_err();
    assert!(
        err.contains("20250105090000_bad.sql:3: unknown directive `-- ferry:sideways`"),
        "{err}"
    );
}
