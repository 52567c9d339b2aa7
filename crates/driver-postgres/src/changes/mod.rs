//! Which snapshot owners a step changed ([`ferry_core::Driver::track_changes`],
//! [`ferry_core::Driver::changed_owners`]), from PostgreSQL's own record of DDL: event
//! triggers.
//!
//! [`PostgresDriver::track_changes`] installs, for this session only, a temporary log table
//! and two temporary functions that two event triggers call: `ddl_command_end` logs every
//! object a DDL command created or altered (`pg_event_trigger_ddl_commands()`), `sql_drop`
//! every object a command dropped, `CASCADE` included (`pg_event_trigger_dropped_objects()`).
//! They fire for DDL run anywhere, in functions and `DO` blocks too, and roll back with the
//! transaction that ran it. Everything lives in `pg_temp`, which the snapshot does not read,
//! and goes with the session; the event triggers are enabled `ALWAYS`, so a
//! `session_replication_role` does not silence them.
//!
//! [`PostgresDriver::changed_owners`] empties the log in one statement and maps each entry
//! to its owner ([`crate::snapshot`]): a relation for a column, index, constraint, trigger,
//! default, rule or row type; a type for a domain constraint or array type; a function or
//! procedure for itself. A dropped object is traced through the members the last read
//! listed. Owners that existed before the step bring their dependents along: whatever
//! `pg_depend` records as depending on the owner, its indexes, constraints, row type or array
//! type (a view on a renamed table, a foreign key to it, a sequence owned by its column, a
//! trigger or view calling a function). One round of them: a dependent may print the owner
//! otherwise (its new name, a renamed column), but its own name and columns change only by
//! DDL on it, which the log names, so what depends on the dependent prints the same. (Not
//! followed further, a chain of tables each with a foreign key to the one before would be
//! read whole at every change to its first table.)
//!
//! A function created, replaced, altered or dropped can also change how a call to *another*
//! function of the same name is printed elsewhere (PostgreSQL qualifies a call whose name no
//! longer resolves to the function it calls: a new overload, a new parameter default, a
//! rename). So a changed function brings along whatever depends on any function of its name,
//! and of its name before the step (the last read's name for its object id): each entry of
//! the log carries the function's name, from the catalog or, when dropped, from its address.
//!
//! Where that could be wrong, the answer is "cannot tell" and the snapshot is read whole:
//! - a change to a schema, an extension, an operator, a cast, a collation or any other object
//!   outside the families above (a schema rename renames everything in it);
//! - a function of the same name as one of PostgreSQL's own (`pg_catalog`): calls to those
//!   are not recorded in `pg_depend`;
//! - a function changed whose earlier name no read listed;
//! - a change of the settings that decide how definitions are printed (`search_path`,
//!   `DateStyle`, `IntervalStyle`, `TimeZone`, `extra_float_digits`, `bytea_output`,
//!   `standard_conforming_strings`, `quote_all_identifiers`), or a `search_path` with more
//!   than one schema, where a new object could hide another of the same name;
//! - a log that went missing (`DISCARD TEMP`) or could not be written; it is installed again;
//! - an object the step created and dropped again, or a dropped one no read listed (one the
//!   step altered and then dropped is answered for by its drop).
//!
//! Needs a superuser (event triggers do), a direct connection (temporary objects do not
//! survive a transaction-mode pooler) and PostgreSQL 12 or later; otherwise the driver does
//! not track and every snapshot is read whole. Changes to the catalog that bypass DDL
//! (`UPDATE pg_class ...`) are not seen.

use std::collections::{BTreeSet, HashMap, HashSet};

use ferry_core::driver::DriverResult;
use tokio_postgres::types::Type;

use crate::error::db_error;
use crate::snapshot::{OwnerKind, Prepared, Read};
use crate::PostgresDriver;

mod entries;

use entries::{owner_of, Entries};

/// What the driver keeps while it tracks changes.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Each member's owner, from the reads: `(classid, objid)` → owner.
    members: HashMap<(u32, u32), String>,
    /// Each owner's members, to forget them when the owner is read again.
    by_owner: HashMap<String, HashSet<(u32, u32)>>,
    /// Owners the last step dropped: nothing to read for them.
    gone: BTreeSet<String>,
    /// The printing settings at the last answer.
    settings: Option<String>,
    /// Each function's (or procedure's) name as the reads found it, by object id: a rename
    /// or drop reaches the calls to the other functions of its old name.
    functions: HashMap<u32, BTreeSet<String>>,
    /// The statements of a partial read ([`crate::snapshot`]).
    pub(crate) prepared: Option<Prepared>,
    /// The dependents statement.
    dependents: Option<tokio_postgres::Statement>,
    /// The statement that empties the log.
    log: Option<tokio_postgres::Statement>,
}

