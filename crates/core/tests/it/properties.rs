//! Property tests (issue 11): the migration file parser, the config loader and the SQL lexer
//! never panic and always terminate on any input, and what they return is well formed.
//!
//! Inputs are arbitrary strings (any `char`, control characters included) and near-valid texts
//! built from the fragments that matter to each parser (markers, quotes, `$$`, comments, CR,
//! BOM, ...). Each run is bounded in time: an input that makes a parser loop fails the
//! property instead of hanging the suite.
//!
//! The default case counts keep the whole module at about 30 s in a debug build;
//! `PROPTEST_CASES=N` overrides them (e.g. `PROPTEST_CASES=200000` for a long hunt).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use ferry_core::sql::{is_blank, is_dml_only, line_of_offset, split_statements, Dialect};
use ferry_core::{checksum, parse_migration, Config, Error};
use proptest::prelude::*;

/// The longest one parser call may take on these small inputs before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(10);

/// Run `f` on its own thread and give back its result; fail when it takes longer than
/// [`LIMIT`] (the thread is left behind: it is looping).
fn terminates<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(value) => value,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what} did not finish within {LIMIT:?}"),
        // The closure panicked: the panic message is on stderr; fail with it named.
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what} panicked"),
    }
}

/// Any string, control characters and every plane included.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// Strings made of `fragments` and the odd arbitrary character.
fn near(fragments: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(fragments).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ],
        0..max,
    )
    .prop_map(|parts| parts.concat())
}

const MIGRATION_FRAGMENTS: &[&str] = &[
    "-- ferry:up",
    "-- ferry:down",
    "-- ferry:up no-transaction",
    "-- ferry:down no-transaction",
    "-- ferry:description ",
    "-- ferry:description Create things",
    "-- ferry:no-transaction",
    "-- ferry:",
    "-- ferry:sideways",
    "--ferry:up",
    "  -- ferry:up  ",
    "-- ",
    "--",
    "\n",
    "\n",
    "\n",
    "\r\n",
    "\r",
    "\u{feff}",
    " ",
    "\t",
    "SELECT 1;",
    "CREATE TABLE t (id INT);",
    "'",
    "\"",
    "$$",
    "/*",
    "*/",
    ";",
    "é",
    "\u{0}",
    "\u{2028}",
];

const CONFIG_FRAGMENTS: &[&str] = &[
    "[[app]]\n",
    "[app]\n",
    "[[target]]\n",
    "name = \"users\"\n",
    "name = \"blog\"\n",
    "name = \"all\"\n",
    "name = \"a b\"\n",
    "name = \"\"\n",
    "name = 5\n",
    "migrations = \"migrations/users\"\n",
    "migrations = \"\"\n",
    "migrations = \"../../etc\"\n",
    "depends_on = [\"users\"]\n",
    "depends_on = [\"blog\"]\n",
    "depends_on = [\"ghost\"]\n",
    "depends_on = []\n",
    "depends_on = \"users\"\n",
    "database_url = \"sqlite:app.db\"\n",
    "database_url = \"sqlite:\"\n",
    "database_url = \"postgres://u:pw@h/db\"\n",
    "table = \"ferry_migrations\"\n",
    "table = \"bad name\"\n",
    "table = \"a.b.c\"\n",
    "lock = \"auto\"\n",
    "lock = \"x\"\n",
    "lock_lease = 30\n",
    "lock_lease = 0\n",
    "lock_lease = -1\n",
    "lock_lease = 1e300\n",
    "lock_lease = nan\n",
    "lock_lease = inf\n",
    "lock_lease = 3600.5\n",
    "bogus = 1\n",
    "# comment\n",
    "\"",
    "'",
    "[",
    "]",
    "=",
    "\n",
    "\r\n",
    "\u{feff}",
];

const SQL_FRAGMENTS: &[&str] = &[
    "'", "\"", "`", "[", "]", "$$", "$a$", "$1", "$", "E'", "e'", "\\", "\\'", "''", "/*", "*/",
    "--", "#", ";", ";", ";", "\n", "\r", "\r\n", " ", "\t", "BEGIN", "END", "CREATE", "CASE",
    "IF", "END IF", "LOOP", "TRIGGER", "SELECT 1", "INSERT", "x", "_", "é", "😀", "\u{0}",
];

const DIALECTS: [Dialect; 3] = [Dialect::Postgres, Dialect::MySql, Dialect::Sqlite];

