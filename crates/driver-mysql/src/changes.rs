//! Which snapshot owners the SQL run since the last snapshot may have changed (`verify`,
//! [`ferry_core::Driver::changed_owners`]).
//!
//! MySQL and MariaDB keep no log of catalog changes, so the driver reads the SQL it runs: a
//! statement can only change a table, view, sequence, trigger or routine that its text names.
//! Every batch run while tracking ([`Changes::observe`]) adds its *tokens* to a set, and the
//! next snapshot reads again the owners one of those tokens may name ([`Changes::take`] and
//! `MysqlDriver::changed_owners`).
//!
//! # Tokens
//!
//! Over-approximated on purpose (a token that names nothing costs nothing):
//! - every maximal run of identifier characters (ASCII letters, digits, `_`, `$`) anywhere in
//!   the text, comments and string literals included (`/*! ... */` comments are executed),
//!   and the same run without its leading digits (`/*!50001CREATE` is `CREATE` to the
//!   server);
//! - the whole contents of every backtick-, double- and single-quoted string, unescaped (a
//!   quoted name may hold spaces, dots or quotes), and trimmed. The text is lexed three
//!   times, as each `sql_mode` would: backslash escapes in both kinds of strings, in neither
//!   (`NO_BACKSLASH_ESCAPES`), and in single-quoted ones only (`ANSI_QUOTES`), so that a
//!   mode set by the migration itself cannot hide a quoted name.
//!
//! Tokens are compared with names ignoring ASCII case (table and trigger names are
//! case-sensitive with `lower_case_table_names = 0` only, routine names never), which is
//! sound whatever the server's setting.
//!
//! # When the answer is unknown
//!
//! A batch makes the next snapshot a whole read when its text holds a character outside
//! ASCII (a client character set set by the migration could make the server read it
//! otherwise than this lexer, and non-ASCII names compare by collation rules, `é` = `e`), or
//! when its code (outside strings, quoted identifiers and ordinary comments) holds one of
//! these words, ignoring case:
//!
//! | words | why |
//! |---|---|
//! | `CALL`, `PREPARE`, `EXECUTE` | routine calls and dynamic SQL (`EXECUTE IMMEDIATE`) run statements that are not in the text |
//! | `EVENT` | an event runs its statements later |
//! | `DATABASE`, `SCHEMA`, `USE` | a database created, altered, dropped or changed to |
//! | `SQL_MODE` | `sql_mode = ORACLE` calls procedures without `CALL` |
//! | `BINLOG` | replays encoded statements |
//! | `IMPORT`, `CLONE` | MySQL's `IMPORT TABLE` (tables named in files) and `CLONE` (another instance's data) |
//! | `MYSQL` | direct writes to the system tables (`mysql.proc`) |
//! | `GRANT`, `REVOKE`; `USER`, `ROLE` after `CREATE`, `ALTER`, `DROP`, `RENAME`, `REPLACE`, `SET`, `DEFAULT` | privileges decide which definitions `information_schema` shows |
//!
//! A word also counts without its leading digits. After such a batch the driver looks for
//! events (in the database, or naming it in their body): an event may run at any time, so
//! once one exists every later snapshot is read whole. So is every snapshot once a read has
//! found a name outside printable ASCII, or objects of one kind and name in two owners
//! (names with dots: see `snapshot/mod.rs`).
//!
//! # Limits
//!
//! What no text shows is not seen: another session changing the database, an event of
//! another database that does not name this one in its body, and stored code that writes
//! the system tables (`mysql.proc`) when a trigger or function runs it. Triggers and stored
//! functions cannot run DDL or dynamic SQL, so the statements they run on DML change no
//! schema otherwise.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Words whose presence in a batch's code makes the next snapshot a whole read.
const UNKNOWN_WORDS: [&str; 14] = [
    "call", "prepare", "execute", "database", "schema", "use", "sql_mode", "binlog", "import",
    "clone", "mysql", "grant", "revoke", "event",
];

