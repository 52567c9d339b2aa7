//! The rules of `lint` (SPEC §13.2): from what a driver saw ([`LintRun`]) to findings, the
//! same for every backend. Per statement, against the state before it:
//! - `rewrites`: a pre-existing table (or, when no table was, an index) whose storage
//!   changed, a pre-existing table's name back under a new identity (SQLite's rebuild: new
//!   table, copy, drop, rename), or MySQL's `ALGORITHM=COPY`.
//! - `blocks-all` / `blocks-writes`: a lock that this statement took on a pre-existing
//!   relation, of mode `AccessExclusiveLock` (blocks-all) or `ShareLock`,
//!   `ShareRowExclusiveLock`, `ExclusiveLock` (blocks-writes), when the statement also read a
//!   pre-existing table under it (an index built, a constraint validated, a `NOT NULL`
//!   checked, a rewrite), or when later statements of the same transaction run while it is
//!   held. A lock taken by a statement that only changes the catalog, as the last of its
//!   transaction, is held for a moment: no finding (`ADD COLUMN` with a constant default).
//! - `destructive`: a pre-existing table or column dropped or renamed.

use std::collections::{BTreeMap, BTreeSet};

use crate::driver::lint::{LintRun, LintState};
use crate::project::migration::LintLevel;

/// One finding of `lint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The level; `None` is `ok` (not produced by [`classify`], which leaves a migration
    /// without findings empty).
    pub level: Option<LintLevel>,
    /// What it is about: `table posts`, `column posts.title`, `index posts_title`.
    pub object: String,
    /// The lock taken (`AccessExclusiveLock`, `ALGORITHM=COPY`), or empty.
    pub lock: String,
    /// The line in the migration's file where the statement starts.
    pub statement_line: usize,
    /// What happens, what it blocks, and the safer pattern, in words.
    pub detail: String,
    /// Accepted by the file's `-- ferry:allow` line.
    pub allowed: bool,
}

/// The findings of one section's run: `statements` are its statements' texts and `lines` the
/// file line of each (same length); see the module docs for the rules.
pub fn classify(run: &LintRun, statements: &[String], lines: &[usize]) -> Vec<Finding> {
    let before = &run.before;
    let mut found = Vec::new();
    let mut prev = before;
    for (i, step) in run.steps.iter().enumerate() {
        let cur = &step.state;
        let text = statements.get(i).map(String::as_str).unwrap_or_default();
        let line = lines.get(i).copied().unwrap_or(0);
        let later = step.in_transaction && i + 1 < statements.len();
        let mut add = |level: LintLevel, object: String, lock: &str, detail: String| {
            found.push(Finding {
                level: Some(level),
                object,
                lock: lock.to_owned(),
                statement_line: line,
                detail,
                allowed: false,
            });
        };
        let seen = Seen::of(before, prev, cur);
        for (id, object) in &seen.rewritten {
            let lock = cur.locks.get(id).map(String::as_str).unwrap_or_default();
            add(
                LintLevel::Rewrites,
                object.clone(),
                lock,
                format!(
                    "{object} is rewritten (every row copied){}; {}",
                    blocks_during(lock, "the rewrite"),
                    safer_for_rewrite(text)
                ),
            );
        }
        if let Some((table, algorithm)) = &step.algorithm {
            if algorithm == "COPY" {
                add(
                    LintLevel::Rewrites,
                    format!("table {table}"),
                    "ALGORITHM=COPY",
                    format!(
                        "the server accepts neither ALGORITHM=INSTANT nor ALGORITHM=INPLACE, LOCK=NONE: it copies table {table}, and writes to it wait for the whole copy; {}",
                        safer_for_rewrite(text)
                    ),
                );
            }
        }
        let scanned = !seen.rewritten.is_empty() || !seen.scans.is_empty();
        for (id, mode) in &cur.locks {
            if !before.relations.contains_key(id) || seen.rewritten.iter().any(|(r, _)| r == id) {
                continue;
            }
            if strength(mode) <= strength(prev.locks.get(id).map_or("", String::as_str)) {
                continue;
            }
            // An index's lock follows its table's: the table's finding says it. A relation
            // gone (an index rebuilt under a new identity, a table dropped) keeps its lock
            // until the commit; its own finding, if any, is the drop.
            if cur.relations.get(id).is_none_or(|r| r.kind != "table") {
                continue;
            }
            let level = match strength(mode) {
                8 => LintLevel::BlocksAll,
                5..=7 => LintLevel::BlocksWrites,
                _ => continue,
            };
            if !scanned && !later {
                continue;
            }
            let object = cur
                .relations
                .get(id)
                .map(|r| format!("table {}", r.name))
                .unwrap_or_default();
            let why = if scanned {
                let what: Vec<&str> = seen
                    .scans
                    .iter()
                    .map(|(what, _)| what.as_str())
                    .chain(seen.rewritten.iter().map(|(_, o)| o.as_str()))
                    .collect();
                format!("while the statement reads the table ({})", what.join(", "))
            } else {
                "until the transaction commits, while the later statements of this migration run"
                    .to_owned()
            };
            let safer = if scanned {
                seen.scans
                    .first()
                    .map(|(_, safer)| *safer)
                    .unwrap_or(REWRITE_SAFER)
            } else {
                "put this statement last in its migration, or in a migration of its own, so that the lock is released at once"
            };
            add(
                level,
                object.clone(),
                mode,
                format!("{mode} on {object} {} {why}; {safer}", blocks_words(mode)),
            );
        }
        for (object, detail) in seen.destroyed {
            add(LintLevel::Destructive, object, "", detail);
        }
        prev = cur;
    }
    found
}