/// What a parse of a migration text came to, comparable across equivalent inputs.
fn migration_outcome(text: &str) -> Result<(String, String, Option<String>, bool), String> {
    let path = Path::new("m/1_x.sql");
    let text = text.to_owned();
    let result = terminates("parse_migration", move || {
        parse_migration(Path::new("m/1_x.sql"), "1", "x", &text)
    });
    match result {
        Ok(m) => Ok((
            m.description,
            m.up.sql,
            m.down.map(|d| d.sql),
            m.up.no_transaction,
        )),
        Err(Error::MigrationFile {
            path: p,
            line,
            message,
        }) => {
            assert_eq!(p, path, "the error names the file");
            Err(format!("{line:?}: {message}"))
        }
        Err(other) => panic!("parse_migration returned a non-file error: {other:?}"),
    }
}

/// `parse_migration` never panics or loops; an error names the file and (except for a missing
/// up marker) a line within the file; a success has sections cut from the text.
fn check_migration(text: &str) -> Result<(), TestCaseError> {
    let path = PathBuf::from("migrations/app/1_x.sql");
    let owned = text.to_owned();
    let result = terminates("parse_migration", {
        let path = path.clone();
        move || parse_migration(&path, "1", "x", &owned)
    });
    // The text as the parser reads it: one BOM dropped, CRLF as LF.
    let normalized = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n");
    let lines = normalized.split('\n').count();
    match result {
        Ok(m) => {
            prop_assert!(
                normalized.contains(&m.up.sql),
                "up section not from the text"
            );
            prop_assert_eq!(&m.checksum, &checksum(&m.up.sql));
            prop_assert!(m.up.first_line >= 1 && m.up.first_line <= lines + 1);
            prop_assert!(!m.description.is_empty());
            prop_assert!(!m.description.contains('\n'));
            if let Some(down) = &m.down {
                prop_assert!(
                    normalized.contains(&down.sql),
                    "down section not from the text"
                );
                prop_assert!(down.first_line >= 1 && down.first_line <= lines + 1);
            }
            prop_assert_eq!(m.files, vec![path]);
        }
        Err(Error::MigrationFile {
            path: p,
            line,
            message,
        }) => {
            prop_assert_eq!(p, path);
            prop_assert!(!message.is_empty());
            match line {
                Some(l) => prop_assert!(l >= 1 && l <= lines, "line {} of {}", l, lines),
                None => prop_assert!(message.contains("no `-- ferry:up` marker"), "{}", message),
            }
        }
        Err(other) => prop_assert!(false, "not a file error: {:?}", other),
    }
    Ok(())
}

/// `Config::parse` never panics or loops; an error is a config error naming the file (and the
/// line, when TOML could not read the text); a success has a usable registry.
fn check_config(text: &str) -> Result<(), TestCaseError> {
    let path = PathBuf::from("/project/ferry.toml");
    let owned = text.to_owned();
    let result = terminates("Config::parse", {
        let path = path.clone();
        move || Config::parse(&owned, Path::new("/project"), Some(path))
    });
    match result {
        Ok(config) => {
            let names = config.registry.names();
            let order: Vec<String> = config
                .registry
                .dependency_order()
                .iter()
                .map(|a| a.name.clone())
                .collect();
            prop_assert_eq!(order.len(), names.len());
            for name in &names {
                prop_assert!(order.contains(name));
                prop_assert!(config.registry.get(name).is_ok());
                prop_assert!(ferry_core::validate_app_name(name).is_ok());
            }
            if let Some(lease) = config.lock_lease {
                prop_assert!(lease >= ferry_core::LockOptions::MIN_LEASE);
                prop_assert!(lease <= ferry_core::LockOptions::MAX_LEASE);
            }
        }
        Err(Error::Config { path: p, message }) => {
            prop_assert_eq!(p, Some(path));
            prop_assert!(!message.is_empty());
            if message.starts_with("invalid config") {
                prop_assert!(message.contains(" at line "), "no line: {}", message);
            }
            // The message never quotes the source text (it may hold a password).
            prop_assert!(!message.contains("u:pw@"), "{}", message);
        }
        Err(other) => prop_assert!(false, "not a config error: {:?}", other),
    }
    Ok(())
}

