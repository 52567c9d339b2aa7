//! A small SQL lexer: enough to find statement boundaries without splitting inside string
//! literals, quoted identifiers, comments, PostgreSQL dollar quotes or `BEGIN ... END` bodies.
//!
//! ferry sends a section to the database as one batch. The lexer is used where one batch is
//! not enough: PostgreSQL `no-transaction` sections (each statement is sent alone, as psql
//! does), mapping a MySQL error to the statement (and line) that failed, and deciding whether
//! a section holds only DML.

/// The SQL dialect to lex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `''` escapes, `E'..'` backslash escapes, dollar quotes, nested block comments.
    Postgres,
    /// MySQL and MariaDB: backslash escapes in strings, backtick identifiers, `#` comments.
    MySql,
    /// SQLite: `''` escapes, backtick and bracket identifiers.
    Sqlite,
}

/// One statement found by [`split_statements`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The statement text, from its first token up to (not including) the terminating `;`.
    pub text: &'a str,
    /// Byte offset of the statement's first token in the input.
    pub offset: usize,
    /// 1-based line of the statement's first token in the input.
    pub line: usize,
}

/// Split `sql` into statements. Empty statements (only whitespace, comments or `;`) are
/// skipped.
///
/// ```
/// use ferry_core::sql::{split_statements, Dialect};
/// let sql = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- a; comment\nSELECT ';';";
/// let stmts = split_statements(sql, Dialect::Postgres);
/// assert_eq!(stmts.len(), 2);
/// assert_eq!(stmts[1].text, "SELECT ';'");
/// assert_eq!(stmts[1].line, 3);
/// ```
pub fn split_statements(sql: &str, dialect: Dialect) -> Vec<Statement<'_>> {
    let mut lexer = Lexer::new(sql, dialect);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0usize;
    let mut depth = 0usize;
    let mut first_word: Option<String> = None;
    let mut prev_word: Option<String> = None;
    while let Some(tok) = lexer.next_token() {
        match tok.kind {
            TokenKind::Space | TokenKind::Comment => continue,
            TokenKind::Semicolon if depth == 0 => {
                if let Some(s) = start.take() {
                    out.push(make_statement(sql, s, end));
                }
                first_word = None;
                prev_word = None;
                continue;
            }
            _ => {}
        }
        if start.is_none() {
            start = Some(tok.start);
        }
        end = tok.end;
        if tok.kind == TokenKind::Word {
            let word = sql[tok.start..tok.end].to_ascii_uppercase();
            if first_word.is_none() {
                first_word = Some(word.clone());
            }
            if first_word.as_deref() == Some("CREATE") {
                match word.as_str() {
                    "BEGIN" | "CASE" => depth += 1,
                    "END" => depth = depth.saturating_sub(1),
                    "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR"
                        if prev_word.as_deref() == Some("END") =>
                    {
                        // `END IF` and friends close blocks that were not counted.
                        depth += 1;
                    }
                    _ => {}
                }
            }
            prev_word = Some(word);
        } else {
            prev_word = None;
        }
    }
    if let Some(s) = start {
        out.push(make_statement(sql, s, end));
    }
    // Lines in one pass over the text: counting from the start for each statement would be
    // quadratic in a file of many statements.
    let (mut line, mut counted) = (1usize, 0usize);
    for statement in &mut out {
        line += sql.as_bytes()[counted..statement.offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = statement.offset;
        statement.line = line;
    }
    out
}

/// True when `sql` holds no statement: only whitespace, comments and `;`.
///
/// ```
/// use ferry_core::sql::{is_blank, Dialect};
/// assert!(is_blank("-- nothing to do\n/* really */ ;\n", Dialect::MySql));
/// assert!(!is_blank("SELECT 1", Dialect::MySql));
/// ```
pub fn is_blank(sql: &str, dialect: Dialect) -> bool {
    split_statements(sql, dialect).is_empty()
}

