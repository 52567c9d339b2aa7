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
use std::sync::Arc;

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
            self.lint_each(statements, &mut run).await.map(|()| false)
        } else {
            self.lint_together(statements, &mut run).await
        };
        // `Ok(true)`: the session was reset already, pipelined with the COMMIT or ROLLBACK.
        let reset = match result {
            Ok(true) => Ok(()),
            _ => self.reset_session().await,
        };
        result?;
        reset?;
        Ok(run)
    }

    /// Every statement in one transaction, committed at the end (rolled back on a failure),
    /// with the session reset pipelined after it (`Ok(true)`; `Ok(false)`: nothing ran).
    ///
    /// Requests are pipelined (sent together, answered in order): `BEGIN` with the first
    /// statement, each statement with the reads after it ([`LintReads`]: its locks and the
    /// relations it holds a catalog-changing lock on, whose answers are errors, and ignored,
    /// when the statement failed), and the `COMMIT` with the session reset: two requests per
    /// statement fewer than reading the locks first, and no read before the commit, since
    /// the relations the section created all hold its locks until then and so were read
    /// after its last statement, for the next section to start from.
    async fn lint_together(
        &mut self,
        statements: &[String],
        run: &mut LintRun,
    ) -> DriverResult<bool> {
        let Some(first) = statements.first() else {
            self.lint_carry = Some(run.before.clone());
            return Ok(false);
        };
        let reads = self.lint_reads().await?;
        let (begun, first) = tokio::join!(self.exec("BEGIN"), self.ran_then_read(&reads, first));
        begun?;
        let mut first = Some(first);
        let mut last_read = BTreeMap::new();
        for (i, statement) in statements.iter().enumerate() {
            let (ran, read) = match first.take() {
                Some(outcome) => outcome,
                None => self.ran_then_read(&reads, statement).await,
            };
            if let Err(e) = ran {
                run.failed = Some((i, statement_error(&e, statement, statement, 0)));
                let (end, reset) = tokio::join!(self.exec("ROLLBACK"), self.reset_session());
                end?;
                reset?;
                return Ok(true);
            }
            let (locks, read) = read?;
            let prev = run.steps.last().map_or(&run.before, |s| &s.state);
            let state = after(prev, locks, &read);
            last_read = read;
            run.steps.push(LintStep {
                state,
                algorithm: None,
                in_transaction: true,
            });
        }
        // The state the next section starts from: the last one, and the relations the section
        // created (all locked by it until the commit, so in the last read).
        let mut carry = LintState {
            relations: run.steps.last().map_or_else(
                || run.before.relations.clone(),
                |s| s.state.relations.clone(),
            ),
            locks: BTreeMap::new(),
        };
        for (oid, relation) in last_read {
            carry.relations.entry(oid).or_insert(relation);
        }
        let (end, reset) = tokio::join!(self.exec("COMMIT"), self.reset_session());
        end?;
        reset?;
        self.lint_carry = Some(carry);
        Ok(true)
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

    /// The reads after a statement, prepared on first use (one round trip per session).
    async fn lint_reads(&mut self) -> DriverResult<LintReads> {
        if let Some(reads) = &self.lint_reads {
            return Ok(reads.clone());
        }
        let locked = format!("IN (SELECT l.relation FROM pg_catalog.pg_locks l {HELD})");
        let [relations, columns, checked] = relation_queries(
            &format!("c.oid {locked} AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"),
            &format!("a.attrelid {locked}"),
            &format!("k.conrelid {locked}"),
            &format!("i.indrelid {locked}"),
        );
        let locks = locks_query();
        let (locks, relations, columns, checked) = tokio::try_join!(
            self.client.prepare(&locks),
            self.client.prepare(&relations),
            self.client.prepare(&columns),
            self.client.prepare(&checked),
        )
        .map_err(|e| db_error(&e))?;
        let reads = LintReads {
            locks,
            relations,
            columns,
            checked,
        };
        self.lint_reads = Some(reads.clone());
        Ok(reads)
    }

    /// Run `statement` and the reads after it, pipelined: the statement's outcome, and the
    /// session's locks with the relations it holds a catalog-changing lock on (an error when
    /// the statement failed and aborted the transaction).
    async fn ran_then_read(
        &self,
        reads: &LintReads,
        statement: &str,
    ) -> (
        Result<(), tokio_postgres::Error>,
        DriverResult<(
            BTreeMap<String, String>,
            BTreeMap<String, Arc<LintRelation>>,
        )>,
    ) {
        let (ran, locks, relations, columns, checked) = tokio::join!(
            self.client.batch_execute(statement),
            self.client.query(&reads.locks, &[]),
            self.client.query(&reads.relations, &[]),
            self.client.query(&reads.columns, &[]),
            self.client.query(&reads.checked, &[]),
        );
        let read = (|| {
            let locks = locks?.iter().map(|r| (r.get(0), r.get(1))).collect();
            Ok((locks, assemble(relations?, columns?, checked?)))
        })()
        .map_err(|e: tokio_postgres::Error| db_error(&e));
        (ran, read)
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

    /// The state after a statement run alone (a `no-transaction` one), from `prev` and the
    /// locks after it: the relations of `prev` it touched ([`after`]) read again.
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
        let read = if touched.is_empty() {
            BTreeMap::new()
        } else {
            let list = format!("'{{{}}}'::oid[]", touched.join(","));
            self.lint_relations(Some(&list)).await?
        };
        Ok(after(prev, locks, &read))
    }

    /// The strongest mode of each relation lock this session holds. pg_locks reads the whole
    /// lock table: once per state, not per relation.
    async fn lint_locks(&self) -> DriverResult<BTreeMap<String, String>> {
        let rows = self
            .client
            .query_typed(&locks_query(), &[])
            .await
            .map_err(|e| db_error(&e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The relations of `list` (an `oid[]` literal), or every user relation, with their
    /// columns and checked things.
    async fn lint_relations(
        &self,
        list: Option<&str>,
    ) -> DriverResult<BTreeMap<String, Arc<LintRelation>>> {
        let [relations, columns, checked] = match list {
            Some(list) => relation_queries(
                &format!(
                    "c.oid = ANY({list}) AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"
                ),
                &format!("a.attrelid = ANY({list})"),
                &format!("k.conrelid = ANY({list})"),
                &format!("i.indrelid = ANY({list})"),
            ),
            None => relation_queries(
                &format!("c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"),
                &format!("c.relkind IN ('r', 'p') AND {USER}"),
                &format!("k.conrelid <> 0 AND {USER}"),
                USER,
            ),
        };
        let (relations, columns, checked) = tokio::try_join!(
            self.client.query_typed(&relations, &[]),
            self.client.query_typed(&columns, &[]),
            self.client.query_typed(&checked, &[]),
        )
        .map_err(|e| db_error(&e))?;
        Ok(assemble(relations, columns, checked))
    }
}

/// The reads after a statement of a section run in one transaction, prepared once per
/// session (their plans are made once: planning these catalog joins costs more than running
/// them): the session's locks, and the relations it holds a catalog-changing lock on
/// (`pg_locks` in a subquery, so that they go with the statement, not after its locks).
#[derive(Clone)]
pub(crate) struct LintReads {
    locks: tokio_postgres::Statement,
    relations: tokio_postgres::Statement,
    columns: tokio_postgres::Statement,
    checked: tokio_postgres::Statement,
}

/// This backend's granted relation locks (the `FROM pg_locks l` clause's rest).
const HELD: &str = "WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
    AND l.mode IN ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', \
    'ExclusiveLock', 'AccessExclusiveLock')";

/// The session's relation locks, weakest first, so that the strongest mode of a relation is
/// the one kept.
fn locks_query() -> String {
    format!(
        "SELECT l.relation::text, l.mode FROM pg_catalog.pg_locks l \
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
         ORDER BY array_position({MODES}, l.mode) NULLS FIRST"
    )
}

/// The three catalog queries of a read, from the conditions on the relations (`c`), the
/// columns (`a`), the constraints (`k`) and the indexes (`i`): relations, columns, checked.
fn relation_queries(rel: &str, col: &str, con: &str, idx: &str) -> [String; 3] {
    [
        format!(
            "SELECT c.oid::text, CASE WHEN c.relkind IN ('i', 'I') THEN 'index' ELSE 'table' END, \
             CASE WHEN n.nspname = current_schema() THEN c.relname::text ELSE n.nspname || '.' || c.relname END, \
             c.relfilenode::text \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {rel}"
        ),
        format!(
            "SELECT a.attrelid::text, a.attnum::text, a.attname::text, a.attnotnull \
             FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {col} AND a.attnum > 0 AND NOT a.attisdropped"
        ),
        format!(
            "SELECT k.conrelid::text, 'constraint ' || k.conname FROM pg_catalog.pg_constraint k \
             JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace \
             WHERE k.contype IN ('f', 'c') AND k.convalidated AND {con} \
             UNION ALL SELECT i.indrelid::text, 'index ' || c.relname FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {idx}"
        ),
    ]
}

/// The relations of a read's three answers, by oid.
fn assemble(
    relations: Vec<tokio_postgres::Row>,
    columns: Vec<tokio_postgres::Row>,
    checked: Vec<tokio_postgres::Row>,
) -> BTreeMap<String, Arc<LintRelation>> {
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
    out.into_iter().map(|(k, v)| (k, Arc::new(v))).collect()
}

/// The state after a statement, from `prev` (the state before it), the session's locks
/// after it and `read`, the relations read after it (at least those of `prev` it holds a
/// catalog-changing lock on): every catalog change to a relation takes a lock on it of at
/// least `ShareUpdateExclusiveLock` (a drop included, held until the commit), so only the
/// relations of `prev` that this session holds such a lock on changed; one of them missing
/// from `read` (gone from `pg_class`) was dropped.
fn after(
    prev: &LintState,
    locks: BTreeMap<String, String>,
    read: &BTreeMap<String, Arc<LintRelation>>,
) -> LintState {
    let mut state = LintState {
        relations: prev.relations.clone(),
        locks: BTreeMap::new(),
    };
    for (oid, mode) in &locks {
        if prev.relations.contains_key(oid) && changes_catalog(mode) {
            match read.get(oid) {
                Some(relation) => state.relations.insert(oid.clone(), relation.clone()),
                None => state.relations.remove(oid),
            };
        }
    }
    state.locks = locks;
    state
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
