//! Running migration SQL: in a transaction with its row change, outside one, statement by
//! statement, row changes written with or before it (inlined where safe), and the session
//! put back after each.

use std::time::Instant;

use ferry_core::driver::lease::Held;
use ferry_core::driver::{DriverResult, RowChange, Value};
use ferry_core::sql::{is_blank, Dialect};
use mysql_async::prelude::Queryable;

use crate::error::{db_error, statement_error};
use crate::lease::Store;
use crate::{bind, mysql_value, MysqlDriver};

impl MysqlDriver {
    pub(crate) async fn execute_in_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        let ran = self
            .transaction(async |this: &mut Self| {
                let started = Instant::now();
                this.run_sql(sql).await?;
                this.write_row(&change.clone().with_duration(started.elapsed()))
                    .await
            })
            .await;
        self.after_reset(ran).await
    }

    /// Put the session back as it was at connect ([`session`]) after SQL that ran (`ran`),
    /// also when it failed: one round trip. `ran`'s error comes first.
    pub(crate) async fn after_reset(&mut self, ran: DriverResult<()>) -> DriverResult<()> {
        let reset = self
            .conn
            .query_drop(&self.restore)
            .await
            .map_err(|e| db_error(&e));
        ran.and(reset)
    }

    /// Run `body` in a transaction: committed (after the lease fence, where a lease is held)
    /// when it succeeds, rolled back when anything fails.
    pub(crate) async fn transaction(
        &mut self,
        body: impl AsyncFnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(|e| db_error(&e))?;
        let result = async {
            body(self).await?;
            self.commit().await
        }
        .await;
        if result.is_err() {
            // Best effort: a broken connection rolls back by itself.
            let _ = self.conn.query_drop("ROLLBACK").await;
        }
        result
    }

    pub(crate) async fn execute(&mut self, sql: &str, _no_transaction: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        let ran = self.run_sql(sql).await;
        self.after_reset(ran).await
    }

    /// One statement of a counted section (SPEC §14): the session is reset after the last
    /// one or a failure only.
    pub(crate) async fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        let ran = self.run_sql(sql).await;
        self.counted_end(ran, sql, last).await
    }

    /// After statement `sql` of a counted section ran (`ran`): the session is restored
    /// after a failure, and after the `last` statement unless every statement of the
    /// section kept it as it was ([`crate::session::keeps_session`]).
    async fn counted_end(
        &mut self,
        ran: DriverResult<()>,
        sql: &str,
        last: bool,
    ) -> DriverResult<()> {
        self.touched |= !crate::session::keeps_session(sql);
        if !(last || ran.is_err()) {
            return ran;
        }
        let touched = std::mem::take(&mut self.touched);
        if touched || ran.is_err() {
            return self.after_reset(ran).await;
        }
        ran
    }

    pub(crate) async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        if !matches!(self.held, Held::Lease(_)) {
            return self.write_row(change).await;
        }
        self.transaction(async |this: &mut Self| this.write_row(change).await)
            .await
    }

    /// Several row changes in one transaction: one commit where the dirty protocol would
    /// make one per change (the previous migration's clean and the next one's dirty row).
    /// Without a lease, and when every value can be written as a literal that reads the same
    /// whatever the session's `sql_mode` ([`inline`]), the transaction is one multi-statement
    /// batch: one round trip. Otherwise each change is a prepared statement, and the lease
    /// is fenced before `COMMIT`.
    pub(crate) async fn write_all(&mut self, changes: &[RowChange]) -> DriverResult<()> {
        if let [one] = changes {
            return self.write(one).await;
        }
        if let Some(statements) = self.inline_changes(changes) {
            let batch = format!("START TRANSACTION;\n{};\nCOMMIT", statements.join(";\n"));
            let result = self.conn.query_drop(batch).await.map_err(|e| db_error(&e));
            if result.is_err() {
                // A failed statement ends the batch before `COMMIT`.
                let _ = self.conn.query_drop("ROLLBACK").await;
            }
            return result;
        }
        self.transaction(async |this: &mut Self| {
            for change in changes {
                this.write_row(change).await?;
            }
            Ok(())
        })
        .await
    }

    /// [`Driver::write_then_execute`] in one round trip where [`Self::write_all`] would be
    /// one batch: `START TRANSACTION; <changes>; COMMIT;` followed by the section's
    /// statements in the same multi-statement batch. The server stops at the first statement
    /// that fails; the result sets read before it tell whether that was a change (rolled back,
    /// the section not run) or the section's statement (the changes committed, as the dirty
    /// protocol needs).
    pub(crate) async fn write_then_execute(
        &mut self,
        changes: &[RowChange],
        sql: &str,
        no_transaction: bool,
    ) -> DriverResult<DriverResult<()>> {
        let statements = self.inline_changes(changes);
        let (Some(statements), false) = (statements, is_blank(sql, Dialect::MySql)) else {
            self.write_all(changes).await?;
            return Ok(self.execute(sql, no_transaction).await);
        };
        self.changes.observe(sql);
        let tracking = statements.len() + 2;
        let batch = format!(
            "START TRANSACTION;\n{};\nCOMMIT;\n{sql}",
            statements.join(";\n")
        );
        let (outcome, completed) = self.run_batch(&batch).await;
        let ran = match outcome {
            Ok(()) => Ok(()),
            Err(e) if completed < tracking => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                return Err(db_error(&e));
            }
            Err(e) => Err(statement_error(&e, sql, completed - tracking)),
        };
        Ok(self.after_reset(ran).await)
    }

    /// [`Driver::write_then_execute_statement`]: the steps of a counted section that cannot go
    /// in a batch ([`crate::counted`]: under a lease, or with values that cannot be inlined)
    /// write their changes, then run the statement as [`Self::execute_statement`] does. When
    /// the changes fail the section stops there, and the session is put back as it began.
    pub(crate) async fn write_then_execute_statement(
        &mut self,
        changes: &[RowChange],
        sql: &str,
        last: bool,
    ) -> DriverResult<DriverResult<()>> {
        if !changes.is_empty() {
            if let Err(e) = self.write_all(changes).await {
                self.touched = false;
                let _ = self.after_reset(Ok(())).await;
                return Err(e);
            }
        }
        Ok(self.execute_statement(sql, last).await)
    }

    /// The statements of `changes` with their values inlined ([`inline`]), when there is no
    /// lease (whose fence must be read before `COMMIT`) and every value can be inlined.
    pub(crate) fn inline_changes(&self, changes: &[RowChange]) -> Option<Vec<String>> {
        if matches!(self.held, Held::Lease(_)) {
            return None;
        }
        self.sql
            .changes(changes)
            .into_iter()
            .map(|(sql, values)| inline(sql, values))
            .collect()
    }

    /// Fence the lease, when one is held, then commit. The fence comes last so that the
    /// lease row is locked only for a moment and the renewal connection never waits on it.
    pub(crate) async fn commit(&mut self) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease
                .fence(&mut Store::new(&mut self.conn, &self.target))
                .await?;
        }
        self.conn
            .query_drop("COMMIT")
            .await
            .map_err(|e| db_error(&e))
    }

    /// Run a section's SQL as one multi-statement batch (MySQL wraps it in no implicit
    /// transaction, so `no-transaction` changes nothing).
    pub(crate) async fn run_sql(&mut self, sql: &str) -> DriverResult<()> {
        self.changes.observe(sql);
        if is_blank(sql, Dialect::MySql) {
            return Ok(());
        }
        let (outcome, completed) = self.run_batch(sql).await;
        outcome.map_err(|e| statement_error(&e, sql, completed))
    }

    /// Run a multi-statement batch; its outcome and how many statements completed before the
    /// one that failed. An error of the first statement is returned by `query_iter`; a later
    /// statement's error is read while the previous result set is consumed, kept pending by
    /// mysql_async, and returned by the next read (another `collect` or the final
    /// `drop_result`). So the failing statement's index is the number of result sets consumed
    /// successfully.
    pub(crate) async fn run_batch(
        &mut self,
        batch: &str,
    ) -> (Result<(), mysql_async::Error>, usize) {
        let mut completed = 0usize;
        let outcome = async {
            let mut result = self.conn.query_iter(batch).await?;
            while !result.is_empty() {
                result.for_each(drop).await?;
                completed += 1;
            }
            result.drop_result().await
        }
        .await;
        (outcome, completed)
    }

    pub(crate) async fn write_row(&mut self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        self.conn
            .exec_drop(sql, bind(values))
            .await
            .map_err(|e| db_error(&e))
    }
}

/// `sql` (a tracking statement of [`TrackingSql`]) with each `?` placeholder replaced by its
/// value as a literal, escaped by mysql_common (`Value::as_sql`) with quotes doubled. That
/// literal reads the same with and without `NO_BACKSLASH_ESCAPES` as long as the text holds
/// no backslash and no NUL: `None` when a value does, and the caller binds instead. `?` is
/// looked for outside backquoted identifiers only (a database name may hold one).
pub(crate) fn inline(sql: &str, values: Vec<Value<'_>>) -> Option<String> {
    let mut literals = Vec::with_capacity(values.len());
    for value in values {
        if let Value::Text(t) | Value::NullableText(Some(t)) = value {
            if t.contains(['\\', '\0']) {
                return None;
            }
        }
        literals.push(mysql_value(value).as_sql(true));
    }
    let mut literals = literals.into_iter();
    let mut out = String::with_capacity(sql.len() + 256);
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '`' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push_str(&literals.next()?),
            _ => out.push(c),
        }
    }
    literals.next().is_none().then_some(out)
}
