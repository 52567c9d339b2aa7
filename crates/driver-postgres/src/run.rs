//! Running migration SQL: in a transaction with its row change, outside one, statement by
//! statement, the run-wide transaction, and the session reset after each.

use std::time::Instant;

use ferry_core::driver::lease::Held;
use ferry_core::driver::{DriverResult, RowChange};
use ferry_core::sql::{split_statements, Dialect};
use ferry_core::DriverError;
use tokio_postgres::types::Type;

use crate::error::{db_error, statement_error};
use crate::{typed, PostgresDriver};

impl PostgresDriver {
    pub(crate) async fn execute_in_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        if !self.atomic && !matches!(self.held, Held::Lease(_)) {
            return self.pipelined_transaction(sql, change).await;
        }
        self.transaction(async |this: &mut Self| {
            let started = Instant::now();
            this.run_sql(sql, false).await?;
            let change = change.clone().with_duration(started.elapsed());
            this.reset_session().await?;
            this.write_row(&change).await
        })
        .await
    }

    pub(crate) async fn execute(&mut self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if let Held::Lease(lease) = &self.held {
            lease.fence(&mut self.store()).await?;
        }
        let Some(path) = self.search_path.clone() else {
            if !no_transaction && !self.atomic {
                // One implicit transaction, the reset pipelined after it: no extra wait.
                let reset = self.reset_sql();
                let (ran, reset) = tokio::join!(
                    biased;
                    self.run_sql(sql, false),
                    self.client.batch_execute(&reset)
                );
                return ran.and(reset.map_err(|e| db_error(&e)));
            }
            let ran = self.run_sql(sql, no_transaction).await;
            return self.after_reset(ran).await;
        };
        if !no_transaction {
            // The tenant's search_path lives in a transaction: run the batch in one.
            return self
                .transaction(async |this: &mut Self| {
                    this.run_sql(sql, false).await?;
                    this.reset_session().await
                })
                .await;
        }
        if let Some(why) = self.server.pooled() {
            return Err(DriverError::new(
                ferry_core::DriverErrorKind::Other,
                format!(
                    "a no-transaction section cannot run in schema {path}: {why}, and there search_path can only be set inside a transaction; run it over a direct connection"
                ),
            ));
        }
        // A direct connection is ours alone: the session's search_path, put back after.
        self.client
            .batch_execute(&format!("SET search_path TO {path}"))
            .await
            .map_err(|e| db_error(&e))?;
        let result = self.run_sql(sql, true).await;
        self.after_reset(result).await
    }

    /// One statement of a counted `no-transaction` section (SPEC §14): the session is reset
    /// after the last one or a failure only. In a tenant's schema, where `search_path` is set
    /// per call, each statement runs as [`Self::execute`] runs a section.
    pub(crate) async fn execute_statement(&mut self, sql: &str, last: bool) -> DriverResult<()> {
        if self.search_path.is_some() {
            return self.execute(sql, true).await;
        }
        if let Held::Lease(lease) = &self.held {
            lease.fence(&mut self.store()).await?;
        }
        let ran = self.run_sql(sql, true).await;
        if last || ran.is_err() {
            return self.after_reset(ran).await;
        }
        ran
    }

    /// The statements that bring the session back to the state the connection began with
    /// (SPEC §7): every setting back to its value from the server's configuration and the
    /// startup parameters (`RESET ALL`, and the role and session user, which it leaves), the
    /// temporary objects dropped, then the settings this driver made itself. Allowed inside
    /// a transaction, where it is transactional like `SET`. While `verify` tracks changes,
    /// whose log lives in `pg_temp`, only the other temporary relations are dropped.
    pub(crate) fn reset_sql(&self) -> String {
        let mut sql = String::from("RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL; ");
        sql.push_str(if self.changes.is_some() {
            DROP_OTHER_TEMP
        } else {
            "DISCARD TEMP"
        });
        for set in &self.session {
            sql.push_str("; ");
            sql.push_str(set);
        }
        sql
    }

    /// Reset the session ([`Self::reset_sql`]): one round trip.
    pub(crate) async fn reset_session(&self) -> DriverResult<()> {
        self.client
            .batch_execute(&self.reset_sql())
            .await
            .map_err(|e| db_error(&e))
    }

    /// Reset the session after `ran`, SQL that ran outside a transaction (whose settings no
    /// rollback undid), also when it failed; `ran`'s error comes first.
    pub(crate) async fn after_reset(&self, ran: DriverResult<()>) -> DriverResult<()> {
        let reset = self.reset_session().await;
        ran.and(reset)
    }

    pub(crate) async fn write(&mut self, change: &RowChange) -> DriverResult<()> {
        if matches!(self.held, Held::Lease(_)) && !self.atomic {
            self.transaction(async |this: &mut Self| this.write_row(change).await)
                .await
        } else {
            self.write_row(change).await
        }
    }

    /// Run `body` in a transaction that, while a lease is held, also fences the lease just
    /// before it commits (at the end, so that the lease row is locked only for a moment and
    /// the renewal connection never waits on it).
    pub(crate) async fn transaction(
        &mut self,
        body: impl AsyncFnOnce(&mut Self) -> DriverResult<()>,
    ) -> DriverResult<()> {
        if self.atomic {
            // Inside the run-wide transaction: a failure aborts it, and the caller rolls it
            // back with `end_atomic(false)`.
            return body(self).await;
        }
        self.client
            .batch_execute(&self.begin())
            .await
            .map_err(|e| db_error(&e))?;
        let result = async {
            body(self).await?;
            if let Held::Lease(lease) = &self.held {
                lease.fence(&mut self.store()).await?;
            }
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| db_error(&e))
        }
        .await;
        if result.is_err() {
            // Nothing more to do if this fails too: the connection is gone or the
            // transaction is already over.
            let _ = self.client.batch_execute("ROLLBACK").await;
        }
        result
    }

    /// [`Self::execute_in_transaction`] in two round trips instead of five: `BEGIN` is sent
    /// with the section, the session reset with the row change and `COMMIT`, each group
    /// pipelined (tokio-postgres writes them all before reading any answer). Only without a
    /// lease: its fence must be read before `COMMIT` is sent. A failed reset or row change
    /// leaves the transaction aborted, and PostgreSQL answers the `COMMIT` after it by
    /// rolling back; the error is the first failure's.
    pub(crate) async fn pipelined_transaction(
        &mut self,
        sql: &str,
        change: &RowChange,
    ) -> DriverResult<()> {
        let started = Instant::now();
        let begin = self.begin();
        // `biased`: polled in order, so `BEGIN` is queued first.
        let (begun, ran) = tokio::join!(
            biased;
            self.client.batch_execute(&begin),
            self.run_sql(sql, false)
        );
        let result = match (begun.map_err(|e| db_error(&e)), ran) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            (Ok(()), Ok(())) => {
                let change = change.clone().with_duration(started.elapsed());
                // The session reset goes in the transaction, before the row change (which
                // then runs as the session's own user, whatever role the SQL set) and
                // `COMMIT`: through a transaction-mode pooler, that is the server connection
                // the SQL ran on.
                let reset = self.reset_sql();
                let (was_reset, written, committed) = tokio::join!(
                    biased;
                    self.client.batch_execute(&reset),
                    self.write_row(&change),
                    self.client.batch_execute("COMMIT")
                );
                match (
                    was_reset.map_err(|e| db_error(&e)),
                    written,
                    committed.map_err(|e| db_error(&e)),
                ) {
                    (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(()), Err(e)) => Err(e),
                    (Ok(()), Ok(()), Ok(())) => return Ok(()),
                }
            }
        };
        // Nothing more to do if this fails too: the connection is gone or the transaction
        // is already over.
        let _ = self.client.batch_execute("ROLLBACK").await;
        result
    }

    /// Run a section's SQL: one simple-query batch, or, for `no_transaction`, each statement
    /// alone (PostgreSQL runs a multi-statement query as one implicit transaction, which
    /// `CREATE INDEX CONCURRENTLY` and the like refuse).
    pub(crate) async fn run_sql(&self, sql: &str, no_transaction: bool) -> DriverResult<()> {
        if no_transaction {
            for statement in split_statements(sql, Dialect::Postgres) {
                self.run_batch(sql, statement.text, statement.offset)
                    .await?;
            }
            Ok(())
        } else {
            self.run_batch(sql, sql, 0).await
        }
    }

    pub(crate) async fn write_row(&self, change: &RowChange) -> DriverResult<()> {
        let (sql, values) = self.sql.change(change);
        self.client
            .execute_typed(sql, &typed(&values))
            .await
            .map(|_| ())
            .map_err(|e| db_error(&e))
    }

    pub(crate) async fn begin_atomic(&mut self) -> DriverResult<()> {
        self.sequence = self.tracking_sequence().await?;
        self.client
            .batch_execute(&self.begin())
            .await
            .map_err(|e| db_error(&e))?;
        self.atomic = true;
        Ok(())
    }

    /// The tracking table's identity sequence and its state, when the table exists.
    pub(crate) async fn tracking_sequence(&self) -> DriverResult<Option<(String, i64, bool)>> {
        if !self.relation_exists(self.table.name()).await? {
            return Ok(None);
        }
        let name: Option<String> = self
            .client
            .query_typed_one(
                "SELECT pg_get_serial_sequence($1, 'id')",
                &[(&self.quoted, Type::TEXT)],
            )
            .await
            .map_err(|e| db_error(&e))?
            .get(0);
        let Some(name) = name else {
            return Ok(None);
        };
        // `name` comes from the catalog, already quoted where needed.
        let row = self
            .client
            .query_typed_one(&format!("SELECT last_value, is_called FROM {name}"), &[])
            .await
            .map_err(|e| db_error(&e))?;
        Ok(Some((name, row.get(0), row.get(1))))
    }

    pub(crate) async fn end_atomic(&mut self, commit: bool) -> DriverResult<()> {
        if !std::mem::replace(&mut self.atomic, false) {
            return Ok(());
        }
        let ended = async {
            if !commit {
                return Err(None);
            }
            if let Held::Lease(lease) = &self.held {
                lease.fence(&mut self.store()).await.map_err(Some)?;
            }
            self.client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| Some(db_error(&e)))
        }
        .await;
        let sequence = self.sequence.take();
        match ended {
            Ok(()) => Ok(()),
            Err(failure) => {
                let mut rolled_back = self
                    .client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(|e| db_error(&e));
                if let (Ok(()), Some((name, value, called))) = (&rolled_back, sequence) {
                    rolled_back = self
                        .client
                        .query_typed(
                            "SELECT setval($1::regclass, $2, $3)",
                            &[
                                (&name, Type::TEXT),
                                (&value, Type::INT8),
                                (&called, Type::BOOL),
                            ],
                        )
                        .await
                        .map(drop)
                        .map_err(|e| db_error(&e));
                }
                match failure {
                    Some(e) => Err(e),
                    None => rolled_back,
                }
            }
        }
    }

    /// The statement that opens a transaction: `BEGIN`, with the tenant's `search_path`.
    pub(crate) fn begin(&self) -> String {
        match &self.search_path {
            Some(path) => format!("BEGIN; SET LOCAL search_path TO {path}"),
            None => "BEGIN".to_owned(),
        }
    }

    /// Send `sent`, found at byte `offset` of `sql`, as one simple-query batch.
    pub(crate) async fn run_batch(&self, sql: &str, sent: &str, offset: usize) -> DriverResult<()> {
        self.client
            .batch_execute(sent)
            .await
            .map_err(|e| statement_error(&e, sql, sent, offset))
    }
}

/// Drop the temporary relations of the session except the change log of `verify`
/// ([`crate::changes`]), whose event triggers see these drops as changes to `pg_temp`, which
/// no snapshot reads.
pub(crate) const DROP_OTHER_TEMP: &str = "DO $ferry$ DECLARE r record; BEGIN \
    FOR r IN SELECT c.relname, c.relkind FROM pg_catalog.pg_class c \
    WHERE c.relnamespace = pg_catalog.pg_my_temp_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') \
    AND c.relname NOT LIKE 'ferry\\_changes%' LOOP \
    EXECUTE format('DROP %s IF EXISTS pg_temp.%I CASCADE', CASE r.relkind WHEN 'v' THEN 'VIEW' \
    WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' \
    ELSE 'TABLE' END, r.relname); \
    END LOOP; END $ferry$";