/// What one statement changed of the pre-existing objects.
#[derive(Default)]
struct Seen {
    /// (identity, object) of the rewritten relations.
    rewritten: Vec<(String, String)>,
    /// (what was read, the safer pattern) of each scan.
    scans: Vec<(String, &'static str)>,
    /// (object, detail) dropped or renamed.
    destroyed: Vec<(String, String)>,
}

impl Seen {
    fn of(before: &LintState, prev: &LintState, cur: &LintState) -> Seen {
        let mut seen = Seen::default();
        // Read only when a relation of `before` is gone (a rebuild under its old name).
        let mut prev_names: Option<BTreeSet<&str>> = None;
        for (id, was) in &before.relations {
            let (Some(p), c) = (prev.relations.get(id), cur.relations.get(id)) else {
                let prev_names = prev_names.get_or_insert_with(|| {
                    prev.relations
                        .values()
                        .filter(|r| r.kind == "table")
                        .map(|r| r.name.as_str())
                        .collect()
                });
                // Gone earlier: back under its old name with a new identity is a rebuild.
                if was.kind == "table" && !prev_names.contains(was.name.as_str()) {
                    let back = cur
                        .relations
                        .iter()
                        .any(|(other, r)| other != id && r.kind == "table" && r.name == was.name);
                    if back {
                        seen.rewritten
                            .push((id.clone(), format!("table {}", was.name)));
                    }
                }
                continue;
            };
            let Some(c) = c else {
                if p.kind == "table" {
                    seen.destroyed.push((
                        format!("table {}", p.name),
                        format!("table {} is dropped with its rows; stop using it in the application first, deploy, then drop it in a later migration", p.name),
                    ));
                }
                continue;
            };
            if std::sync::Arc::ptr_eq(p, c) {
                // The statement left it as it was (the driver shared it).
                continue;
            }
            if p.kind != "table" {
                if p.storage.is_some() && p.storage != c.storage {
                    seen.rewritten
                        .push((id.clone(), format!("index {}", c.name)));
                }
                continue;
            }
            if p.name != c.name {
                seen.destroyed.push((
                    format!("table {}", p.name),
                    format!("table {} is renamed to {}: code that still uses the old name fails; expand/contract instead (a view or a new table under the new name, the code switched, the old name dropped later)", p.name, c.name),
                ));
            }
            if p.storage.is_some() && p.storage != c.storage {
                seen.rewritten
                    .push((id.clone(), format!("table {}", c.name)));
            }
            seen.columns(&c.name, &p.columns, &c.columns);
            for thing in c.checked.difference(&p.checked) {
                let safer = if thing.starts_with("index ") {
                    "build it with CREATE INDEX CONCURRENTLY in a `-- ferry:up no-transaction` migration"
                } else {
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a later migration (which lets reads and writes through)"
                };
                seen.scans
                    .push((format!("{thing} on table {}", c.name), safer));
            }
        }
        // An index rewritten with its table is part of the table's rewrite.
        if seen.rewritten.iter().any(|(_, o)| o.starts_with("table ")) {
            seen.rewritten.retain(|(_, o)| o.starts_with("table "));
        }
        seen
    }

