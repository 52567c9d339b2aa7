//! What a snapshot ([`super`]) reads from the `CREATE` text SQLite keeps: a tokenizer, and
//! the parts of table, index and trigger definitions that the pragmas do not say.

use std::collections::BTreeMap;

use super::collapse_whitespace;

/// What the CREATE TABLE text says beyond the pragmas.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Table {
    /// Lower-case column name → what its definition says.
    pub(super) columns: BTreeMap<String, ColumnSql>,
    pub(super) checks: Vec<Check>,
    /// `without rowid`, `strict`, ...: what follows the column list, lower case.
    pub(super) options: Option<String>,
}

#[derive(Debug, Default, PartialEq)]
pub(super) struct ColumnSql {
    pub(super) generated: Option<String>,
    pub(super) collation: Option<String>,
    pub(super) autoincrement: bool,
}

#[derive(Debug, PartialEq)]
pub(super) struct Check {
    pub(super) name: Option<String>,
    pub(super) expression: String,
}

/// What the CREATE INDEX text says beyond the pragmas.
#[derive(Debug, Default, PartialEq)]
pub(super) struct IndexSql {
    /// Each key part's text, without its direction and collation.
    pub(super) parts: Vec<String>,
    pub(super) predicate: Option<String>,
}

pub(super) fn parse_table(sql: &str) -> Table {
    let tokens = tokenize(sql);
    let mut table = Table::default();
    let Some(open) = tokens.iter().position(|t| t.kind == Kind::Open) else {
        return table;
    };
    let close = matching(&tokens, open);
    let after = text_of(sql, &tokens[(close + 1).min(tokens.len())..]);
    if !after.is_empty() {
        table.options = Some(after.to_lowercase());
    }
    for item in split_commas(&tokens[open + 1..close]) {
        let Some(first) = item.first() else { continue };
        let constraint_start = ["constraint", "primary", "unique", "check", "foreign"]
            .iter()
            .any(|k| first.is_word(k));
        if constraint_start {
            let (name, rest) = constraint_name(item);
            if rest.first().is_some_and(|t| t.is_word("check")) {
                if let Some(expression) = group_text(sql, rest, 1) {
                    table.checks.push(Check { name, expression });
                }
            }
            continue;
        }
        let column_name = first.unquoted().to_lowercase();
        let mut column = ColumnSql::default();
        let mut i = 1;
        let mut pending_name = None;
        while i < item.len() {
            let token = &item[i];
            if token.kind == Kind::Open {
                i = matching(item, i) + 1;
                continue;
            }
            if token.is_word("constraint") {
                // Kept for a check constraint only: the pragmas name no other kind.
                pending_name = item
                    .get(i + 2)
                    .filter(|t| t.is_word("check"))
                    .and(item.get(i + 1))
                    .map(Token::unquoted);
                i += 2;
                continue;
            }
            if token.is_word("collate") {
                if let Some(name) = item.get(i + 1) {
                    let name = name.unquoted();
                    if !name.eq_ignore_ascii_case("binary") {
                        column.collation = Some(name.to_lowercase());
                    }
                }
                i += 2;
                continue;
            }
            if token.is_word("autoincrement") {
                column.autoincrement = true;
            }
            if token.is_word("as") {
                column.generated = group_text(sql, item, i + 1);
            }
            if token.is_word("check") {
                if let Some(expression) = group_text(sql, item, i + 1) {
                    table.checks.push(Check {
                        name: pending_name.take(),
                        expression,
                    });
                }
            }
            i += 1;
        }
        table.columns.insert(column_name, column);
    }
    table
}

pub(super) fn parse_index(sql: &str) -> IndexSql {
    let tokens = tokenize(sql);
    let mut index = IndexSql::default();
    let Some(open) = tokens.iter().position(|t| t.kind == Kind::Open) else {
        return index;
    };
    let close = matching(&tokens, open);
    for item in split_commas(&tokens[open + 1..close]) {
        let mut end = item.len();
        if end > 0 && (item[end - 1].is_word("asc") || item[end - 1].is_word("desc")) {
            end -= 1;
        }
        if end > 1 && item[end - 2].is_word("collate") {
            end -= 2;
        }
        index.parts.push(text_of(sql, &item[..end]));
    }
    let rest = &tokens[(close + 1).min(tokens.len())..];
    if rest.first().is_some_and(|t| t.is_word("where")) {
        index.predicate = Some(text_of(sql, &rest[1..]));
    }
    index
}