/// Words after which `USER` or `ROLE` changes privileges.
const ACCOUNT_VERBS: [&str; 7] = [
    "create", "alter", "drop", "rename", "replace", "set", "default",
];

/// The longest quoted content kept as a token: MySQL's names are at most 64 characters.
const LONGEST_TOKEN: usize = 256;

/// What one SQL batch may have changed, from its text.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Its tokens (see the module documentation), ASCII lower case.
    pub(crate) tokens: BTreeSet<String>,
    /// Why it may change what it does not name, if it may.
    pub(crate) unknown: Option<String>,
}

/// The tokens and the unknown-making words of `sql`.
pub(crate) fn scan(sql: &str) -> Scan {
    let mut scan = Scan::default();
    let bytes = sql.as_bytes();
    if !sql.is_ascii() {
        scan.unknown = Some("the SQL holds characters outside ASCII".to_owned());
    }
    // Identifier runs anywhere, comments and strings included.
    let mut i = 0;
    while i < bytes.len() {
        if is_ident(bytes[i]) {
            let end = run_end(bytes, i);
            scan.add_token(&bytes[i..end]);
            i = end;
        } else {
            i += 1;
        }
    }
    for mode in MODES {
        lex(bytes, mode, &mut scan);
    }
    scan
}

impl Scan {
    /// Add a token (and the same without leading digits), ASCII lower case.
    fn add_token(&mut self, token: &[u8]) {
        if token.is_empty() || token.len() > LONGEST_TOKEN {
            return;
        }
        let text = String::from_utf8_lossy(token).to_ascii_lowercase();
        let stripped = text.trim_start_matches(|c: char| c.is_ascii_digit());
        if !stripped.is_empty() && stripped.len() < text.len() {
            self.tokens.insert(stripped.to_owned());
        }
        self.tokens.insert(text);
    }

    /// A word of code, with the one before it.
    fn code_word(&mut self, word: &str, previous: Option<&str>) {
        let word = word.trim_start_matches(|c: char| c.is_ascii_digit());
        let previous = previous.map(|p| p.trim_start_matches(|c: char| c.is_ascii_digit()));
        let account =
            matches!(word, "user" | "role") && previous.is_some_and(|p| ACCOUNT_VERBS.contains(&p));
        if (UNKNOWN_WORDS.contains(&word) || account) && self.unknown.is_none() {
            let shown = match previous {
                Some(p) if account => format!("{} {}", p.to_uppercase(), word.to_uppercase()),
                _ => word.to_uppercase(),
            };
            self.unknown = Some(format!(
                "the SQL holds `{shown}`, which may change what it does not name"
            ));
        }
    }
}

/// How the server may read quoted strings, by `sql_mode`.
#[derive(Debug, Clone, Copy)]
struct Mode {
    /// Backslash escapes in `'...'`.
    single: bool,
    /// Backslash escapes in `"..."`.
    double: bool,
}

/// Default; `NO_BACKSLASH_ESCAPES`; `ANSI_QUOTES` (a double-quoted identifier has none).
const MODES: [Mode; 3] = [
    Mode {
        single: true,
        double: true,
    },
    Mode {
        single: false,
        double: false,
    },
    Mode {
        single: true,
        double: false,
    },
];

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn run_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    end
}

