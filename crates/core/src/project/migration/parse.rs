//! The file format parser (SPEC §3): a single-file migration's markers and sections, and a
//! pair form's plain-SQL parts.

use std::path::Path;

use super::allow::add_allowed;
use super::{normalize_newlines, slug_description, LintLevel, Migration, Section};
use crate::error::{Error, Result};
use crate::text::checksum;

/// Parse the text of a single-file migration (`<id>_<slug>.sql`). `path` is used in errors
/// and recorded in the sections.
///
/// ```
/// use std::path::Path;
/// let text = "-- ferry:description Create posts\n-- ferry:up\nCREATE TABLE posts (id INT);\n-- ferry:down\nDROP TABLE posts;\n";
/// let m = ferry_core::parse_migration(Path::new("1_posts.sql"), "1", "posts", text).unwrap();
/// assert_eq!(m.description, "Create posts");
/// assert_eq!(m.up.sql, "CREATE TABLE posts (id INT);\n");
/// assert_eq!(m.up.first_line, 3);
/// ```
pub fn parse_migration(path: &Path, id: &str, slug: &str, text: &str) -> Result<Migration> {
    let text = normalize_newlines(text.strip_prefix('\u{feff}').unwrap_or(text));
    let err = |line: usize, message: String| Error::MigrationFile {
        path: path.to_owned(),
        line: Some(line),
        message,
    };
    let mut description: Option<String> = None;
    let mut allow: Vec<LintLevel> = Vec::new();
    // (start byte of section, first line of section, no_transaction, marker line)
    let mut up: Option<(usize, usize, bool, usize)> = None;
    let mut down: Option<(usize, usize, bool, usize)> = None;
    // Byte offsets of each section's end (the start of the next marker line).
    let mut boundaries: Vec<usize> = Vec::new();
    let mut offset = 0usize;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_start = offset;
        offset += line.len();
        let trimmed = line.trim();
        let Some(directive) = trimmed.strip_prefix("-- ferry:") else {
            if up.is_none() && down.is_none() && !trimmed.is_empty() && !trimmed.starts_with("--") {
                return Err(err(
                    line_no,
                    "SQL before the first marker: put it after `-- ferry:up` (or `-- ferry:down`)"
                        .into(),
                ));
            }
            continue;
        };
        let (word, rest) = match directive.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (directive, ""),
        };
        match word {
            "description" => {
                if up.is_some() || down.is_some() {
                    return Err(err(
                        line_no,
                        "`-- ferry:description` must come before `-- ferry:up`".into(),
                    ));
                }
                if description.is_some() {
                    return Err(err(line_no, "repeated marker `-- ferry:description`".into()));
                }
                if rest.is_empty() {
                    return Err(err(
                        line_no,
                        "`-- ferry:description` needs a text after it".into(),
                    ));
                }
                description = Some(rest.to_owned());
            }
            "up" | "down" => {
                let no_transaction = match rest {
                    "" => false,
                    "no-transaction" => true,
                    other => {
                        return Err(err(
                            line_no,
                            format!("unknown option `{other}` after `-- ferry:{word}`; the only option is `no-transaction`"),
                        ))
                    }
                };
                let slot = if word == "up" { &mut up } else { &mut down };
                if slot.is_some() {
                    return Err(err(line_no, format!("repeated marker `-- ferry:{word}`")));
                }
                *slot = Some((offset, line_no + 1, no_transaction, line_no));
                boundaries.push(line_start);
            }
            "allow" => {
                if down.is_some() {
                    return Err(err(
                        line_no,
                        "`-- ferry:allow` belongs before `-- ferry:up` or in the up section, not in the down section".into(),
                    ));
                }
                add_allowed(&mut allow, rest).map_err(|m| err(line_no, m))?;
            }
            "no-transaction" => {
                return Err(err(
                    line_no,
                    "`-- ferry:no-transaction` belongs to the pair form; in a single file write `-- ferry:up no-transaction`".into(),
                ))
            }
            other => {
                return Err(err(
                    line_no,
                    format!("unknown directive `-- ferry:{other}`; known: description, allow, up, down"),
                ))
            }
        }
    }
    let Some(up) = up else {
        return Err(Error::MigrationFile {
            path: path.to_owned(),
            line: None,
            message: "no `-- ferry:up` marker: a migration needs an up section".into(),
        });
    };
    let section = |(start, first_line, no_transaction, _): (usize, usize, bool, usize)| {
        let end = boundaries
            .iter()
            .copied()
            .filter(|&b| b >= start)
            .min()
            .unwrap_or(text.len());
        Section {
            sql: text[start..end].to_owned(),
            no_transaction,
            file: Some(path.to_owned()),
            first_line,
        }
    };
    let up = section(up);
    let down = down.map(section);
    Ok(Migration {
        id: id.to_owned(),
        description: description.unwrap_or_else(|| slug_description(slug)),
        checksum: checksum(&up.sql),
        up,
        down,
        files: vec![path.to_owned()],
        allow,
    })
}

