//! `ferry lint`'s measurement (SPEC §13.1) on a scratch database: the section's statements
//! one by one, and after each, what the session holds and what changed of the relations
//! that existed before it ([`ferry_core::driver::lint`]).
//!
//! Before the first statement, every table, partitioned table, materialised view and index
//! outside the system schemas (the pre-existing ones), read with three catalog queries sent
//! together; after each statement, `pg_locks` of this backend (the strongest mode per
//! relation), and the same three queries only for the relations that it holds a lock on of
//! at least `ShareUpdateExclusiveLock`, which every change to a relation's catalog rows
//! takes (a drop too, held until the commit): so a statement costs what it touched, not
//! what the database holds. What is read: oids, names and `relfilenode`s (a change is a
//! rewrite); their columns
//! (`pg_attribute`: `attnum` is the identity, so a rename keeps it, and `attnotnull`); and
//! their validated foreign-key and check constraints and their indexes (one that appears was
//! built or validated by reading the table).
//!
//! A section run in one transaction leaves, at its end, the state the next section starts
//! from when the caller says nothing ran in between (`continues`): the relations it created
//! all hold its locks until its commit, so they are read then, and the whole read is done
//! once per run instead of once per migration.
//!
//! A `no-transaction` section: each statement runs in a transaction of its own, measured
//! before its commit; one that PostgreSQL refuses inside a transaction block (SQLSTATE
//! 25001: `CREATE INDEX CONCURRENTLY`, ...) runs alone, and its locks are gone when it is
//! measured.

use std::collections::BTreeMap;

use ferry_core::driver::lint::{LintColumn, LintRelation, LintRun, LintState, LintStep};
use ferry_core::driver::DriverResult;

use crate::error::{db_error, statement_error};
use crate::PostgresDriver;

/// The user relations: outside the system schemas (filtering by schema, not by a list of
/// oids, keeps each read a few milliseconds with hundreds of tables).
const USER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

const MODES: &str = "ARRAY['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', \
    'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', \
    'AccessExclusiveLock']";

impl PostgresDriver {
    /// See [`ferry_core::Driver::lint_section`].
    pub(crate) async fn lint_section(
        &mut self,
        statements: &[String],
        no_transaction: bool,
        continues: bool,
    ) -> DriverResult<LintRun> {
        let carried = self.lint_carry.take().filter(|_| continues);
        let before = match carried {
            Some(state) => state,
            None => self.lint_state().await?,
        };
        let mut run = LintRun {
            before,
            ..LintRun::default()
        };
        let result = if no_transaction {
            self.lint_each(statements, &mut run).await
        } else {
            self.lint_together(statements, &mut run).await
        };
        let reset = self.reset_session().await;
        result?;
        reset?;
        Ok(run)
    }

    /// The state at the end of a section run in one transaction, before its commit, for the
    /// next section to start from: the last state read, and the relations the section
    /// created, which all hold a lock of the section's until the commit.
    async fn lint_carry(&self, run: &LintRun) -> DriverResult<LintState> {
        let last = run.steps.last().map_or(&run.before, |s| &s.state);
        let created: Vec<&str> = last
            .locks
            .iter()
            .filter(|(oid, mode)| !last.relations.contains_key(*oid) && changes_catalog(mode))
            .map(|(oid, _)| oid.as_str())
            .collect();
        let mut state = LintState {
            relations: last.relations.clone(),
            locks: BTreeMap::new(),
        };
        if !created.is_empty() {
            let list = format!("'{{{}}}'::oid[]", created.join(","));
            state
                .relations
                .extend(self.lint_relations(Some(&list)).await?);
        }
        Ok(state)
    }

