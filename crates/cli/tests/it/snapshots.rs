//! Snapshots of the CLI's exact output on the example project `examples/blog` (SQLite), to keep
//! it byte-identical across refactors. Each test copies the example to a fresh temporary folder
//! and records a session: every invocation of the real `ferry` binary as
//!
//! ```text
//! $ ferry <args>
//! exit: N
//! --- stdout
//! ...
//! --- stderr
//! ...
//! ```
//!
//! Every invocation also gets `--no-dotenv --color never` first (not shown in the header),
//! stdin is null (not a terminal) and FERRY_DATABASE_URL / DATABASE_URL are unset, so the
//! database is the example's own `database_url = "sqlite:blog.db"` (relative to its
//! ferry.toml). Lines starting with `#` are notes about what the test changed between
//! invocations. Output that does not end with a newline is marked `[no newline at end]`; each
//! session ends with `(end)` so that trailing blank lines of the last output count too.
//!
//! Only what varies from run to run is normalised, by [`redact`]. Update with
//! `INSTA_UPDATE=always cargo test -p ferry-cli --test it snapshots` (or `cargo insta review`)
//! and read the diff: a changed snapshot is a changed CLI.
//!
//! Unix only: on Windows paths print with `\`, so the recorded paths would differ.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_core::driver::RowChange;
use ferry_core::TableName;

/// The example project, relative to this crate.
fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/blog")
}