/// `split_statements` never panics or loops; statements are non-empty slices of the input at
/// their offsets, in increasing order without overlap, on the line their offset is on.
fn check_sql(sql: &str) -> Result<(), TestCaseError> {
    for dialect in DIALECTS {
        let owned = sql.to_owned();
        let found: Vec<(String, usize, usize)> = terminates("split_statements", move || {
            split_statements(&owned, dialect)
                .into_iter()
                .map(|s| (s.text.to_owned(), s.offset, s.line))
                .collect()
        });
        let mut end = 0usize;
        for (text, offset, line) in &found {
            prop_assert!(
                *offset >= end,
                "{:?}: statements overlap or go back",
                dialect
            );
            prop_assert!(
                offset + text.len() <= sql.len(),
                "{:?}: out of bounds",
                dialect
            );
            prop_assert!(sql.is_char_boundary(*offset));
            prop_assert_eq!(&sql[*offset..offset + text.len()], text.as_str());
            prop_assert!(!text.is_empty());
            prop_assert!(!text.starts_with(|c: char| c.is_ascii_whitespace()));
            prop_assert_eq!(*line, line_of_offset(sql, *offset));
            end = offset + text.len();
        }
        let owned = sql.to_owned();
        let (blank, _dml) = terminates("is_blank / is_dml_only", move || {
            (is_blank(&owned, dialect), is_dml_only(&owned, dialect))
        });
        prop_assert_eq!(blank, found.is_empty());
    }
    let lines = sql.matches('\n').count() + 1;
    prop_assert_eq!(line_of_offset(sql, usize::MAX), lines);
    prop_assert_eq!(line_of_offset(sql, 0), 1);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6_000))]

    #[test]
    fn migration_parser_on_any_text(text in any_text(300)) {
        check_migration(&text)?;
    }

    #[test]
    fn migration_parser_on_near_valid_text(text in near(MIGRATION_FRAGMENTS, 40)) {
        check_migration(&text)?;
    }

    /// SPEC §3: CRLF and LF read the same, and a BOM is ignored.
    #[test]
    fn migration_parser_reads_crlf_and_bom_like_lf(
        text in near(MIGRATION_FRAGMENTS, 40)
            .prop_map(|t| t.replace('\r', "").trim_start_matches('\u{feff}').to_owned())
    ) {
        let lf = migration_outcome(&text);
        prop_assert_eq!(&migration_outcome(&text.replace('\n', "\r\n")), &lf);
        prop_assert_eq!(&migration_outcome(&format!("\u{feff}{text}")), &lf);
    }

    #[test]
    fn config_parser_on_any_text(text in any_text(300)) {
        check_config(&text)?;
    }

    #[test]
    fn config_parser_on_near_valid_text(text in near(CONFIG_FRAGMENTS, 30)) {
        check_config(&text)?;
    }

    #[test]
    fn sql_lexer_on_any_text(sql in any_text(300)) {
        check_sql(&sql)?;
    }

    #[test]
    fn sql_lexer_on_near_valid_text(sql in near(SQL_FRAGMENTS, 60)) {
        check_sql(&sql)?;
    }

    /// Statements the lexer can see plainly (no quotes, comments or blocks) are split at every
    /// `;`, as a plain search would.
    #[test]
    fn sql_lexer_splits_plain_statements(words in prop::collection::vec("[a-z0-9 (),=*]{0,12}", 0..20)) {
        let sql = words.join(";");
        // `CREATE ... BEGIN` / `CASE` opens a block whose `;` do not end the statement.
        prop_assume!(!sql.contains("create"));
        for dialect in DIALECTS {
            let expected: Vec<&str> = sql.split(';').map(str::trim).filter(|s| !s.is_empty()).collect();
            let found: Vec<&str> = split_statements(&sql, dialect).into_iter().map(|s| s.text).collect();
            prop_assert_eq!(&found, &expected);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    /// SPEC §2: a password in a URL is never printed. `redact_url` is what every error and
    /// `--verbose` line goes through.
    #[test]
    fn redact_url_hides_any_password(
        scheme in prop::sample::select(&["postgres", "postgresql", "mysql", "mariadb"][..]),
        password in "P[a-z0-9/?#@: %]{3,10}",
        query in prop::sample::select(&["", "?sslmode=disable", "?ssl-mode=DISABLED"][..]),
    ) {
        let url = format!("{scheme}://u:{password}@h:5432/db{query}");
        let message = format!("invalid URL `{url}`: something is wrong");
        let redacted = ferry_core::driver::redact_url(&message);
        prop_assert!(!redacted.contains(&password), "{}", redacted);
    }

    /// The same for a `password=` query parameter: exactly the password is replaced, the rest
    /// of the message is kept.
    #[test]
    fn redact_url_replaces_exactly_the_query_password(password in "P[a-z0-9' ]{3,10}") {
        let message = format!("invalid URL `postgres://u@h/db?password={password}`: bad");
        let redacted = ferry_core::driver::redact_url(&message);
        prop_assert_eq!(redacted, message.replace(&password, "***"));
    }
}