    fn columns(
        &mut self,
        table: &str,
        prev: &BTreeMap<String, crate::driver::lint::LintColumn>,
        cur: &BTreeMap<String, crate::driver::lint::LintColumn>,
    ) {
        let gone: Vec<&str> = prev
            .iter()
            .filter(|(id, _)| !cur.contains_key(*id))
            .map(|(_, c)| c.name.as_str())
            .collect();
        let new: Vec<&str> = cur
            .iter()
            .filter(|(id, _)| !prev.contains_key(*id))
            .map(|(_, c)| c.name.as_str())
            .collect();
        let renames = gone.len() == new.len();
        for (k, name) in gone.iter().enumerate() {
            let detail = if renames {
                rename_words(table, name, new[k])
            } else {
                format!("column {table}.{name} is dropped with its data; stop using it in the application first, deploy, then drop it in a later migration")
            };
            self.destroyed
                .push((format!("column {table}.{name}"), detail));
        }
        for (id, p) in prev {
            let Some(c) = cur.get(id) else { continue };
            if p.name != c.name {
                self.destroyed.push((
                    format!("column {table}.{}", p.name),
                    rename_words(table, &p.name, &c.name),
                ));
            }
            if c.not_null && !p.not_null {
                self.scans.push((
                    format!("NOT NULL of column {table}.{}", c.name),
                    "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it in a later migration, then SET NOT NULL (PostgreSQL 12+ then skips the scan)",
                ));
            }
        }
    }
}

fn rename_words(table: &str, from: &str, to: &str) -> String {
    format!("column {table}.{from} is renamed to {to}: code that still uses the old name fails; expand/contract instead (add the new column, write both, backfill, switch reads, drop the old one later)")
}

const REWRITE_SAFER: &str = "add a new column, backfill it in batches, switch over, and drop the old one in a later migration (expand/contract)";

fn safer_for_rewrite(statement: &str) -> &'static str {
    let upper = statement.to_ascii_uppercase();
    if upper.contains("DEFAULT") && upper.contains("ADD") {
        "add the column without a default (or with a constant one), then backfill it in batches"
    } else {
        REWRITE_SAFER
    }
}

/// PostgreSQL's lock modes, weakest to strongest (1–8); 0 for none or another name.
fn strength(mode: &str) -> u8 {
    match mode {
        "AccessShareLock" => 1,
        "RowShareLock" => 2,
        "RowExclusiveLock" => 3,
        "ShareUpdateExclusiveLock" => 4,
        "ShareLock" => 5,
        "ShareRowExclusiveLock" => 6,
        "ExclusiveLock" => 7,
        "AccessExclusiveLock" => 8,
        _ => 0,
    }
}