impl Changes {
    /// Whether the last step dropped `owner`.
    pub(crate) fn is_gone(&self, owner: &str) -> bool {
        self.gone.contains(owner)
    }

    /// Keep the members a read found: in place of those of the owners read, or, after a
    /// whole read (`owners` is `None`), beside those known. A whole read may come after a
    /// step, before this step's changes were asked for (not from verify, but a caller may read
    /// the whole snapshot at any time): the members it no longer finds must still trace what
    /// the step dropped. A member kept after its object is gone does no harm; object ids are
    /// not reused for a long time.
    pub(crate) fn remember(&mut self, owners: Option<&BTreeSet<String>>, read: &Read) {
        if let Some(owners) = owners {
            for owner in owners {
                for member in self.by_owner.remove(owner).unwrap_or_default() {
                    self.members.remove(&member);
                }
            }
            self.gone.clear();
        }
        for (oid, name) in &read.functions {
            self.functions.entry(*oid).or_default().insert(name.clone());
        }
        for (member, owner) in &read.members {
            if let Some(old) = self.members.insert(*member, owner.clone()) {
                if let Some(set) = self.by_owner.get_mut(&old) {
                    set.remove(member);
                }
            }
            self.by_owner
                .entry(owner.clone())
                .or_default()
                .insert(*member);
        }
    }
}

/// What [`PostgresDriver::dependents`] lists when a changed function's name is also one of
/// PostgreSQL's own.
const BUILT_IN: &str = "!";