/// `down`: the `.down.sql` half, where `-- ferry:allow` has no meaning (lint judges up
/// sections) and is refused, as in a single file's down section.
pub(crate) fn parse_pair_part(path: &Path, text: &str, down: bool) -> Result<Section> {
    let mut no_transaction = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(directive) = trimmed.strip_prefix("-- ferry:") {
            if index == 0 && directive.trim() == "no-transaction" {
                no_transaction = true;
                continue;
            }
            if directive == "allow" || directive.starts_with("allow ") {
                if down {
                    return Err(Error::MigrationFile {
                        path: path.to_owned(),
                        line: Some(index + 1),
                        message: "`-- ferry:allow` belongs in the .up.sql file (lint judges up sections), not in the .down.sql file".into(),
                    });
                }
                continue;
            }
            return Err(Error::MigrationFile {
                path: path.to_owned(),
                line: Some(index + 1),
                message: format!(
                    "unknown directive `{trimmed}`: pair-form files are plain SQL; only a first line `-- ferry:no-transaction` and `-- ferry:allow LEVEL` lines are allowed"
                ),
            });
        }
    }
    Ok(Section {
        sql: text.to_owned(),
        no_transaction,
        file: Some(path.to_owned()),
        first_line: 1,
    })
}

#[cfg(test)]
mod tests {
    use super::super::pair_allowed;
    use super::*;

    fn parse(text: &str) -> Result<Migration> {
        parse_migration(Path::new("m/1_test.sql"), "1", "add_things", text)
    }