fn blocks_words(mode: &str) -> &'static str {
    match strength(mode) {
        8 => "blocks every read and write of it",
        7 => "blocks writes and row locks of it (plain reads go on)",
        5 | 6 => "blocks writes (INSERT, UPDATE, DELETE) of it (reads go on)",
        _ => "blocks nothing users do",
    }
}

fn blocks_during(lock: &str, what: &str) -> String {
    match strength(lock) {
        0 => String::new(),
        _ => format!(" under {lock}, which {} during {what}", blocks_words(lock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::lint::{LintColumn, LintRelation, LintStep};

    fn table(name: &str, storage: &str, cols: &[(&str, &str, bool)]) -> LintRelation {
        LintRelation {
            kind: "table".into(),
            name: name.into(),
            storage: Some(storage.into()),
            columns: cols
                .iter()
                .map(|(id, n, nn)| {
                    (
                        (*id).to_owned(),
                        LintColumn {
                            name: (*n).into(),
                            not_null: *nn,
                        },
                    )
                })
                .collect(),
            checked: BTreeSet::new(),
        }
    }

    fn state(rels: Vec<(&str, LintRelation)>, locks: &[(&str, &str)]) -> LintState {
        LintState {
            relations: rels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), std::sync::Arc::new(v)))
                .collect(),
            locks: locks
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn step(state: LintState, in_transaction: bool) -> LintStep {
        LintStep {
            state,
            algorithm: None,
            in_transaction,
        }
    }

    fn levels(found: &[Finding]) -> Vec<String> {
        found
            .iter()
            .map(|f| format!("{} {}", f.level.unwrap(), f.object))
            .collect()
    }

    #[test]
    fn a_lone_catalog_change_is_ok_and_a_held_lock_blocks_all() {
        let t = table("t", "1", &[("1", "id", true)]);
        let mut t2 = t.clone();
        t2.columns.insert(
            "2".into(),
            LintColumn {
                name: "c".into(),
                not_null: false,
            },
        );
        let run = LintRun {
            before: state(vec![("10", t.clone())], &[]),
            steps: vec![step(
                state(vec![("10", t2.clone())], &[("10", "AccessExclusiveLock")]),
                true,
            )],
            failed: None,
        };
        let one = vec!["ALTER TABLE t ADD COLUMN c int DEFAULT 0".to_owned()];
        assert!(classify(&run, &one, &[3]).is_empty());
        let two = vec![one[0].clone(), "SELECT 1".to_owned()];
        let found = classify(&run, &two, &[3, 4]);
        assert_eq!(levels(&found), ["blocks-all table t"]);
        assert_eq!(found[0].statement_line, 3);
    }

    #[test]
    fn rewrite_drop_rename_and_rebuild() {
        let t = table("t", "1", &[("1", "id", true), ("2", "name", false)]);
        let rewritten = table("t", "2", &[("1", "id", true), ("2", "label", false)]);
        let run = LintRun {
            before: state(vec![("10", t.clone())], &[]),
            steps: vec![step(state(vec![("10", rewritten)], &[]), true)],
            failed: None,
        };
        let found = classify(&run, &["ALTER TABLE t".to_owned()], &[1]);
        assert_eq!(
            levels(&found),
            ["rewrites table t", "destructive column t.name"]
        );
        // SQLite's rebuild: t dropped, then a new table renamed to t.
        let run = LintRun {
            before: state(vec![("1", t.clone())], &[]),
            steps: vec![
                step(
                    state(vec![("1", t.clone()), ("2", table("t_new", "5", &[]))], &[]),
                    true,
                ),
                step(state(vec![("2", table("t_new", "5", &[]))], &[]), true),
                step(state(vec![("2", table("t", "5", &[]))], &[]), true),
            ],
            failed: None,
        };
        let sql: Vec<String> = ["CREATE", "DROP", "RENAME"].map(String::from).to_vec();
        let found = classify(&run, &sql, &[1, 2, 3]);
        assert_eq!(levels(&found), ["destructive table t", "rewrites table t"]);
    }
}
