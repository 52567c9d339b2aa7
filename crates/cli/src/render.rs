//! Rendering: progress on stderr, results on stdout, the confirmation prompt.

use std::io::{BufRead, IsTerminal, Write};

use ferry_core::{
    Confirm, ConfirmRequest, Direction, Error, Event, MigrationStatus, Reporter, Status,
};

/// How chatty and colourful output is.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Colour on stderr.
    pub color_err: bool,
    /// Colour on stdout.
    pub color_out: bool,
    /// `-v`.
    pub verbose: bool,
    /// `-q`.
    pub quiet: bool,
}

impl Style {
    /// Wrap `text` in an ANSI colour when `on`.
    pub fn paint(on: bool, code: &str, text: &str) -> String {
        if on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Print a warning on stderr.
    pub fn warn(&self, message: &str) {
        eprintln!(
            "{} {message}",
            Self::paint(self.color_err, "33;1", "warning:")
        );
    }

    /// Print an informational line on stderr unless quiet.
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Print an error (with its cause chain) on stderr.
    pub fn error(&self, message: &str) {
        eprintln!(
            "{} {message}",
            Self::paint(self.color_err, "31;1", "error:")
        );
    }
}

/// Renders core [`Event`]s. A migration still running after 2 s gets a line saying so
/// (SPEC §16.12; none with `-q`).
pub struct CliReporter {
    /// The output style.
    pub style: Style,
    /// The running migration's line.
    ticker: Option<crate::ticker::Ticker>,
}

impl CliReporter {
    /// A reporter in `style`.
    pub fn new(style: Style) -> CliReporter {
        let ticker = if style.quiet {
            None
        } else {
            crate::ticker::Ticker::start()
        };
        CliReporter { style, ticker }
    }
}

impl Reporter for CliReporter {
    fn report(&self, event: Event<'_>) {
        let s = &self.style;
        if let Some(ticker) = &self.ticker {
            match &event {
                Event::Started { migration, .. } => ticker.started(format!(
                    "{} {} {}",
                    migration.app_name, migration.migration_id, migration.description
                )),
                Event::Finished { .. } | Event::Rehearsed { .. } | Event::Skipped { .. } => {
                    ticker.interrupt(true)
                }
                _ => ticker.interrupt(false),
            }
        }
        match event {
            Event::Started {
                migration,
                direction,
            } if s.verbose => {
                eprintln!(
                    "{} {} {} {} ...",
                    match direction {
                        Direction::Forwards => "applying ",
                        Direction::Backwards => "reversing",
                    },
                    migration.app_name,
                    migration.migration_id,
                    migration.description
                );
            }
            Event::Finished {
                migration,
                direction,
                elapsed,
                faked,
            } if !s.quiet => {
                let verb = match (direction, faked) {
                    (_, true) => "faked    ",
                    (Direction::Forwards, false) => "applied  ",
                    (Direction::Backwards, false) => "reversed ",
                };
                let verb = Style::paint(s.color_err, "32", verb);
                progress(&verb, migration, &format_elapsed(elapsed));
            }
            // §16.6: work in a transaction that may yet roll back is `ran`, never `applied`.
            Event::Ran { migration, elapsed } | Event::Rehearsed { migration, elapsed }
                if !s.quiet =>
            {
                progress(
                    &Style::paint(s.color_err, "32", "ran      "),
                    migration,
                    &format_elapsed(elapsed),
                )
            }
            Event::Changed {
                migration,
                recorded_checksum,
                file_checksum,
                recorded_down,
                file_down,
            } => eprint!(
                "{}",
                changed_text(
                    migration,
                    recorded_checksum,
                    file_checksum,
                    recorded_down,
                    file_down
                )
            ),
            Event::Skipped { migration, reason } if !s.quiet => progress(
                &Style::paint(s.color_err, "33", "skipped  "),
                migration,
                reason,
            ),
            Event::Preview {
                migration,
                direction,
                sql,
            } => {
                let mut text = format!(
                    "-- {} {} {} ({direction})\n{sql}",
                    migration.app_name, migration.migration_id, migration.description
                );
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push('\n');
                out(&text);
            }
            Event::PreviewForget { migration } => out(&format!(
                "-- {} {} {} (forget tracking row; no SQL runs)\n",
                migration.app_name, migration.migration_id, migration.description
            )),
            Event::Warning(message) => s.warn(&message),
            Event::Notice(message) => s.info(&format!("note: {message}")),
            Event::Deleted(path) => s.info(&format!("deleted {}", path.display())),
            _ => {}
        }
    }
}

/// What `resolve --accept-changed` shows before it asks: the two checksums (the old up
/// section is not stored, only its checksum) and a line diff of the down sections.
pub fn changed_text(
    migration: &ferry_core::PlannedMigration,
    recorded_checksum: &str,
    file_checksum: &str,
    recorded_down: Option<&str>,
    file_down: Option<&str>,
) -> String {
    let mut text = format!(
        "changed {} {} {}\n  up section: edited since it was applied (only its checksum was recorded)\n    checksum recorded: {recorded_checksum}\n    checksum of file:  {file_checksum}\n",
        migration.app_name, migration.migration_id, migration.description
    );
    match (recorded_down, file_down) {
        (old, new) if old == new => text.push_str("  down section: unchanged\n"),
        (None, Some(_)) => {
            text.push_str("  down section: none recorded (irreversible); the file now has one:\n")
        }
        (Some(_), None) => {
            text.push_str("  down section: the file now has none (irreversible); recorded:\n")
        }
        _ => text.push_str("  down section (- recorded, + file):\n"),
    }
    if recorded_down != file_down {
        let old: Vec<&str> = recorded_down
            .map(|d| d.lines().collect())
            .unwrap_or_default();
        let new: Vec<&str> = file_down.map(|d| d.lines().collect()).unwrap_or_default();
        for (sign, line) in line_diff(&old, &new) {
            text.push_str(&format!("    {sign} {line}\n"));
        }
    }
    text
}

/// A line diff of `old` and `new` (longest common subsequence): each line with `-` (only in
/// `old`), `+` (only in `new`) or ` ` (in both).
fn line_diff<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<(char, &'a str)> {
    // Down sections are short; past this size, the whole old and new are shown.
    if old.len().saturating_mul(new.len()) > 1_000_000 {
        let gone = old.iter().map(|l| ('-', *l));
        return gone.chain(new.iter().map(|l| ('+', *l))).collect();
    }
    let (n, m) = (old.len(), new.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if old[i] == new[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && old[i] == new[j] {
            out.push((' ', old[i]));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(('+', new[j]));
            j += 1;
        } else {
            out.push(('-', old[i]));
            i += 1;
        }
    }
    out
}

/// A progress line on stderr: `<verb> <app> <id> <description> (<detail>)`.
/// One line, written at once (stderr is unbuffered: `eprintln!` with arguments writes
/// each piece with a system call of its own).
fn progress(verb: &str, migration: &ferry_core::PlannedMigration, detail: &str) {
    let line = format!(
        "{verb} {} {} {} ({detail})\n",
        migration.app_name, migration.migration_id, migration.description
    );
    eprint!("{line}");
}

fn format_elapsed(d: std::time::Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Write to stdout; a closed pipe is not an error (the reader has what it wanted).
pub fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// Asks on the terminal. Refuses, without reading stdin, when stdin is not a terminal.
pub struct TerminalConfirm;

impl Confirm for TerminalConfirm {
    fn confirm(&self, request: &ConfirmRequest) -> ferry_core::Result<bool> {
        if !std::io::stdin().is_terminal() {
            // The question's first sentence: the one the user would have answered.
            let question = match request.question.split_once('?') {
                Some((first, _)) => format!("{first}?"),
                None => request.question.clone(),
            };
            return Err(Error::ConfirmationUnavailable(format!(
                "cannot ask \"{question}\": stdin is not a terminal; pass -y/--auto-agree to proceed without a prompt (nothing was changed)"
            )));
        }
        let mut err = std::io::stderr().lock();
        for item in &request.items {
            let _ = writeln!(
                err,
                "  {} {} {}",
                item.app_name, item.migration_id, item.description
            );
        }
        let _ = write!(err, "{} [y/N] ", request.question);
        let _ = err.flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Error::ConfirmationUnavailable(format!("cannot read the answer: {e}")))?;
        let answer = answer.trim().to_ascii_lowercase();
        Ok(answer == "y" || answer == "yes")
    }
}

/// The check table: APP, MIGRATION ID, DESCRIPTION, STATUS, APPLIED AT.
pub fn check_table(statuses: &[MigrationStatus], color: bool) -> String {
    let headers = ["APP", "MIGRATION ID", "DESCRIPTION", "STATUS", "APPLIED AT"];
    // The format parsed once, not once per row.
    let format: Vec<chrono::format::Item<'_>> =
        chrono::format::StrftimeItems::new("%Y-%m-%d %H:%M:%S UTC").collect();
    let applied: Vec<String> = statuses
        .iter()
        .map(|s| {
            s.applied_at
                .map(|t| t.format_with_items(format.iter()).to_string())
                .unwrap_or_else(|| "-".into())
        })
        .collect();
    let row = |i: usize| -> [&str; 5] {
        let s = &statuses[i];
        [
            &s.app_name,
            &s.migration_id,
            &s.description,
            s.status.as_str(),
            &applied[i],
        ]
    };
    let mut widths = headers.map(|h| h.chars().count());
    for i in 0..statuses.len() {
        for (w, cell) in widths.iter_mut().zip(row(i)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let per_line: usize = widths.iter().sum::<usize>() + 2 * widths.len() + 16;
    let mut text = String::with_capacity(per_line.saturating_mul(statuses.len() + 1));
    let mut line = |cells: [&str; 5], status: Option<Status>| {
        for (i, cell) in cells.iter().enumerate() {
            // Padded by hand: `format!`'s width is limited to 65535, and a cell may be
            // longer. The last cell is not padded: the line's trailing blanks are cut anyway.
            let pad = match i {
                4 => 0,
                _ => widths[i].saturating_sub(cell.chars().count()),
            };
            let painted = match (i, status) {
                (3, Some(st)) if color => Some(status_color(st)),
                _ => None,
            };
            if let Some(code) = painted {
                text.push_str("\x1b[");
                text.push_str(code);
                text.push('m');
            }
            text.push_str(cell);
            text.extend(std::iter::repeat_n(' ', pad));
            if painted.is_some() {
                text.push_str("\x1b[0m");
            }
            if i < 4 {
                text.push_str("  ");
            }
        }
        let end = text.trim_end().len();
        text.truncate(end);
        text.push('\n');
    };
    line(headers, None);
    for (i, s) in statuses.iter().enumerate() {
        line(row(i), Some(s.status));
    }
    text
}

/// An aligned table: a header row and `rows`, columns two spaces apart, no trailing spaces.
/// Padded by hand: `format!`'s width is limited to 65535, and a cell may be longer.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (cell, width) in cells.iter().zip(&widths) {
            l.push_str(cell);
            l.push_str(&" ".repeat(width.saturating_sub(cell.chars().count()) + 2));
        }
        l.trim_end().to_owned() + "\n"
    };
    let mut text = line(headers.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

fn status_color(status: Status) -> &'static str {
    match status {
        Status::Applied => "32",
        Status::Pending => "33",
        Status::Changed | Status::Missing => "35",
        Status::Dirty => "31;1",
    }
}

/// SPEC §14.4: the crash window under a counted dirty row (`check -v`): which statement to
/// look for in the database, and what to do whether it ran or not.
pub(crate) fn crash_window(
    s: &ferry_core::MigrationStatus,
    progress: &ferry_core::Progress,
) -> String {
    let next = progress.statements_done + 1;
    let at = progress
        .failed_at
        .as_deref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default();
    let (of, end) = if progress.down {
        (" of the down section", "--reverted")
    } else {
        ("", "--applied")
    };
    let last = progress
        .statements_total
        .is_some_and(|n| i64::try_from(n).is_ok_and(|n| n == next));
    let last_note = if last {
        format!(" (it is the last one: if it ran, the migration's work is done, so use `ferry resolve {} {} {end}`)", s.app_name, s.migration_id)
    } else {
        String::new()
    };
    // A forwards row with nothing recorded may have been written ahead, while the migration
    // before it ran its last statement (docs/src/locks-and-recovery.md).
    let ahead_note = if progress.statements_done == 0 && !progress.down {
        " (a row with no statement recorded can be written while the migration before it runs its last statement: if that one is dirty too, resolve it first)"
    } else {
        ""
    };
    format!(
        "  statement {next}{of}{at} may have run: a crash between a statement and its progress update leaves the count one behind; look at the database: if it did not run, `ferry resolve {app} {id} --resume` starts with it; if it did, undo it by hand first{last_note}{ahead_note}\n",
        app = s.app_name,
        id = s.migration_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diff_keeps_common_lines() {
        let old = ["DROP INDEX a;", "DROP TABLE t;"];
        let new = ["DROP TABLE t;", "DROP TABLE u;"];
        assert_eq!(
            line_diff(&old, &new),
            [
                ('-', "DROP INDEX a;"),
                (' ', "DROP TABLE t;"),
                ('+', "DROP TABLE u;")
            ]
        );
        assert_eq!(line_diff(&[], &["x"]), [('+', "x")]);
        assert_eq!(line_diff(&["x"], &[]), [('-', "x")]);
    }
}
