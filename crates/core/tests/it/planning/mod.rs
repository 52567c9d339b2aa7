//! The planning rules of SPEC §5 and §6, table-driven on the in-memory driver.
//!
//! Every test is data: a fixture (apps, migration files, tracking rows), a command line and
//! the expected outcome as text, compared by `support::check`. Only the helpers in `support.rs` touch
//! ferry's API (managers, results, tracking rows), so that an API change means adapting them,
//! not the tests. Tests are named after the rule they cover, one file per command (and SPEC
//! subsection).
//!
//! Fixture:
//! ```text
//! //- app a          an app, in registry order; `//- app b: a` depends on `a`
//! 3 [flags]          the file `3_make_a_3.sql`: up `CREATE TABLE a_3 (id INT);`,
//!                    down `DROP TABLE a_3;`, description `make a 3`. Flags:
//!                    irreversible (no down), empty-down, fails (the up's second statement
//!                    fails), down-fails (likewise for the down), no-tx, down-no-tx,
//!                    pair (`.up.sql` + `.down.sql`), symlink (a link to a file outside),
//!                    dml (up `INSERT INTO a_1 VALUES (3);`, down `DELETE FROM a_1 ...`)
//! //- rows           tracking rows, in apply order (and the tables their ups created)
//! a 3 [flags]        dirty, changed (checksum differs), no-down (down_sql NULL),
//!                    empty-down (down_sql ''), old-down (down_sql `DROP TABLE old_down;`
//!                    where the file says otherwise); a row without a file is `missing`, its
//!                    description is `recorded a_3`
//! //- non-transactional-ddl   DDL commits implicitly, as on MySQL
//! //- answer yes|no  how the prompt answers (default: it cannot ask, as without a terminal)
//! ```
//!
//! Command: `VERB APP [ID] [--fake] [--preview] [-y] [--clean] [--applied|--reverted]
//! [--accept-changed] [--json] [--out-of-order=warn|allow|refuse]`, VERB one of `forwards`, `backwards`, `check`, `clean`, `resolve` (the managers) or
//! `run_forwards`, `run_backwards`, `forwards()`, `backwards()`, `run_migrations_backwards` (the
//! free functions and Piccolo's per-app entry point).
//!
//! Outcome, one item per line: the prompts (`confirm: ...`) and events (`forwards a 1`,
//! `fake a 1`, `backwards a 1`, `preview forwards a 1: SQL`, `preview forget a 1`,
//! `warning: ..`, `notice: ..`, `deleted: ..`) in the order they happened; the result
//! (`ok: MESSAGE [MIGRATIONS]`, `failed: MESSAGE`, `error KIND: MESSAGE`, or for `check` one
//! line per status and `queries: N`, or one JSON object per status with `--json`); the
//! tracking rows after (`rows: a 1, a 2*`, apply order, `*` = dirty, `~` = the checksum of a
//! `changed` row, `^` = the down SQL of an `old-down` row); the tables that exist
//! (`tables: a_1 a_2`); with `--clean`, the files left (`files: a/1_make_a_1.sql`).
//! Paths start with `$DIR`.

mod backwards;
mod backwards_all;
mod backwards_clean;
mod backwards_confirm;
mod backwards_fake;
mod check;
mod clean;
mod forwards;
mod forwards_all;
mod forwards_run;
mod order;
mod resolve;
mod support;