/// Lex `bytes` as the server would in `mode`: quoted contents become tokens, words of code
/// are checked. Comments end as early as the server may end them and start only where it
/// surely starts one, so that no code is taken for a comment. Delimiters are ASCII, so every
/// slice taken is whole characters.
fn lex(bytes: &[u8], mode: Mode, scan: &mut Scan) {
    let at = |i: usize| bytes.get(i).copied();
    let mut previous: Option<String> = None;
    let mut i = 0;
    while let Some(b) = at(i) {
        match b {
            b'\'' | b'"' | b'`' => {
                let backslash = match b {
                    b'\'' => mode.single,
                    b'"' => mode.double,
                    _ => false,
                };
                let (content, end) = quoted(bytes, i, backslash);
                if content.len() <= LONGEST_TOKEN {
                    let trimmed = content.trim_ascii();
                    if trimmed.len() < content.len() {
                        scan.add_token(trimmed);
                    }
                    scan.add_token(&content);
                }
                i = end;
            }
            b'#' => i = line_end(bytes, i),
            b'-' if at(i + 1) == Some(b'-')
                && at(i + 2)
                    .is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) =>
            {
                i = line_end(bytes, i);
            }
            b'/' if at(i + 1) == Some(b'*') => {
                if at(i + 2) == Some(b'!') {
                    // Executed: its contents are code; the closing `*/` is punctuation.
                    i += 3;
                } else if at(i + 2) == Some(b'M') && at(i + 3) == Some(b'!') {
                    i += 4;
                } else {
                    i = comment_end(bytes, i + 2);
                }
            }
            b if is_ident(b) => {
                let end = run_end(bytes, i);
                let word = String::from_utf8_lossy(&bytes[i..end]).to_ascii_lowercase();
                scan.code_word(&word, previous.as_deref());
                previous = Some(word);
                i = end;
            }
            _ => i += 1,
        }
    }
}

/// The unescaped contents of the string or identifier quoted by `bytes[start]`, and the
/// offset after its closing quote (the end of the text when it has none). A doubled quote is
/// one quote; with `backslash`, `\x` is `x` as the server reads it (`\n` a newline, ...).
fn quoted(bytes: &[u8], start: usize, backslash: bool) -> (Vec<u8>, usize) {
    let quote = bytes[start];
    let mut content = Vec::new();
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                content.push(quote);
                i += 2;
                continue;
            }
            return (content, i + 1);
        }
        if b == b'\\' && backslash {
            match bytes.get(i + 1) {
                Some(&next) => {
                    if matches!(next, b'%' | b'_') {
                        // `\%` and `\_` keep their backslash.
                        content.push(b'\\');
                    }
                    content.push(match next {
                        b'0' => 0,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'Z' => 0x1a,
                        other => other,
                    });
                    i += 2;
                }
                None => i += 1,
            }
            continue;
        }
        content.push(b);
        i += 1;
    }
    (content, bytes.len())
}

/// The offset after the newline that ends the line comment starting at `start`.
fn line_end(bytes: &[u8], start: usize) -> usize {
    match bytes[start..].iter().position(|&b| b == b'\n') {
        Some(at) => start + at + 1,
        None => bytes.len(),
    }
}

/// The offset after the first `*/` from `from` (the end of the text when there is none).
fn comment_end(bytes: &[u8], from: usize) -> usize {
    match bytes
        .get(from..)
        .and_then(|rest| rest.windows(2).position(|w| w == b"*/"))
    {
        Some(at) => from + at + 2,
        None => bytes.len(),
    }
}

/// Whether `name` can be matched against tokens and read back by name: printable ASCII.
pub(crate) fn is_plain(name: &str) -> bool {
    name.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// The tracking state of one driver.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Recording ([`ferry_core::Driver::track_changes`]).
    pub(crate) on: bool,
    /// The tokens of the SQL run since the last [`Changes::take`].
    tokens: HashSet<String>,
    /// Why that SQL may have changed what it does not name.
    unknown: Option<String>,
    /// Why nothing can be known any more, until tracking starts again.
    broken: Option<String>,
    /// Every name the reads have seen since tracking started, ASCII lower case, with the
    /// owners it may name: a table or view (its own), a trigger (its table's), a foreign key's
    /// target table, a routine. Never shrinks: an owner read before a change is still named
    /// by the change's tokens after another read has seen it changed.
    known: BTreeMap<String, BTreeSet<String>>,
}

/// What [`Changes::take`] hands over.
pub(crate) enum Pending {
    /// Nothing can be said any more (until tracking starts again).
    Broken,
    /// Nothing can be said this time: read everything (and look for events).
    Unknown,
    /// These tokens, to match with the owners that exist now and the names seen before.
    Tokens(HashSet<String>),
}