/// A trigger's timing (`before`, `after`, `instead of`) and event (`insert`, `update`,
/// `delete`), from the words between its name and `ON`.
pub(super) fn trigger_timing_and_event(sql: &str) -> (String, String) {
    let tokens = tokenize(sql);
    let mut i = tokens
        .iter()
        .position(|t| t.is_word("trigger"))
        .map_or(tokens.len(), |i| i + 1);
    if tokens.get(i).is_some_and(|t| t.is_word("if")) {
        i += 3; // IF NOT EXISTS
    }
    i += 1; // The name,
    if tokens.get(i).is_some_and(|t| t.text == ".") {
        i += 2; // qualified.
    }
    let (mut timing, mut event) = ("before".to_owned(), String::new());
    for token in tokens.iter().skip(i) {
        if token.is_word("on") {
            break;
        }
        if token.is_word("after") {
            timing = "after".to_owned();
        } else if token.is_word("instead") {
            timing = "instead of".to_owned();
        } else if event.is_empty()
            && ["insert", "update", "delete"]
                .iter()
                .any(|e| token.is_word(e))
        {
            event = token.text.to_lowercase();
        }
    }
    (timing, event)
}

/// `CONSTRAINT name` at the start of a constraint, and the tokens after it.
pub(super) fn constraint_name<'t, 'a>(item: &'t [Token<'a>]) -> (Option<String>, &'t [Token<'a>]) {
    if item.first().is_some_and(|t| t.is_word("constraint")) && item.len() > 1 {
        (Some(item[1].unquoted()), &item[2..])
    } else {
        (None, item)
    }
}

/// The text inside the parenthesised group that starts at `tokens[at]`, if one does.
pub(super) fn group_text(sql: &str, tokens: &[Token<'_>], at: usize) -> Option<String> {
    if tokens.get(at)?.kind != Kind::Open {
        return None;
    }
    let close = matching(tokens, at);
    Some(text_of(sql, &tokens[at + 1..close]))
}

/// The index of the `)` that closes the `(` at `open` (the last token when unbalanced).
pub(super) fn matching(tokens: &[Token<'_>], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len().saturating_sub(1).max(open)
}

/// `tokens` split at the commas outside parentheses.
pub(super) fn split_commas<'t, 'a>(tokens: &'t [Token<'a>]) -> Vec<&'t [Token<'a>]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, token) in tokens.iter().enumerate() {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.saturating_sub(1),
            Kind::Comma if depth == 0 => {
                items.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&tokens[start..]);
    items
}