impl PostgresDriver {
    /// See [`ferry_core::Driver::track_changes`]: only for a superuser on a direct connection.
    pub(crate) async fn track_changes(&mut self) -> DriverResult<bool> {
        if self.server.pooled().is_some() {
            return Ok(false);
        }
        // The current role (after any SET ROLE), which is who creates the event triggers;
        // PostgreSQL 12 or later, for `plan_cache_mode` (and `EXECUTE FUNCTION`).
        let row = self
            .client
            .query_typed_one(
                "SELECT rolsuper, pg_catalog.current_setting('server_version_num')::int >= 120000 \
                 FROM pg_catalog.pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| db_error(&e))?;
        let (superuser, recent): (bool, bool) = (row.get(0), row.get(1));
        if !superuser || !recent || self.install_log().await.is_err() {
            return Ok(false);
        }
        self.changes = Some(Changes::default());
        Ok(true)
    }

    /// Create the log, its functions and the event triggers (again, after a `DISCARD`).
    async fn install_log(&mut self) -> DriverResult<()> {
        let pid = self.server.backend_pid;
        let log = |kind: &str, source: &str, tag: &str, dropped: &str, name: &str| {
            format!(
                "CREATE OR REPLACE FUNCTION pg_temp.ferry_{kind}() RETURNS event_trigger \
                 LANGUAGE plpgsql AS $ferry$ BEGIN \
                 INSERT INTO pg_temp.ferry_changes \
                 (classid, objid, objsubid, object_type, schema_name, command_tag, dropped, \
                 name) \
                 SELECT classid, objid, objsubid, object_type, schema_name, {tag}, {dropped}, \
                 CASE WHEN classid = 'pg_catalog.pg_proc'::regclass THEN {name} END \
                 FROM pg_catalog.{source}(); \
                 EXCEPTION WHEN OTHERS THEN \
                 PERFORM pg_catalog.set_config('ferry.changes_lost', 'yes', false); \
                 END $ferry$; \
                 DROP EVENT TRIGGER IF EXISTS ferry_{kind}_{pid}; \
                 CREATE EVENT TRIGGER ferry_{kind}_{pid} ON {kind} \
                 EXECUTE FUNCTION pg_temp.ferry_{kind}(); \
                 ALTER EVENT TRIGGER ferry_{kind}_{pid} ENABLE ALWAYS;"
            )
        };
        let sql = format!(
            "SET client_min_messages = warning; \
             CREATE TEMP TABLE IF NOT EXISTS ferry_changes (seq bigserial, classid oid, \
             objid oid, objsubid int, object_type text, schema_name text, command_tag text, \
             dropped bool, name text); \
             {} {} RESET client_min_messages; \
             SELECT pg_catalog.set_config('ferry.changes_lost', '', false);",
            log(
                "ddl_command_end",
                "pg_event_trigger_ddl_commands",
                "command_tag",
                "false",
                "(SELECT p.proname::text FROM pg_catalog.pg_proc p WHERE p.oid = objid)",
            ),
            log(
                "sql_drop",
                "pg_event_trigger_dropped_objects",
                "NULL",
                "true",
                "address_names[pg_catalog.array_upper(address_names, 1)]",
            ),
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| db_error(&e))
    }

    /// See [`ferry_core::Driver::changed_owners`].
    pub(crate) async fn changed_owners(&mut self) -> DriverResult<Option<BTreeSet<String>>> {
        if self.changes.is_none() {
            return Ok(None);
        }
        let statement = match self.changes.as_ref().and_then(|c| c.log.clone()) {
            Some(statement) => Ok(statement),
            None => self.client.prepare(&log_query()).await,
        };
        let row = match statement {
            Ok(statement) => {
                if let Some(changes) = &mut self.changes {
                    changes.log = Some(statement.clone());
                }
                self.client.query_one(&statement, &[]).await
            }
            Err(e) => Err(e),
        };
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                // The log is gone (`DISCARD TEMP`) or unreadable: read everything, and log
                // again from here (its statement prepared again), or stop tracking.
                if let Some(changes) = &mut self.changes {
                    changes.log = None;
                }
                if self.install_log().await.is_err() {
                    self.changes = None;
                }
                if self.client.is_closed() {
                    return Err(db_error(&e));
                }
                return Ok(None);
            }
        };
        let settings: String = row.get(0);
        let one_schema: bool = row.get(1);
        let lost: Option<String> = row.get(2);
        let entries = Entries {
            classids: row
                .get::<_, Option<Vec<Option<u32>>>>(3)
                .unwrap_or_default(),
            classes: row
                .get::<_, Option<Vec<Option<String>>>>(4)
                .unwrap_or_default(),
            objids: row
                .get::<_, Option<Vec<Option<u32>>>>(5)
                .unwrap_or_default(),
            object_types: row
                .get::<_, Option<Vec<Option<String>>>>(6)
                .unwrap_or_default(),
            schemas: row
                .get::<_, Option<Vec<Option<String>>>>(7)
                .unwrap_or_default(),
            tags: row
                .get::<_, Option<Vec<Option<String>>>>(8)
                .unwrap_or_default(),
            dropped: row
                .get::<_, Option<Vec<Option<bool>>>>(9)
                .unwrap_or_default(),
            owners: row
                .get::<_, Option<Vec<Option<String>>>>(10)
                .unwrap_or_default(),
            subids: row
                .get::<_, Option<Vec<Option<i32>>>>(11)
                .unwrap_or_default(),
            names: row
                .get::<_, Option<Vec<Option<String>>>>(12)
                .unwrap_or_default(),
        };
        if lost.as_deref().is_some_and(|l| !l.is_empty()) {
            let _ = self.install_log().await;
            return Ok(None);
        }
        let changes = self.changes.as_mut().expect("checked above");
        let same_settings = changes.settings.as_deref() == Some(settings.as_str());
        changes.settings = Some(settings);
        if !same_settings || !one_schema {
            return Ok(None);
        }
        let Some(found) = entries.owners(changes) else {
            return Ok(None);
        };
        changes.gone = found.gone;
        let mut owners = found.owners;
        if found.existing.is_empty() && found.names.is_empty() {
            return Ok(Some(owners));
        }
        // One round: what depends on a changed owner may print it otherwise, but keeps its
        // own name and columns, so what depends on *it* prints the same (see the module
        // documentation).
        let names: Vec<String> = found.names.into_iter().collect();
        let dependents = self.dependents(&found.existing, &names).await?;
        if dependents.iter().any(|owner| owner == BUILT_IN) {
            return Ok(None);
        }
        owners.extend(dependents);
        Ok(Some(owners))
    }

    /// The owners of whatever depends on `owners` or their parts, or on a function named one
    /// of `names`; [`BUILT_IN`] among them when one of `names` is also the name of one of
    /// PostgreSQL's own functions.
    async fn dependents(
        &mut self,
        owners: &BTreeSet<String>,
        names: &[String],
    ) -> DriverResult<Vec<String>> {
        let (mut relations, mut types, mut functions) = (Vec::new(), Vec::new(), Vec::new());
        for owner in owners {
            match OwnerKind::parse(owner) {
                Some((OwnerKind::Relation, oid)) => relations.push(oid),
                Some((OwnerKind::Type, oid)) => types.push(oid),
                Some((OwnerKind::Function, oid)) => functions.push(oid),
                None => {}
            }
        }
        let statement = match self.changes.as_ref().and_then(|c| c.dependents.clone()) {
            Some(statement) => statement,
            None => {
                let statement = self
                    .client
                    .prepare_typed(
                        &dependents_query(),
                        &[
                            Type::OID_ARRAY,
                            Type::OID_ARRAY,
                            Type::OID_ARRAY,
                            Type::TEXT_ARRAY,
                        ],
                    )
                    .await
                    .map_err(|e| db_error(&e))?;
                if let Some(changes) = &mut self.changes {
                    changes.dependents = Some(statement.clone());
                }
                statement
            }
        };
        // With a generic plan: PostgreSQL would otherwise plan it again for each step (a
        // custom plan costs about 1 ms here, more than running it).
        let rows = crate::snapshot::in_generic_plans(
            &self.client,
            self.client
                .query(&statement, &[&relations, &types, &functions, &names]),
        )
        .await
        .map_err(|e| db_error(&e))?;
        Ok(rows
            .iter()
            .filter_map(|row| row.get::<_, Option<String>>(0))
            .collect())
    }
}