impl Changes {
    /// Start recording afresh.
    pub(crate) fn start(&mut self) {
        *self = Changes {
            on: true,
            ..Changes::default()
        };
    }

    /// Record a batch about to run (also when it then fails: a part of it may have run).
    pub(crate) fn observe(&mut self, sql: &str) {
        if !self.on {
            return;
        }
        let scan = scan(sql);
        if self.unknown.is_none() {
            self.unknown = scan.unknown;
        }
        self.tokens.extend(scan.tokens);
    }

    /// What was recorded since the last call, forgotten here.
    pub(crate) fn take(&mut self) -> Pending {
        let tokens = std::mem::take(&mut self.tokens);
        let unknown = self.unknown.take();
        if self.broken.is_some() {
            Pending::Broken
        } else if unknown.is_some() {
            Pending::Unknown
        } else {
            Pending::Tokens(tokens)
        }
    }

    /// Make the next answer unknown (a listing failed after its tokens were taken).
    pub(crate) fn set_unknown(&mut self, why: &str) {
        self.unknown.get_or_insert_with(|| why.to_owned());
    }

    /// Make every answer unknown until tracking starts again.
    pub(crate) fn break_off(&mut self, why: &str) {
        if self.on {
            self.broken.get_or_insert_with(|| why.to_owned());
        }
    }

    /// Remember that `name` (as the server spells it) names `owner`.
    pub(crate) fn learn(&mut self, name: &str, owner: &str) {
        if !self.on {
            return;
        }
        if !is_plain(name) {
            self.break_off("a name outside printable ASCII");
            return;
        }
        self.known
            .entry(name.to_ascii_lowercase())
            .or_default()
            .insert(owner.to_owned());
    }