/// True when every statement of `sql` is data manipulation (`INSERT`, `UPDATE`, `DELETE`,
/// `REPLACE`, `SELECT`), so that it can run in a real transaction even on MySQL.
/// A blank section is not DML-only.
///
/// ```
/// use ferry_core::sql::{is_dml_only, Dialect};
/// assert!(is_dml_only("INSERT INTO t VALUES (1); UPDATE t SET x = 2;", Dialect::MySql));
/// assert!(!is_dml_only("INSERT INTO t VALUES (1); CREATE TABLE u (x INT);", Dialect::MySql));
/// ```
pub fn is_dml_only(sql: &str, dialect: Dialect) -> bool {
    let stmts = split_statements(sql, dialect);
    !stmts.is_empty()
        && stmts.iter().all(|s| {
            let word: String = s
                .text
                .chars()
                .take_while(|c| c.is_ascii_alphabetic())
                .collect::<String>()
                .to_ascii_uppercase();
            matches!(
                word.as_str(),
                "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "SELECT"
            )
        })
}

/// The 1-based line of byte `offset` in `text` (clamped to the text's length).
///
/// ```
/// assert_eq!(ferry_core::sql::line_of_offset("a\nb\nc", 4), 3);
/// ```
pub fn line_of_offset(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A statement of `sql[start..end]`; its line is filled in by [`split_statements`].
fn make_statement(sql: &str, start: usize, end: usize) -> Statement<'_> {
    Statement {
        text: &sql[start..end],
        offset: start,
        line: 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    Space,
    Comment,
    Semicolon,
    Word,
    Quoted,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: TokenKind,
    start: usize,
    end: usize,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    dialect: Dialect,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str, dialect: Dialect) -> Self {
        Lexer {
            src: src.as_bytes(),
            pos: 0,
            dialect,
        }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.pos + ahead).copied()
    }

    fn next_token(&mut self) -> Option<Token> {
        let start = self.pos;
        let c = self.peek(0)?;
        let kind = match c {
            b';' => {
                self.pos += 1;
                TokenKind::Semicolon
            }
            c if c.is_ascii_whitespace() => {
                while self.peek(0).is_some_and(|c| c.is_ascii_whitespace()) {
                    self.pos += 1;
                }
                TokenKind::Space
            }
            b'-' if self.peek(1) == Some(b'-') => {
                self.skip_line();
                TokenKind::Comment
            }
            b'#' if self.dialect == Dialect::MySql => {
                self.skip_line();
                TokenKind::Comment
            }
            b'/' if self.peek(1) == Some(b'*') => {
                self.skip_block_comment();
                TokenKind::Comment
            }
            b'\'' => {
                let backslash = match self.dialect {
                    Dialect::MySql => true,
                    Dialect::Postgres => self.is_escape_string_prefix(start),
                    Dialect::Sqlite => false,
                };
                self.skip_quoted(b'\'', backslash);
                TokenKind::Quoted
            }
            b'"' => {
                self.skip_quoted(b'"', self.dialect == Dialect::MySql);
                TokenKind::Quoted
            }
            b'`' if self.dialect != Dialect::Postgres => {
                self.skip_quoted(b'`', false);
                TokenKind::Quoted
            }
            b'[' if self.dialect == Dialect::Sqlite => {
                self.pos += 1;
                while self.peek(0).is_some_and(|c| c != b']') {
                    self.pos += 1;
                }
                self.pos = (self.pos + 1).min(self.src.len());
                TokenKind::Quoted
            }
            b'$' if self.dialect == Dialect::Postgres && self.dollar_tag().is_some() => {
                let tag_len = self.dollar_tag().unwrap_or(2);
                let tag = self.src[self.pos..self.pos + tag_len].to_vec();
                self.pos += tag_len;
                loop {
                    if self.pos >= self.src.len() {
                        break;
                    }
                    if self.src[self.pos..].starts_with(&tag) {
                        self.pos += tag.len();
                        break;
                    }
                    self.pos += 1;
                }
                TokenKind::Quoted
            }
            c if is_word_byte(c) => {
                while self.peek(0).is_some_and(is_word_byte) {
                    self.pos += 1;
                }
                TokenKind::Word
            }
            _ => {
                self.pos += 1;
                // Keep multi-byte UTF-8 characters whole.
                while self.peek(0).is_some_and(|b| (b & 0xC0) == 0x80) {
                    self.pos += 1;
                }
                TokenKind::Other
            }
        };
        Some(Token {
            kind,
            start,
            end: self.pos,
        })
    }

    fn skip_line(&mut self) {
        while self.peek(0).is_some_and(|c| c != b'\n') {
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        self.pos += 2;
        let mut depth = 1usize;
        while self.pos < self.src.len() {
            if self.peek(0) == Some(b'*') && self.peek(1) == Some(b'/') {
                self.pos += 2;
                depth -= 1;
                if depth == 0 {
                    return;
                }
            } else if self.dialect == Dialect::Postgres
                && self.peek(0) == Some(b'/')
                && self.peek(1) == Some(b'*')
            {
                self.pos += 2;
                depth += 1;
            } else {
                self.pos += 1;
            }
        }
    }

    fn skip_quoted(&mut self, quote: u8, backslash: bool) {
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            if backslash && c == b'\\' {
                self.pos += 2;
                continue;
            }
            self.pos += 1;
            if c == quote {
                if self.peek(0) == Some(quote) {
                    self.pos += 1;
                    continue;
                }
                return;
            }
        }
        self.pos = self.src.len();
    }

    /// `E'...'` (PostgreSQL escape string): the quote follows a lone `E`.
    fn is_escape_string_prefix(&self, quote_pos: usize) -> bool {
        quote_pos >= 1
            && matches!(self.src[quote_pos - 1], b'E' | b'e')
            && (quote_pos < 2 || !is_word_byte(self.src[quote_pos - 2]))
    }

    /// Length of a dollar-quote tag (`$$` or `$tag$`) starting at the current position.
    fn dollar_tag(&self) -> Option<usize> {
        if self.pos > 0 && is_word_byte(self.src[self.pos - 1]) {
            return None;
        }
        let mut i = self.pos + 1;
        if let Some(&c) = self.src.get(i) {
            if c.is_ascii_digit() {
                return None;
            }
        }
        while let Some(&c) = self.src.get(i) {
            if c == b'$' {
                return Some(i - self.pos + 1);
            }
            if !(c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80) {
                return None;
            }
            i += 1;
        }
        None
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str, d: Dialect) -> Vec<&str> {
        split_statements(sql, d)
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn splits_plain_statements_and_skips_empty_ones() {
        assert_eq!(
            texts("SELECT 1;;\n  SELECT 2 ;\n-- done;\n", Dialect::Sqlite),
            vec!["SELECT 1", "SELECT 2"]
        );
    }

    #[test]
    fn keeps_semicolons_in_strings_identifiers_and_comments() {
        let sql = "INSERT INTO \"a;b\" VALUES ('x;y', 'it''s;');/* c; */SELECT `q;`";
        assert_eq!(texts(sql, Dialect::MySql).len(), 2);
        assert_eq!(
            texts("SELECT E'\\';'; SELECT 2", Dialect::Postgres),
            vec!["SELECT E'\\';'", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT 'a\\';'; SELECT 2", Dialect::MySql),
            vec!["SELECT 'a\\';'", "SELECT 2"]
        );
        assert_eq!(
            texts("# x; y\nSELECT 1; -- z; w\nSELECT 2", Dialect::MySql),
            vec!["SELECT 1", "SELECT 2"]
        );
    }

    #[test]
    fn dollar_quotes_and_nested_comments() {
        let sql = "DO $body$ BEGIN RAISE NOTICE 'a;'; END $body$;\n/* a /* b; */ c; */\nSELECT $1;";
        assert_eq!(
            texts(sql, Dialect::Postgres),
            vec!["DO $body$ BEGIN RAISE NOTICE 'a;'; END $body$", "SELECT $1"]
        );
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW BEGIN\n  IF NEW.x > 1 THEN\n    INSERT INTO b VALUES (1);\n  END IF;\n  UPDATE c SET n = CASE WHEN n > 0 THEN n ELSE 0 END;\nEND;\nSELECT 1;";
        let stmts = split_statements(sql, Dialect::MySql);
        assert_eq!(stmts.len(), 2, "{stmts:?}");
        assert!(stmts[0].text.ends_with("END"));
        assert_eq!(stmts[1].line, 7);
    }

    #[test]
    fn dml_detection() {
        assert!(is_dml_only("-- c\nDELETE FROM t;", Dialect::MySql));
        assert!(!is_dml_only("", Dialect::MySql));
        assert!(!is_dml_only("ALTER TABLE t ADD x INT", Dialect::MySql));
    }
}