/// Empty the log and map its entries to owners, with the printing settings: one row.
fn log_query() -> String {
    let settings = [
        "search_path",
        "DateStyle",
        "IntervalStyle",
        "TimeZone",
        "extra_float_digits",
        "bytea_output",
        "standard_conforming_strings",
        "quote_all_identifiers",
    ]
    .map(|s| format!("pg_catalog.current_setting('{s}')"))
    .join(", ");
    format!(
        "WITH log AS (DELETE FROM pg_temp.ferry_changes RETURNING *), \
         entries AS (SELECT l.*, \
           CASE WHEN l.classid IS NULL OR l.classid = 0 THEN NULL \
             ELSE l.classid::regclass::text END AS class, \
           {owner} AS owner FROM log l) \
         SELECT pg_catalog.concat_ws('|', {settings}), \
         coalesce(pg_catalog.array_length(pg_catalog.current_schemas(false), 1), 0) <= 1, \
         pg_catalog.current_setting('ferry.changes_lost', true), \
         array_agg(e.classid ORDER BY e.seq), array_agg(e.class ORDER BY e.seq), \
         array_agg(e.objid ORDER BY e.seq), array_agg(e.object_type ORDER BY e.seq), \
         array_agg(e.schema_name ORDER BY e.seq), array_agg(e.command_tag ORDER BY e.seq), \
         array_agg(e.dropped ORDER BY e.seq), array_agg(e.owner ORDER BY e.seq), \
         array_agg(e.objsubid ORDER BY e.seq), array_agg(e.name ORDER BY e.seq) \
         FROM entries e",
        owner = owner_of("l.classid", "l.objid"),
    )
}

/// The owners of what depends (`pg_depend`) on the relations `$1`, types `$2` and functions
/// `$3`, or on their indexes, constraints, row types and array types, or on any function named
/// one of `$4`; and [`BUILT_IN`] when one of `$4` names a function of PostgreSQL's own (its
/// object id below 16384, `FirstNormalObjectId`: calls to those are not recorded).
fn dependents_query() -> String {
    format!(
        "WITH parts(classid, objid) AS ( \
           SELECT 'pg_catalog.pg_class'::regclass::oid, r FROM unnest($1::oid[]) r \
           UNION ALL SELECT 'pg_catalog.pg_class'::regclass::oid, i.indexrelid \
             FROM pg_catalog.pg_index i WHERE i.indrelid = ANY($1) \
           UNION ALL SELECT 'pg_catalog.pg_type'::regclass::oid, x.oid \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_type t ON t.oid = c.reltype \
             CROSS JOIN LATERAL (VALUES (t.oid), (t.typarray)) AS x(oid) \
             WHERE c.oid = ANY($1) \
           UNION ALL SELECT 'pg_catalog.pg_constraint'::regclass::oid, co.oid \
             FROM pg_catalog.pg_constraint co WHERE co.conrelid = ANY($1) \
           UNION ALL SELECT 'pg_catalog.pg_type'::regclass::oid, x.oid \
             FROM pg_catalog.pg_type t \
             CROSS JOIN LATERAL (VALUES (t.oid), (t.typarray)) AS x(oid) \
             WHERE t.oid = ANY($2) \
           UNION ALL SELECT 'pg_catalog.pg_constraint'::regclass::oid, co.oid \
             FROM pg_catalog.pg_constraint co WHERE co.contypid = ANY($2) \
           UNION ALL SELECT 'pg_catalog.pg_proc'::regclass::oid, p FROM unnest($3::oid[]) p \
           UNION ALL SELECT 'pg_catalog.pg_proc'::regclass::oid, p.oid \
             FROM pg_catalog.pg_proc p WHERE p.proname = ANY($4::text[])) \
         SELECT DISTINCT {owner} FROM parts s \
         JOIN pg_catalog.pg_depend d ON d.refclassid = s.classid AND d.refobjid = s.objid \
         WHERE d.deptype <> 'i' \
         UNION ALL SELECT '{BUILT_IN}' WHERE EXISTS (SELECT FROM pg_catalog.pg_proc p \
           WHERE p.proname = ANY($4::text[]) AND p.oid < 16384)",
        owner = owner_of("d.classid", "d.objid"),
    )
}