    fn line_of(err: Error) -> (Option<usize>, String) {
        match err {
            Error::MigrationFile { line, message, .. } => (line, message),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn sections_and_checksum() {
        let m = parse("-- header comment\n-- ferry:up\nA;\n\n-- ferry:down\nB;").unwrap();
        assert_eq!(m.up.sql, "A;\n\n");
        assert_eq!(m.down.as_ref().unwrap().sql, "B;");
        assert_eq!(m.down.as_ref().unwrap().first_line, 6);
        assert_eq!(m.description, "add things");
        assert_eq!(m.checksum, checksum("A;\n\n"));
        // Editing the down section does not change the checksum.
        let m2 = parse("-- ferry:up\nA;\n\n-- ferry:down\nC;").unwrap();
        assert_eq!(m.checksum, m2.checksum);
    }

    #[test]
    fn code_built_migrations_refuse_file_text() {
        let file = "-- ferry:description Create posts\n-- ferry:up\nCREATE TABLE posts (id INT);\n-- ferry:down\nDROP TABLE posts;\n";
        let err = Migration::try_new("0001", "create posts", file, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "migration 0001: its up SQL holds the marker `-- ferry:` on line 1: that is the text of a migration file, whose sections `Migration::new` would run as one; embed the files with ferry-build and `ferry_core::embedded_migrations!()`, or parse the text with `ferry_core::parse_migration`"
        );
        let err = Migration::try_new("2", "d", "SELECT 1;", Some("SELECT 2;\n  -- ferry:up\n"));
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("its down SQL holds the marker `-- ferry:` on line 2"));
        // A comment that merely mentions ferry is plain SQL.
        assert!(Migration::try_new("3", "d", "-- ferry is nice\nSELECT 1;", None).is_ok());
        let panic = std::panic::catch_unwind(|| Migration::new("4", "d", file, None));
        assert!(panic.is_err());
    }

    #[test]
    fn crlf_and_bom_read_like_lf() {
        let lf = parse("-- ferry:up\nA;\n-- ferry:down\nB;\n").unwrap();
        let crlf = parse("\u{feff}-- ferry:up\r\nA;\r\n-- ferry:down\r\nB;\r\n").unwrap();
        assert_eq!(lf.up.sql, crlf.up.sql);
        assert_eq!(lf.checksum, crlf.checksum);
    }

    #[test]
    fn irreversible_and_empty_down() {
        assert!(parse("-- ferry:up\nA;").unwrap().down.is_none());
        let m = parse("-- ferry:up\nA;\n-- ferry:down\n").unwrap();
        assert_eq!(m.down.unwrap().sql, "");
    }

    #[test]
    fn no_transaction_option() {
        let m = parse("-- ferry:up no-transaction\nA;\n-- ferry:down no-transaction\nB;").unwrap();
        assert!(m.up.no_transaction);
        assert!(m.down.unwrap().no_transaction);
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(
            line_of(parse("SELECT 1;\n-- ferry:up\n").unwrap_err()).0,
            Some(1)
        );
        assert_eq!(line_of(parse("-- ferry:down\nB;\n").unwrap_err()).0, None);
        assert_eq!(
            line_of(parse("-- ferry:up\nA;\n-- ferry:up\n").unwrap_err()).0,
            Some(3)
        );
        assert_eq!(
            line_of(parse("-- ferry:up\n-- ferry:sideways\n").unwrap_err()).0,
            Some(2)
        );
        assert_eq!(
            line_of(parse("-- ferry:up bogus\n").unwrap_err()).0,
            Some(1)
        );
    }

    #[test]
    fn allow_lines_before_and_in_the_up_section() {
        let m = parse("-- ferry:allow rewrites\n-- ferry:up\n-- ferry:allow blocks-all, rewrites\nSELECT 1;\n").unwrap();
        assert_eq!(m.allow, [LintLevel::Rewrites, LintLevel::BlocksAll]);
        // Before the up marker: outside the up section, so outside the checksum.
        let plain = parse("-- ferry:up\nSELECT 1;\n").unwrap();
        let allowed = parse("-- ferry:allow destructive\n-- ferry:up\nSELECT 1;\n").unwrap();
        assert_eq!(plain.checksum, allowed.checksum);
        let (line, message) = line_of(parse("-- ferry:up\n-- ferry:allow rewrite\n").unwrap_err());
        assert_eq!(line, Some(2));
        assert!(
            message.contains("unknown lint level `rewrite`"),
            "{message}"
        );
        let (line, _) = line_of(parse("-- ferry:allow\n-- ferry:up\n").unwrap_err());
        assert_eq!(line, Some(1));
        let (line, message) = line_of(
            parse("-- ferry:up\nSELECT 1;\n-- ferry:down\n-- ferry:allow rewrites\n").unwrap_err(),
        );
        assert_eq!(line, Some(4));
        assert!(message.contains("not in the down section"), "{message}");
        // The pair form: anywhere in the .up.sql file.
        let path = Path::new("m/2_x.up.sql");
        let section = parse_pair_part(
            path,
            "-- ferry:no-transaction\n-- ferry:allow blocks-writes\nSELECT 1;\n",
            false,
        )
        .unwrap();
        assert!(section.no_transaction);
        assert_eq!(
            pair_allowed(path, &section.sql).unwrap(),
            [LintLevel::BlocksWrites]
        );
        assert!(pair_allowed(path, "-- ferry:allow fast\n").is_err());
        // Not in the .down.sql file: refused, naming the line.
        let down = Path::new("m/2_x.down.sql");
        let (line, message) = line_of(
            parse_pair_part(down, "DROP TABLE x;\n-- ferry:allow destructive\n", true).unwrap_err(),
        );
        assert_eq!(line, Some(2));
        assert!(message.contains(".up.sql"), "{message}");
    }
}