    /// Every statement in one transaction, committed at the end (rolled back on a failure).
    async fn lint_together(
        &mut self,
        statements: &[String],
        run: &mut LintRun,
    ) -> DriverResult<()> {
        // Requests are pipelined (sent together, answered in order): `BEGIN` with the first
        // statement, and each statement with the `pg_locks` read after it (whose answer is
        // an error, and ignored, when the statement failed).
        let Some(first) = statements.first() else {
            self.lint_carry = Some(run.before.clone());
            return Ok(());
        };
        let (begun, first) = tokio::join!(self.exec("BEGIN"), self.ran_then_locks(first));
        begun?;
        let mut first = Some(first);
        for (i, statement) in statements.iter().enumerate() {
            let (ran, locks) = match first.take() {
                Some(outcome) => outcome,
                None => self.ran_then_locks(statement).await,
            };
            if let Err(e) = ran {
                run.failed = Some((i, statement_error(&e, statement, statement, 0)));
                return self.exec("ROLLBACK").await;
            }
            let prev = run.steps.last().map_or(&run.before, |s| &s.state);
            let state = self.lint_state_after(prev, locks?).await?;
            run.steps.push(LintStep {
                state,
                algorithm: None,
                in_transaction: true,
            });
        }
        let carry = self.lint_carry(run).await?;
        self.exec("COMMIT").await?;
        self.lint_carry = Some(carry);
        Ok(())
    }

    /// Each statement in a transaction of its own, or alone when it cannot run in one.
    async fn lint_each(&mut self, statements: &[String], run: &mut LintRun) -> DriverResult<()> {
        for (i, statement) in statements.iter().enumerate() {
            self.exec("BEGIN").await?;
            let prev = run.steps.last().map_or(&run.before, |s| &s.state);
            let state = match self.client.batch_execute(statement).await {
                Ok(()) => {
                    let state = match self.lint_locks().await {
                        Ok(locks) => self.lint_state_after(prev, locks).await,
                        Err(e) => Err(e),
                    };
                    self.exec("COMMIT").await?;
                    state?
                }
                Err(e) => {
                    self.exec("ROLLBACK").await?;
                    let refused_in_block = e
                        .as_db_error()
                        .is_some_and(|db| db.code().code() == "25001");
                    if !refused_in_block {
                        run.failed = Some((i, statement_error(&e, statement, statement, 0)));
                        return Ok(());
                    }
                    if let Err(e) = self.client.batch_execute(statement).await {
                        run.failed = Some((i, statement_error(&e, statement, statement, 0)));
                        return Ok(());
                    }
                    self.lint_state().await?
                }
            };
            run.steps.push(LintStep {
                state,
                algorithm: None,
                in_transaction: false,
            });
        }
        Ok(())
    }

    /// Run `statement` and read the session's locks after it, pipelined: the statement's
    /// outcome, and the locks (an error when the statement failed and aborted the
    /// transaction).
    async fn ran_then_locks(
        &self,
        statement: &str,
    ) -> (
        Result<(), tokio_postgres::Error>,
        DriverResult<BTreeMap<String, String>>,
    ) {
        tokio::join!(self.client.batch_execute(statement), self.lint_locks())
    }