/// Normalise what varies between runs, and nothing else:
/// - the temporary project folder (as given and canonicalised) → `[DIR]`;
/// - durations of applied/reversed/faked lines, `(3 ms)` or `(1.20 s)` → `([DURATION])`;
/// - `APPLIED AT` cells of the check table, `2024-01-01 09:00:00 UTC` → `[TIME]`, and JSON
///   `"applied_at":"<RFC 3339>"` → `"applied_at":"[TIME]"` (null stays null);
/// - a 14-digit number that is not a migration ID the test wrote or passed itself (that is,
///   the clock-based ID of `ferry new`) → `[TIMESTAMP]`.
fn redact(text: &str, dir: &Path, known_ids: &BTreeSet<String>) -> String {
    let mut text = text.to_owned();
    if let Ok(canonical) = dir.canonicalize() {
        text = text.replace(&*canonical.to_string_lossy(), "[DIR]");
    }
    text = text.replace(&*dir.to_string_lossy(), "[DIR]");

    let chars: Vec<char> = text.chars().collect();
    let matches = |at: usize, template: &str| {
        template.chars().enumerate().all(|(k, t)| {
            chars.get(at + k).is_some_and(|&c| match t {
                '9' => c.is_ascii_digit(),
                t => c == t,
            })
        })
    };
    let digit = |at: usize| chars.get(at).is_some_and(|c| c.is_ascii_digit());
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // `(<number> ms)` / `(<number> s)`
        if chars[i] == '(' && digit(i + 1) {
            let mut j = i + 1;
            while digit(j) || chars.get(j) == Some(&'.') {
                j += 1;
            }
            let unit = [" ms)", " s)"].into_iter().find(|u| matches(j, u));
            if let Some(unit) = unit {
                out.push_str("([DURATION])");
                i = j + unit.len();
                continue;
            }
        }
        if matches(i, "9999-99-99 99:99:99 UTC") {
            out.push_str("[TIME]");
            i += "9999-99-99 99:99:99 UTC".len();
            continue;
        }
        if matches(i, "\"applied_at\":\"") {
            let start = i + "\"applied_at\":\"".len();
            if let Some(len) = chars[start..].iter().position(|&c| c == '"') {
                out.push_str("\"applied_at\":\"[TIME]\"");
                i = start + len + 1;
                continue;
            }
        }
        if digit(i) && (i == 0 || !digit(i - 1)) {
            let mut j = i;
            while digit(j) {
                j += 1;
            }
            let number: String = chars[i..j].iter().collect();
            if number.len() == 14 && !known_ids.contains(&number) {
                out.push_str("[TIMESTAMP]");
            } else {
                out.push_str(&number);
            }
            i = j;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A copy of a project in a temporary folder and the record of the commands run in it.
struct Session {
    dir: tempfile::TempDir,
    /// The migration IDs of files the test put there (not redacted).
    known_ids: BTreeSet<String>,
    log: String,
}

impl Session {
    /// A fresh copy of `examples/blog` (its ferry.toml and migrations only).
    fn blog() -> Session {
        let mut s = Session::empty();
        let from = example_dir();
        std::fs::copy(from.join("ferry.toml"), s.path("ferry.toml")).unwrap();
        for app in ["users", "blog"] {
            let folder = from.join("migrations").join(app);
            for entry in std::fs::read_dir(&folder).unwrap() {
                let entry = entry.unwrap();
                let name = entry.file_name().into_string().unwrap();
                s.write(
                    &format!("migrations/{app}/{name}"),
                    &std::fs::read_to_string(entry.path()).unwrap(),
                );
            }
        }
        s
    }

    /// An empty temporary folder.
    fn empty() -> Session {
        Session {
            dir: tempfile::tempdir().unwrap(),
            known_ids: BTreeSet::new(),
            log: String::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write a file (creating folders); a migration file's ID is remembered as known.
    fn write(&mut self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        if rel.starts_with("migrations/") {
            let name = path.file_name().unwrap().to_string_lossy();
            let id: String = name.chars().take_while(|c| c.is_ascii_digit()).collect();
            self.known_ids.insert(id);
        }
    }

    fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// A `# note` line in the record.
    fn note(&mut self, text: &str) {
        self.log.push_str(&format!("# {text}\n\n"));
    }

    /// Run `ferry args` here and record it. A 14-digit argument is a migration ID the test
    /// chose, so it is not redacted.
    fn run(&mut self, args: &[&str]) {
        for arg in args {
            if arg.len() == 14 && arg.bytes().all(|b| b.is_ascii_digit()) {
                self.known_ids.insert(arg.to_string());
            }
        }
        let output = Command::new(assert_cmd::cargo::cargo_bin("ferry"))
            .current_dir(self.dir.path())
            // Before the subcommand: clap would show them in usage errors otherwise.
            .args(["--no-dotenv", "--color", "never"])
            .args(args)
            .env_remove("FERRY_DATABASE_URL")
            .env_remove("DATABASE_URL")
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("LINES")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let section = |bytes: &[u8]| {
            let mut text = String::from_utf8(bytes.to_vec()).expect("UTF-8 output");
            if !text.is_empty() && !text.ends_with('\n') {
                text.push_str("[no newline at end]\n");
            }
            text
        };
        let entry = format!(
            "$ ferry {}\nexit: {}\n--- stdout\n{}--- stderr\n{}\n",
            args.join(" "),
            output
                .status
                .code()
                .map_or("signal".to_owned(), |c| c.to_string()),
            section(&output.stdout),
            section(&output.stderr),
        );
        self.log
            .push_str(&redact(&entry, self.dir.path(), &self.known_ids));
    }

    /// Set `dirty = true` on a tracking row, as an interrupted no-transaction run leaves it.
    fn mark_dirty(&mut self, app: &str, id: &str) {
        self.note(&format!("tracking row {app} {id} set dirty"));
        let url = format!("sqlite:{}", self.path("blog.db").display());
        crate::support::runtime().block_on(async {
            let mut d = ferry_driver_sqlite::connect(&url, TableName::default())
                .await
                .unwrap();
            d.lock(std::time::Duration::from_secs(5)).await.unwrap();
            d.write(&RowChange::MarkDirty {
                app_name: app.into(),
                migration_id: id.into(),
            })
            .await
            .unwrap();
            d.unlock().await.unwrap();
        });
    }

    #[track_caller]
    fn snapshot(&self, name: &str) {
        let text = format!("{}(end)\n", self.log);
        insta::with_settings!({ omit_expression => true }, {
            insta::assert_snapshot!(name, text);
        });
    }
}

const USERS_1: &str = "20240101090000";
const USERS_2: &str = "20240102090000";
const POSTS: &str = "20240103090000";
const SEED: &str = "20240104090000";
const ANALYZE: &str = "20240105090000";

#[test]
fn check_and_forwards() {
    let mut s = Session::blog();
    s.run(&["check"]);
    s.run(&["check", "--strict"]);
    s.run(&["check", "--format", "json"]);
    s.run(&["check", "users"]);
    s.run(&["check", "nosuch"]);
    s.run(&["forwards", "all", "--preview"]);
    s.run(&["forwards", "users", "1"]);
    s.run(&["check"]);
    s.run(&["forwards", "users", USERS_1]);
    s.run(&["forwards", "blog", "20240199999999"]);
    s.run(&["forwards", "blog", POSTS]);
    s.run(&["check", "blog"]);
    s.run(&["forwards", "all", "1"]);
    s.run(&["forwards", "nosuch"]);
    s.run(&["forwards", "all"]);
    s.run(&["check"]);
    s.run(&["check", "--format", "json"]);
    s.run(&["check", "--strict"]);
    s.run(&["check", "--strict", "--format", "json"]);
    s.run(&["forwards", "all"]);
    s.run(&["forwards", "blog", "1"]);
    s.run(&["forwards", "blog", SEED]);
    s.run(&["forwards", "blog", "20240199999999"]);
    s.snapshot("check_and_forwards");
}

#[test]
fn backwards() {
    let mut s = Session::blog();
    s.run(&["backwards", "blog"]);
    s.run(&["forwards", "users"]);
    s.run(&["forwards", "blog", POSTS]);
    s.run(&["backwards", "users", "-y"]);
    s.run(&["backwards", "users", "all", "-y"]);
    s.run(&["backwards", "blog", "--preview"]);
    s.run(&["backwards", "blog"]);
    s.run(&["backwards", "blog", "-y"]);
    s.run(&["backwards", "blog", "-y"]);
    s.run(&["backwards", "users", USERS_2, "-y"]);
    s.run(&["backwards", "users", POSTS, "-y"]);
    s.run(&["check"]);
    s.run(&["forwards", "blog", POSTS]);
    s.note("users has a pending migration: blog is refused until it runs (or forwards all)");
    s.run(&["forwards", "users"]);
    s.run(&["forwards", "blog", POSTS]);
    s.run(&["backwards", "all", "1", "-y"]);
    s.run(&["backwards", "all", "--preview"]);
    s.run(&["backwards", "all"]);
    s.run(&["backwards", "all", "all", "-y"]);
    s.run(&["check"]);
    s.run(&["backwards", "all", "-y"]);
    s.note("now everything, including the irreversible seed");
    s.run(&["forwards", "all"]);
    s.run(&["backwards", "blog", "--preview"]);
    s.run(&["backwards", "blog", "-y"]);
    s.run(&["backwards", "blog", "--preview"]);
    s.run(&["backwards", "blog", "-y"]);
    s.run(&["backwards", "blog", "all", "--preview"]);
    s.run(&["backwards", "all", "-y"]);
    s.run(&["backwards", "blog", SEED, "-y"]);
    s.run(&["check"]);
    s.snapshot("backwards");
}

#[test]
fn backwards_clean() {
    let mut s = Session::blog();
    s.run(&["forwards", "all"]);
    s.run(&["backwards", "blog", "--clean", "--preview"]);
    s.run(&["backwards", "blog", "--clean"]);
    s.run(&["backwards", "blog", "--clean", "-y"]);
    s.run(&["check"]);
    s.run(&["backwards", "blog", "--clean", "-y"]);
    s.run(&["check"]);
    s.note("a project where nothing irreversible is applied");
    let mut s2 = Session::blog();
    s2.run(&["forwards", "users"]);
    s2.run(&["forwards", "blog", POSTS]);
    s2.run(&["backwards", "all", "--clean", "-y"]);
    s2.run(&["check"]);
    s.log.push_str(&s2.log);
    s.snapshot("backwards_clean");
}

#[test]
fn fake() {
    let mut s = Session::blog();
    s.run(&["forwards", "users", "1", "--fake"]);
    s.run(&["forwards", "users", "--fake"]);
    s.run(&["forwards", "blog", "--fake", "--preview"]);
    s.run(&["forwards", "blog", "--fake"]);
    s.run(&["forwards", "all", "--fake"]);
    s.run(&["check"]);
    s.run(&["forwards", "all", "--fake", "-y"]);
    s.run(&["check"]);
    s.run(&["forwards", "all", "--fake", "-y"]);
    s.snapshot("fake");
}

#[test]
fn clean_missing_rows() {
    let mut s = Session::blog();
    s.run(&["clean"]);
    s.run(&["forwards", "users"]);
    s.run(&["clean", "--preview"]);
    s.note(&format!(
        "migrations/users/{USERS_2}_add_user_index.sql deleted"
    ));
    s.remove(&format!("migrations/users/{USERS_2}_add_user_index.sql"));
    s.run(&["check"]);
    s.run(&["check", "--format", "json"]);
    s.run(&["check", "--strict"]);
    s.run(&["clean", "--preview"]);
    s.run(&["clean", "blog", "--preview"]);
    s.run(&["clean", "blog", "-y"]);
    s.run(&["clean", "nosuch"]);
    s.run(&["clean"]);
    s.run(&["clean", "users", "-y"]);
    s.run(&["check"]);
    s.run(&["clean", "-y"]);
    s.snapshot("clean_missing_rows");
}

#[test]
fn backwards_from_stored_down_sql() {
    let mut s = Session::blog();
    s.run(&["forwards", "users"]);
    s.note(&format!(
        "migrations/users/{USERS_2}_add_user_index.sql deleted"
    ));
    s.remove(&format!("migrations/users/{USERS_2}_add_user_index.sql"));
    s.run(&["backwards", "users", "--preview"]);
    s.run(&["backwards", "users", "-y"]);
    s.run(&["check"]);
    s.snapshot("backwards_from_stored_down_sql");
}

#[test]
fn changed_and_out_of_order() {
    let mut s = Session::blog();
    s.run(&["forwards", "all"]);
    s.note(&format!(
        "migrations/users/{USERS_1}_create_users.sql edited"
    ));
    let rel = format!("migrations/users/{USERS_1}_create_users.sql");
    let text = std::fs::read_to_string(s.path(&rel)).unwrap();
    s.write(&rel, &text.replace("name TEXT NOT NULL", "name TEXT"));
    s.run(&["check"]);
    s.run(&["check", "--strict", "--format", "json"]);
    s.note("an older migration added to users");
    s.write(
        "migrations/users/20240101120000_add_bio.sql",
        "-- ferry:description Add a bio\n-- ferry:up\nALTER TABLE users ADD COLUMN bio TEXT;\n-- ferry:down\nALTER TABLE users DROP COLUMN bio;\n",
    );
    s.run(&["check", "users"]);
    s.run(&["forwards", "users", "--preview"]);
    s.run(&["forwards", "users"]);
    s.run(&["check", "users"]);
    s.snapshot("changed_and_out_of_order");
}

#[test]
fn failing_migration_and_resolve() {
    let mut s = Session::blog();
    s.run(&["forwards", "all"]);
    s.run(&["resolve", "blog", ANALYZE, "--applied"]);
    s.run(&["resolve", "blog", "20240199999999", "--reverted"]);
    s.run(&["resolve", "nosuch", ANALYZE, "--applied"]);
    s.run(&["resolve", "blog", ANALYZE]);
    s.run(&["resolve", "blog", ANALYZE, "--applied", "--reverted"]);
    s.mark_dirty("blog", ANALYZE);
    s.run(&["check"]);
    s.run(&["check", "--format", "json"]);
    s.run(&["check", "--strict"]);
    s.run(&["forwards", "blog"]);
    s.run(&["backwards", "blog", "-y"]);
    s.run(&["resolve", "blog", ANALYZE, "--applied"]);
    s.run(&["check", "blog"]);
    s.mark_dirty("blog", ANALYZE);
    s.run(&["resolve", "blog", ANALYZE, "--reverted"]);
    s.run(&["check", "blog"]);
    s.run(&["forwards", "blog"]);
    s.note("a migration whose SQL fails inside a transaction");
    s.write(
        "migrations/users/20240106090000_broken.sql",
        "-- ferry:description Broken\n-- ferry:up\nCREATE TABLE ok_before (id INTEGER);\nCREATE TABLE users (id INTEGER);\n-- ferry:down\nDROP TABLE ok_before;\n",
    );
    s.run(&["forwards", "users"]);
    s.run(&["check", "users"]);
    s.note("a no-transaction migration whose first statement fails: nothing ran, not dirty");
    s.write(
        "migrations/users/20240106090000_broken.sql",
        "-- ferry:description Broken outside a transaction\n-- ferry:up no-transaction\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    s.run(&["forwards", "users"]);
    s.run(&["check", "users"]);
    s.note("its second statement fails (dirty protocol, counted statements)");
    s.write(
        "migrations/users/20240106090000_broken.sql",
        "-- ferry:description Broken outside a transaction\n-- ferry:up no-transaction\nCREATE TABLE half_one (id INTEGER);\nINSERT INTO no_such_table (id) VALUES (1);\n-- ferry:down\n",
    );
    s.run(&["forwards", "users"]);
    s.run(&["check", "users", "-v"]);
    s.run(&["check", "users", "--format", "json"]);
    s.run(&["forwards", "users"]);
    s.note("statement 2 fixed: resume runs it");
    s.write(
        "migrations/users/20240106090000_broken.sql",
        "-- ferry:description Broken outside a transaction\n-- ferry:up no-transaction\nCREATE TABLE half_one (id INTEGER);\nCREATE TABLE half_two (id INTEGER);\n-- ferry:down\n",
    );
    s.run(&["resolve", "users", "20240106090000", "--resume"]);
    s.run(&["check", "users", "--strict"]);
    s.snapshot("failing_migration_and_resolve");
}

#[test]
fn new_migration() {
    let mut s = Session::blog();
    s.run(&["new", "users", "Add", "avatar URL (optional)!"]);
    s.run(&["check", "users"]);
    s.run(&["new", "nosuch", "x"]);
    s.run(&["new", "all", "x"]);
    s.run(&["new", "users"]);
    s.snapshot("new_migration");
}

#[test]
fn init_in_an_empty_folder() {
    let mut s = Session::empty();
    s.run(&["init"]);
    s.run(&["init"]);
    s.run(&["check"]);
    s.note("the ferry.toml that init wrote");
    let text = std::fs::read_to_string(s.path("ferry.toml")).unwrap();
    s.log.push_str(&text);
    s.log.push('\n');
    s.snapshot("init_in_an_empty_folder");
}

#[test]
fn verbosity() {
    let mut s = Session::blog();
    s.run(&["forwards", "users", "-v"]);
    s.run(&["forwards", "blog", POSTS, "-q"]);
    s.run(&["forwards", "blog", "-q", "-v"]);
    s.run(&["forwards", "all", "-q"]);
    s.run(&["forwards", "all", "-v"]);
    s.run(&["check", "-q"]);
    s.run(&["backwards", "blog", "-y", "-v"]);
    s.run(&["backwards", "blog", "-y", "-q"]);
    s.run(&["backwards", "blog", "-q"]);
    s.snapshot("verbosity");
}

#[test]
fn configuration_and_file_errors() {
    let mut s = Session::blog();
    let config = std::fs::read_to_string(s.path("ferry.toml")).unwrap();
    s.note("ferry.toml without database_url");
    s.write(
        "ferry.toml",
        &config.replace("database_url = \"sqlite:blog.db\"\n", ""),
    );
    s.run(&["check"]);
    s.run(&["forwards", "all"]);
    s.note("ferry.toml with an unknown key");
    s.write("ferry.toml", &format!("lock_mode = \"table\"\n{config}"));
    s.run(&["check"]);
    s.note("an [[app]] table with an unknown key");
    s.write("ferry.toml", &format!("{config}depends = []\n"));
    s.run(&["check"]);
    s.write("ferry.toml", &config);
    s.run(&["check", "-c", "nosuch.toml"]);
    s.run(&["check", "--lock-timeout", "soon"]);
    s.run(&["forwards"]);
    s.run(&["frobnicate"]);
    s.note("a malformed migration file");
    s.write(
        "migrations/blog/20240106090000_bad.sql",
        "-- ferry:up\nSELECT 1;\n-- ferry:sideways\n",
    );
    s.run(&["check"]);
    s.run(&["forwards", "all"]);
    s.run(&["forwards", "users"]);
    s.snapshot("configuration_and_file_errors");
}

#[test]
fn completions_bash() {
    let mut s = Session::blog();
    s.run(&["completions", "bash"]);
    s.snapshot("completions_bash");
}

/// The version line lists the backends built in; this is the default (all) feature set.
#[cfg(all(feature = "postgres", feature = "mysql"))]
#[test]
fn version() {
    let mut s = Session::empty();
    s.run(&["--version"]);
    s.run(&["-V"]);
    s.snapshot("version");
}