    /// The owners that names seen before and named by `tokens` may be.
    pub(crate) fn known_owners(&self, tokens: &HashSet<String>) -> BTreeSet<String> {
        tokens
            .iter()
            .filter_map(|token| self.known.get(token))
            .flatten()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(sql: &str) -> BTreeSet<String> {
        scan(sql).tokens
    }

    fn has(sql: &str, token: &str) -> bool {
        tokens(sql).contains(token)
    }

    #[test]
    fn identifier_runs_anywhere_lower_case() {
        let t = tokens("CREATE TABLE Users_1 (id INT); -- see Old$Table\n# x_y\n/* Zed */");
        for token in [
            "create",
            "table",
            "users_1",
            "id",
            "int",
            "see",
            "old$table",
            "x_y",
            "zed",
        ] {
            assert!(t.contains(token), "{token} in {t:?}");
        }
        assert!(has("SELECT 'in a string'", "string"));
        assert!(has("/*!50001CREATE VIEW v AS SELECT 1 */", "create"));
    }

    #[test]
    fn quoted_contents_whole_and_unescaped() {
        assert!(has("RENAME TABLE `my table` TO `b.c`", "my table"));
        assert!(has("RENAME TABLE `my table` TO `b.c`", "b.c"));
        assert!(has("DROP TABLE `a``b`", "a`b"));
        assert!(has("DROP TABLE \"Quoted \"\"Name\"\"\"", "quoted \"name\""));
        assert!(has("SELECT 'it''s'", "it's"));
        // Both readings of a backslash: escape, or not (NO_BACKSLASH_ESCAPES).
        assert!(has(r"SELECT 'a\'b'", "a'b"));
        assert!(has(r"SELECT 'a\'", r"a\"));
        assert!(has(r#"CREATE TABLE "x\y" (a INT)"#, r"x\y"));
        assert!(has("DROP TABLE ` padded `", "padded"));
        // An apostrophe in a comment does not hide the quoted name after it.
        assert!(has("-- don't\nDROP TABLE `a b`", "a b"));
        assert!(has("/* it's */ DROP TABLE `a b`", "a b"));
        // Unterminated: to the end.
        assert!(has("DROP TABLE `open end", "open end"));
    }

    #[test]
    fn unknown_making_words_in_code_only() {
        for sql in [
            "CALL p()",
            "call p",
            "PREPARE s FROM 'DROP TABLE t'",
            "EXECUTE IMMEDIATE 'DROP TABLE t'",
            "DROP DATABASE d",
            "CREATE SCHEMA s",
            "USE other",
            "SET sql_mode = 'ORACLE'",
            "SET @@SESSION.SQL_MODE = ''",
            "BINLOG 'AAAA'",
            "INSERT INTO mysql.proc VALUES ()",
            "GRANT SELECT ON t TO u",
            "RENAME USER a TO b",
            "SET ROLE admin",
            "/*!50001 CALL p() */",
            "/*!50001CALL p() */",
            "/*M!100100 CALL p() */",
            "CREATE TABLE t (a INT); CALL p();",
            "SELECT 1 --x\nCALL p()",
        ] {
            assert!(scan(sql).unknown.is_some(), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (caller INT, executed INT, user INT, users INT)",
            "CREATE TABLE user (id INT); DROP TABLE user; ALTER TABLE user ADD role INT",
            "-- call me\nCREATE TABLE t (a INT)",
            "# USE this\nCREATE TABLE t (a INT)",
            "/* EXECUTE */ CREATE TABLE t (a INT) COMMENT 'call'",
            "CREATE TABLE `call` (a INT)",
            "SELECT 'it''s -- USE' FROM t",
        ] {
            assert_eq!(scan(sql).unknown, None, "{sql}");
        }
        assert!(
            scan("CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO DROP TABLE t")
                .unknown
                .is_some()
        );
        assert_eq!(scan("CREATE TABLE events (a INT)").unknown, None);
    }

    #[test]
    fn a_string_that_swallows_code_in_one_mode_does_not_hide_it() {
        // With backslash escapes the string is 'a\' CALL p() --', without them it ends at
        // the backslash and CALL is code: one reading sees it.
        assert!(scan(r"SELECT 'a\' CALL p() -- '").unknown.is_some());
        assert!(scan(r#"SELECT "a\" CALL p() -- ""#).unknown.is_some());
    }

    #[test]
    fn non_ascii_text_is_unknown_and_nothing_panics() {
        assert!(scan("CREATE TABLE café (a INT)").unknown.is_some());
        assert!(scan("-- création\nCREATE TABLE t (a INT)")
            .unknown
            .is_some());
        for sql in [
            "",
            "'",
            "`",
            "\"",
            "/*",
            "/*!",
            "/*M",
            "--",
            "-",
            "#",
            "\\",
            "'\\",
            "`é",
            "'é\\",
            "/*!é",
            "a\u{0}b",
            "\u{10FFFF}",
        ] {
            let _ = scan(sql);
        }
    }

    #[test]
    fn changes_name_known_owners_and_forget_after_take() {
        let mut c = Changes::default();
        c.observe("DROP TRIGGER trg");
        assert!(
            matches!(c.take(), Pending::Tokens(t) if t.is_empty()),
            "not on"
        );
        c.start();
        c.learn("Trg", "table:t");
        c.learn("t", "table:t");
        c.observe("DROP TRIGGER TRG");
        let Pending::Tokens(tokens) = c.take() else {
            panic!("unknown")
        };
        assert_eq!(
            c.known_owners(&tokens),
            BTreeSet::from(["table:t".to_owned()])
        );
        assert!(matches!(c.take(), Pending::Tokens(t) if t.is_empty()));
        c.observe("CALL p()");
        assert!(matches!(c.take(), Pending::Unknown));
        assert!(matches!(c.take(), Pending::Tokens(_)), "one answer only");
        c.learn("naïve", "table:naïve");
        assert!(matches!(c.take(), Pending::Broken));
        assert!(matches!(c.take(), Pending::Broken), "for good");
        c.start();
        assert!(matches!(c.take(), Pending::Tokens(_)));
        c.break_off("an event");
        assert!(matches!(c.take(), Pending::Broken));
    }
}