/// The source text that `tokens` span, whitespace collapsed (comments between them kept).
pub(super) fn text_of(sql: &str, tokens: &[Token<'_>]) -> String {
    match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => collapse_whitespace(&sql[first.start..last.end]),
        _ => String::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A keyword, unquoted identifier or number.
    Word,
    /// A quoted identifier: `"x"`, `` `x` `` or `[x]`.
    Quoted,
    /// A string literal.
    Str,
    Open,
    Close,
    Comma,
    /// Any other character.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token<'a> {
    pub(super) kind: Kind,
    pub(super) text: &'a str,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Token<'_> {
    pub(super) fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    /// An identifier's name: quotes taken off (and doubled quotes undone).
    pub(super) fn unquoted(&self) -> String {
        if self.kind != Kind::Quoted {
            return self.text.to_owned();
        }
        let inner = &self.text[1..self.text.len() - 1];
        match self.text.as_bytes()[0] {
            b'"' => inner.replace("\"\"", "\""),
            b'`' => inner.replace("``", "`"),
            _ => inner.to_owned(),
        }
    }
}

/// SQLite's tokens, as far as the snapshot needs them: comments and whitespace dropped.
pub(super) fn tokenize(sql: &str) -> Vec<Token<'_>> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    // The end of a quoted token that starts at `i` with `quote` and ends with `close`, where
    // a doubled `close` is part of the text.
    let quoted_end = |i: usize, close: u8, doubled: bool| {
        let mut j = i + 1;
        while j < bytes.len() {
            if bytes[j] == close {
                if doubled && bytes.get(j + 1) == Some(&close) {
                    j += 2;
                    continue;
                }
                return j + 1;
            }
            j += 1;
        }
        bytes.len()
    };
    while i < bytes.len() {
        let c = bytes[i];
        let (kind, end) = match c {
            _ if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
                continue;
            }
            b'\'' => (Kind::Str, quoted_end(i, b'\'', true)),
            b'"' => (Kind::Quoted, quoted_end(i, b'"', true)),
            b'`' => (Kind::Quoted, quoted_end(i, b'`', true)),
            b'[' => (Kind::Quoted, quoted_end(i, b']', false)),
            b'(' => (Kind::Open, i + 1),
            b')' => (Kind::Close, i + 1),
            b',' => (Kind::Comma, i + 1),
            _ if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 => {
                let mut j = i + 1;
                while j < bytes.len()
                    && (bytes[j].is_ascii_alphanumeric()
                        || bytes[j] == b'_'
                        || bytes[j] == b'$'
                        || bytes[j] >= 0x80)
                {
                    j += 1;
                }
                (Kind::Word, j)
            }
            _ => {
                // One character (a multi-byte one whole).
                let len = sql[i..].chars().next().map_or(1, char::len_utf8);
                (Kind::Other, i + len)
            }
        };
        tokens.push(Token {
            kind,
            text: &sql[i..end],
            start: i,
            end,
        });
        i = end;
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_text_gives_generated_columns_collations_checks_and_options() {
        let t = parse_table(
            "CREATE TABLE \"my t\" (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  \
             [name] TEXT COLLATE NOCASE NOT NULL CHECK (length(name) > 1), -- a, comment\n  \
             \"up\"\"per\" TEXT GENERATED ALWAYS AS (upper(name)) STORED,\n  \
             lower TEXT AS (lower( name ))  COLLATE binary,\n  \
             note TEXT CONSTRAINT nn NOT NULL DEFAULT 'a, (b' CONSTRAINT note_ok CHECK (note <> '') \
             CHECK (note <> 'x'),\n  \
             CONSTRAINT two CHECK (id > 0 AND (name IS NOT NULL)),\n  \
             CHECK (id < 100),\n  UNIQUE (name, note)\n) WITHOUT ROWID, STRICT",
        );
        assert_eq!(t.options.as_deref(), Some("without rowid, strict"));
        assert!(t.columns["id"].autoincrement);
        assert_eq!(t.columns["name"].collation.as_deref(), Some("nocase"));
        assert_eq!(
            t.columns["up\"per"].generated.as_deref(),
            Some("upper(name)")
        );
        assert_eq!(
            t.columns["lower"].generated.as_deref(),
            Some("lower( name )")
        );
        assert_eq!(t.columns["lower"].collation, None);
        assert_eq!(t.columns["note"], ColumnSql::default());
        assert_eq!(
            t.checks,
            [
                Check {
                    name: None,
                    expression: "length(name) > 1".into()
                },
                Check {
                    name: Some("note_ok".into()),
                    expression: "note <> ''".into()
                },
                Check {
                    name: None,
                    expression: "note <> 'x'".into()
                },
                Check {
                    name: Some("two".into()),
                    expression: "id > 0 AND (name IS NOT NULL)".into()
                },
                Check {
                    name: None,
                    expression: "id < 100".into()
                },
            ]
        );
    }

    #[test]
    fn index_text_gives_expressions_and_predicate() {
        let i = parse_index(
            "CREATE UNIQUE INDEX i ON t (lower(a) COLLATE nocase DESC, b, \"c\" ASC) \
             WHERE b IS NOT NULL AND c > 'x'",
        );
        assert_eq!(i.parts, ["lower(a)", "b", "\"c\""]);
        assert_eq!(i.predicate.as_deref(), Some("b IS NOT NULL AND c > 'x'"));
        assert_eq!(parse_index("CREATE INDEX i ON t(a)").predicate, None);
    }

    #[test]
    fn trigger_text_gives_timing_and_event() {
        let t = |sql| trigger_timing_and_event(sql);
        assert_eq!(
            t("CREATE TRIGGER x AFTER UPDATE OF a ON t BEGIN SELECT 1; END"),
            ("after".into(), "update".into())
        );
        assert_eq!(
            t("CREATE TEMP TRIGGER IF NOT EXISTS main.\"after\" INSTEAD OF DELETE ON v BEGIN SELECT 1; END"),
            ("instead of".into(), "delete".into())
        );
        assert_eq!(
            t("create trigger x insert on t begin select 1; end"),
            ("before".into(), "insert".into())
        );
    }
}
