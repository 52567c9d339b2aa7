//! `ferry lint`'s measurement (SPEC §13.1) on a scratch database: the section's statements
//! one by one, and after each, what the session holds and what changed of the relations
//! that existed before it ([`ferry_core::driver::lint`]).
//!
//! Before the first statement, every table, partitioned table, materialised view and index
//! outside the system schemas (the pre-existing ones); after each statement, the relations
//! that this backend holds a lock on of at least `ShareUpdateExclusiveLock`, which every
//! change to a relation's catalog rows takes (a drop too, held until the commit): so a
//! statement costs what it touched, not what the database holds. Each read is one query
//! (`pg_locks` of this backend read once, the strongest mode per relation kept), prepared
//! once per session for the reads after a statement. What is read: oids, names and
//! `relfilenode`s (a change is a rewrite); their columns (`pg_attribute`: `attnum` is the
//! identity, so a rename keeps it, and `attnotnull`); and their validated foreign-key and
//! check constraints and their indexes (one that appears was built or validated by reading
//! the table).
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
    /// with the session reset after it (`Ok(true)`; `Ok(false)`: nothing ran).
    ///
    /// The whole section is one pipeline (every request sent at once, answered in order):
    /// `BEGIN`, each statement followed by the read after it ([`LintReads`]: its locks and the
    /// relations it holds a catalog-changing lock on), `COMMIT` and the session reset. After
    /// a statement fails, PostgreSQL refuses the rest of the transaction (their answers are
    /// errors, and ignored), and the `COMMIT` of a failed transaction rolls it back; a failure
    /// ends the run, so nothing after it is judged. No read before the commit: the relations
    /// the section created all hold its locks until then and so were read after its last
    /// statement, for the next section to start from.
    async fn lint_together(
        &mut self,
        statements: &[String],
        run: &mut LintRun,
    ) -> DriverResult<bool> {
        if statements.is_empty() {
            self.lint_carry = Some(run.before.clone());
            return Ok(false);
        }
        let reads = self.lint_reads().await?;
        let newest = newest(&run.before);
        let reset = self.reset_sql();
        let (begun, outcomes, end, reset) = tokio::join!(
            biased;
            self.exec("BEGIN"),
            in_order(statements.iter().enumerate().map(|(i, s)| {
                // The last read is whole: the relations the section created, for the next.
                let limit = if i + 1 == statements.len() { u32::MAX } else { newest };
                self.ran_then_read(&reads, s, limit)
            })),
            self.exec("COMMIT"),
            self.exec(&reset),
        );
        begun?;
        let mut last_read = BTreeMap::new();
        for ((ran, read), statement) in outcomes.into_iter().zip(statements) {
            if let Err(e) = ran {
                let i = run.steps.len();
                run.failed = Some((i, statement_error(&e, statement, statement, 0)));
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
        end?;
        reset?;
        self.lint_carry = Some(carry);
        Ok(true)
    }

    /// Each statement in a transaction of its own, or alone when it cannot run in one.
    async fn lint_each(&mut self, statements: &[String], run: &mut LintRun) -> DriverResult<()> {
        let reads = self.lint_reads().await?;
        let newest = newest(&run.before);
        for (i, statement) in statements.iter().enumerate() {
            self.exec("BEGIN").await?;
            let prev = run.steps.last().map_or(&run.before, |s| &s.state);
            let state = match self.client.batch_execute(statement).await {
                Ok(()) => {
                    let read = self.client.query(&reads.state, &[&newest]).await;
                    self.exec("COMMIT").await?;
                    let (locks, read) = split(read.map_err(|e| db_error(&e))?);
                    after(prev, locks, &read)
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

    /// The read after a statement ([`state_query`] of the locked relations), prepared on
    /// first use (one round trip per session).
    async fn lint_reads(&mut self) -> DriverResult<LintReads> {
        if let Some(reads) = &self.lint_reads {
            return Ok(reads.clone());
        }
        let state = self
            .client
            .prepare(&state_query(false))
            .await
            .map_err(|e| db_error(&e))?;
        let reads = LintReads { state };
        self.lint_reads = Some(reads.clone());
        Ok(reads)
    }

    /// Run `statement` and the read after it, pipelined: the statement's outcome, and the
    /// session's locks with the relations it holds a catalog-changing lock on (an error when
    /// the statement failed and aborted the transaction).
    async fn ran_then_read(
        &self,
        reads: &LintReads,
        statement: &str,
        limit: u32,
    ) -> (
        Result<(), tokio_postgres::Error>,
        DriverResult<(
            BTreeMap<String, String>,
            BTreeMap<String, Arc<LintRelation>>,
        )>,
    ) {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&limit];
        // `biased`: the statement is sent before its read.
        let (ran, read) = tokio::join!(
            biased;
            self.client.batch_execute(statement),
            self.client.query(&reads.state, &params),
        );
        (ran, read.map(split).map_err(|e| db_error(&e)))
    }

    async fn exec(&self, sql: &str) -> DriverResult<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| db_error(&e))
    }

    /// The user relations as they are now, read in this session, whole, with its locks.
    async fn lint_state(&self) -> DriverResult<LintState> {
        let rows = self
            .client
            .query_typed(&state_query(true), &[])
            .await
            .map_err(|e| db_error(&e))?;
        let (locks, relations) = split(rows);
        Ok(LintState { relations, locks })
    }
}

/// Await `futures` together, each first polled in the order given: a request of a
/// `tokio_postgres` client is sent when its future is first polled, so the server receives
/// them in that order (`join_all` promises no order of first polls).
async fn in_order<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures
        .map(|f| Box::pin(futures_util::future::maybe_done(f)))
        .collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for f in &mut futures {
            done &= std::future::Future::poll(f.as_mut(), cx).is_ready();
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    futures
        .iter_mut()
        .filter_map(|f| f.as_mut().take_output())
        .collect()
}

/// The read after a statement, prepared once per session (its plan is made once: planning
/// these catalog joins costs more than running them).
#[derive(Clone)]
pub(crate) struct LintReads {
    state: tokio_postgres::Statement,
}

/// The newest (highest) oid of the relations of `state`: a relation of a later oid was not
/// among them. Oids can wrap around, so a relation created later may have a lower one; it
/// is then read needlessly, never one of `state`'s left out.
fn newest(state: &LintState) -> u32 {
    state
        .relations
        .keys()
        .filter_map(|oid| oid.parse::<u32>().ok())
        .max()
        .unwrap_or(0)
}

/// The lowest oid of an object that is not built in (`FirstNormalObjectId`; the counter
/// starts there again when it wraps around): the locks a statement takes on the system
/// catalogs, a score of rows per read, are not read.
const FIRST_USER_OID: u32 = 16384;

/// Lock modes weakest first: of two locks on one relation, the later one is kept.
const MODES: [&str; 8] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

/// One query for a state: this backend's granted locks on relations that are not built in
/// (`pg_locks` read once, in a materialised CTE) and the user relations, whole (`all`) or
/// only those it holds a catalog-changing lock on whose oid is at most `$1` (the newest of
/// those that existed before the section, [`newest`]; the last statement of a section reads
/// them all, for the next one to start from), with their columns and checked things. Each row is one of
/// them, told by its first column: `0` a lock (oid, mode), `1` a relation (oid, kind, name,
/// `relfilenode`), `2` a column (oid, `attnum`, name, not null), `3` a checked thing (oid,
/// `constraint <name>` or `index <name>`).
fn state_query(all: bool) -> String {
    // A column or a checked thing is kept only with its relation (`split`): the system
    // schemas are left out by the relations' part alone, so that the other parts need no
    // join to `pg_namespace` when they are of locked relations.
    let (rel, col, con, idx) = if all {
        (
            format!("c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"),
            format!(
                "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p') AND {USER}"
            ),
            format!(
                "FROM pg_catalog.pg_constraint k \
                 JOIN pg_catalog.pg_namespace n ON n.oid = k.connamespace \
                 WHERE k.conrelid <> 0 AND {USER}"
            ),
            format!(
                "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
                 JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE {USER}"
            ),
        )
    } else {
        let locked = "IN (SELECT h.relation FROM held h WHERE h.relation <= $1 AND h.mode IN \
            ('ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', \
            'ExclusiveLock', 'AccessExclusiveLock'))";
        (
            format!("c.oid {locked} AND c.relkind IN ('r', 'p', 'm', 'i', 'I') AND {USER}"),
            format!("FROM pg_catalog.pg_attribute a WHERE a.attrelid {locked}"),
            format!("FROM pg_catalog.pg_constraint k WHERE k.conrelid {locked}"),
            format!(
                "FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid \
                 WHERE i.indrelid {locked}"
            ),
        )
    };
    format!(
        "WITH held AS MATERIALIZED (SELECT l.relation, l.mode FROM pg_catalog.pg_locks l \
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
         AND l.relation >= {FIRST_USER_OID}) \
         SELECT 0, h.relation::text, h.mode, NULL::text, NULL::text, NULL::bool FROM held h \
         UNION ALL SELECT 1, c.oid::text, \
         CASE WHEN c.relkind IN ('i', 'I') THEN 'index' ELSE 'table' END, \
         CASE WHEN n.nspname = current_schema() THEN c.relname::text ELSE n.nspname || '.' || c.relname END, \
         c.relfilenode::text, NULL \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE {rel} \
         UNION ALL SELECT 2, a.attrelid::text, a.attnum::text, a.attname::text, NULL, a.attnotnull \
         {col} AND a.attnum > 0 AND NOT a.attisdropped \
         UNION ALL SELECT 3, k.conrelid::text, 'constraint ' || k.conname, NULL, NULL, NULL \
         {con} AND k.contype IN ('f', 'c') AND k.convalidated \
         UNION ALL SELECT 3, i.indrelid::text, 'index ' || c.relname, NULL, NULL, NULL {idx}"
    )
}

/// The rows of a [`state_query`]: the strongest lock mode per relation, and the relations
/// by oid with their columns and checked things.
fn split(
    rows: Vec<tokio_postgres::Row>,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, Arc<LintRelation>>,
) {
    let rank = |mode: &str| MODES.iter().position(|m| *m == mode);
    let mut locks: BTreeMap<String, String> = BTreeMap::new();
    let mut relations: BTreeMap<String, LintRelation> = BTreeMap::new();
    // Relations first: a column or a checked thing of a relation not read is left out.
    let mut later = Vec::new();
    for row in &rows {
        match row.get::<_, i32>(0) {
            0 => {
                let mode: String = row.get(2);
                let oid: String = row.get(1);
                let stronger = locks.get(&oid).is_none_or(|held| rank(&mode) > rank(held));
                if stronger {
                    locks.insert(oid, mode);
                }
            }
            1 => {
                relations.insert(
                    row.get(1),
                    LintRelation {
                        kind: row.get(2),
                        name: row.get(3),
                        storage: Some(row.get(4)),
                        ..LintRelation::default()
                    },
                );
            }
            _ => later.push(row),
        }
    }
    for row in later {
        let Some(r) = relations.get_mut(row.get::<_, &str>(1)) else {
            continue;
        };
        if row.get::<_, i32>(0) == 2 {
            r.columns.insert(
                row.get(2),
                LintColumn {
                    name: row.get(3),
                    not_null: row.get(5),
                },
            );
        } else {
            r.checked.insert(row.get(2));
        }
    }
    let relations = relations
        .into_iter()
        .map(|(k, v)| (k, Arc::new(v)))
        .collect();
    (locks, relations)
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