    async fn exec(&self, sql: &str) -> DriverResult<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| db_error(&e))
    }

    /// The user relations as they are now, read in this session, whole.
    async fn lint_state(&self) -> DriverResult<LintState> {
        let (relations, locks) = tokio::try_join!(self.lint_relations(None), self.lint_locks())?;
        Ok(LintState { relations, locks })
    }

    /// The state after a statement, from `prev` (the state before it): every catalog change
    /// to a relation takes a lock on it of at least `ShareUpdateExclusiveLock` (a drop
    /// included, held until the commit), so only the relations of `prev` that this session
    /// holds such a lock on are read again; one of them gone from `pg_class` was dropped.
    async fn lint_state_after(
        &self,
        prev: &LintState,
        locks: BTreeMap<String, String>,
    ) -> DriverResult<LintState> {
        let touched: Vec<&str> = locks
            .iter()
            .filter(|(oid, mode)| prev.relations.contains_key(*oid) && changes_catalog(mode))
            .map(|(oid, _)| oid.as_str())
            .collect();
        let mut state = LintState {
            relations: prev.relations.clone(),
            locks: BTreeMap::new(),
        };
        if !touched.is_empty() {
            let list = format!("'{{{}}}'::oid[]", touched.join(","));
            let read = self.lint_relations(Some(&list)).await?;
            for oid in &touched {
                state.relations.remove(*oid);
            }
            state.relations.extend(read);
        }
        state.locks = locks;
        Ok(state)
    }

    /// The strongest mode of each relation lock this session holds. pg_locks reads the whole
    /// lock table: once per state, not per relation.
    async fn lint_locks(&self) -> DriverResult<BTreeMap<String, String>> {
        // Weakest first, so that the strongest mode of a relation is the one kept.
        let locks = format!(
            "SELECT l.relation::text, l.mode FROM pg_catalog.pg_locks l \
             WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
             ORDER BY array_position({MODES}, l.mode) NULLS FIRST"
        );
        let rows = self
            .client
            .query_typed(&locks, &[])
            .await
            .map_err(|e| db_error(&e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The relations of `list` (an `oid[]` literal), or every user relation, with their
    /// columns and checked things.
    async fn lint_relations(
        &self,
        list: Option<&str>,
    ) -> DriverResult<BTreeMap<String, LintRelation>> {
        let (rel, col, con, idx) = match list {
            Some(list) => (
                format!(
                    "c.oid = ANY({list}) AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"
                ),
                format!("a.attrelid = ANY({list})"),
                format!("k.conrelid = ANY({list})"),
                format!("i.indrelid = ANY({list})"),
            ),
            None => (
                format!("c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"),
                format!("c.relkind IN ('r', 'p') AND {USER}"),
                format!("k.conrelid <> 0 AND {USER}"),
                USER.to_owned(),
            ),
        };
        let relations = format!(
            "SELECT c.oid::text, CASE WHEN c.relkind IN ('i', 'I') THEN 'index' ELSE 'table' END, \
             CASE WHEN n.nspname = current_schema() THEN c.relname::text ELSE n.nspname || '.' || c.relname END, \
             c.relfilenode::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {rel}"
        );
        let columns = format!(
            "SELECT a.attrelid::text, a.attnum::text, a.attname::text, a.attnotnull \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {col} AND a.attnum > 0 AND NOT a.attisdropped"
        );
        let checked = format!(
            "SELECT k.conrelid::text, 'constraint ' || k.conname FROM pg_catalog.pg_constraint k \
             JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace \
             WHERE k.contype IN ('f', 'c') AND k.convalidated AND {con} \
             UNION ALL SELECT i.indrelid::text, 'index ' || c.relname FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {idx}"
        );
        let (relations, columns, checked) = tokio::try_join!(
            self.client.query_typed(&relations, &[]),
            self.client.query_typed(&columns, &[]),
            self.client.query_typed(&checked, &[]),
        )
        .map_err(|e| db_error(&e))?;
        let mut out = BTreeMap::new();
        for row in relations {
            out.insert(
                row.get::<_, String>(0),
                LintRelation {
                    kind: row.get(1),
                    name: row.get(2),
                    storage: Some(row.get(3)),
                    ..LintRelation::default()
                },
            );
        }
        for row in columns {
            if let Some(r) = out.get_mut(row.get::<_, &str>(0)) {
                r.columns.insert(
                    row.get(1),
                    LintColumn {
                        name: row.get(2),
                        not_null: row.get(3),
                    },
                );
            }
        }
        for row in checked {
            if let Some(r) = out.get_mut(row.get::<_, &str>(0)) {
                r.checked.insert(row.get(1));
            }
        }
        Ok(out)
    }
}

/// Whether a lock of `mode` is one that a change to the relation's catalog rows takes (DML's
/// `RowExclusiveLock` and reads' are not).
fn changes_catalog(mode: &str) -> bool {
    matches!(
        mode,
        "ShareUpdateExclusiveLock"
            | "ShareLock"
            | "ShareRowExclusiveLock"
            | "ExclusiveLock"
            | "AccessExclusiveLock"
    )
}
