//! A counted section's run as one driver call (SPEC §14): its statements, the row changes
//! committed before each, and where it stopped.
//!
//! Core hands the whole run to [`Driver::execute_counted`](super::Driver::execute_counted),
//! so that a driver whose server stops a multi-statement batch at its first failing statement
//! (MySQL, MariaDB) can send several steps at once; the default makes one
//! [`Driver::write_then_execute_statement`](super::Driver::write_then_execute_statement) call
//! per statement.

use super::{Driver, DriverError, RowChange};

/// The statements of a counted section still to run, and the row changes before each.
pub struct CountedRun<'a> {
    /// The statements, in order (as [`crate::sql::split_statements`] found them).
    pub statements: &'a [&'a str],
    /// Written before statement 0 (the dirty row, say); may be empty.
    pub first: &'a [RowChange],
    /// The change written before statement `i > 0`: the progress of the statements before
    /// it. Made when needed, so that a long section never holds every progress text at once.
    pub progress: &'a (dyn Fn(usize) -> RowChange + Send + Sync),
    /// Further changes committed with the progress before statement `i`, as `(i, change)`
    /// with `i > 0`: the previous migration's clean row, the next one's dirty row.
    pub extra: &'a [(usize, RowChange)],
    /// The section is marked `no-transaction`.
    pub no_transaction: bool,
}

/// Where a counted run stopped; indexes are into [`CountedRun::statements`].
#[derive(Debug)]
pub enum CountedStop {
    /// The changes before statement `i` failed: they are not committed and the statement did
    /// not run.
    Changes(usize, DriverError),
    /// Statement `i` failed; the ones before it ran and their progress is committed.
    Statement(usize, DriverError),
}

impl CountedRun<'_> {
    /// The changes written before statement `i`.
    pub fn changes(&self, i: usize) -> Vec<RowChange> {
        match i {
            0 => self.first.to_vec(),
            _ => std::iter::once((self.progress)(i))
                .chain(
                    self.extra
                        .iter()
                        .filter(|(at, _)| *at == i)
                        .map(|(_, change)| change.clone()),
                )
                .collect(),
        }
    }

    /// Whether statement `i` is the last.
    pub fn is_last(&self, i: usize) -> bool {
        i + 1 == self.statements.len()
    }

    /// Run statements `from..` one [`Driver::write_then_execute_statement`] call each: the
    /// default of [`Driver::execute_counted`].
    pub async fn one_by_one<D: Driver + ?Sized>(
        &self,
        driver: &mut D,
        from: usize,
    ) -> Result<(), CountedStop> {
        for i in from..self.statements.len() {
            self.step(driver, i).await?;
        }
        Ok(())
    }

    /// Run statement `i` after its changes, in one [`Driver::write_then_execute_statement`]
    /// call: how a driver runs a step it cannot send together with others.
    pub async fn step<D: Driver + ?Sized>(
        &self,
        driver: &mut D,
        i: usize,
    ) -> Result<(), CountedStop> {
        let changes = self.changes(i);
        match driver
            .write_then_execute_statement(
                &changes,
                self.statements[i],
                self.no_transaction,
                self.is_last(i),
            )
            .await
        {
            Err(e) => Err(CountedStop::Changes(i, e)),
            Ok(Err(e)) => Err(CountedStop::Statement(i, e)),
            Ok(Ok(())) => Ok(()),
        }
    }
}
