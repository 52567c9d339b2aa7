//! The schema snapshot ([`ferry_core::schema`], SPEC §9.3) read from `pg_catalog`, in parts
//! by owner ([`ferry_core::Driver::snapshot_parts`]).
//!
//! One query per family of objects, whatever the schema's size (nine in all): schemas,
//! extensions, relations (tables, views, materialised views, sequences), columns,
//! constraints, indexes, triggers, functions and procedures, types (enum, domain, composite,
//! range). Each returns rows of `(kind, name, properties, owner)`, the properties as a
//! `text[]` of alternating names and values (a NULL value leaves the property unset), so that
//! one loop fills the parts.
//!
//! Owners are named by catalog and object id: `r<oid>` a relation (a table with its columns,
//! constraints, indexes and triggers; a view; a materialised view; a sequence), `t<oid>` a
//! type, `p<oid>` a function or procedure, `n<oid>` a schema, `e<oid>` an extension. A read
//! of some owners runs the families of relations, types and functions restricted to them
//! (`= ANY($2)` on the catalogs' own indexes); schemas and extensions are read whole only
//! (a change to them makes [`crate::changes`] say it cannot tell what changed). Beside the
//! families, one query lists each owner's *members*: the indexes, constraints, triggers,
//! defaults, rules and row types that belong to it, so that a dropped one, which the catalog
//! no longer knows, can still be traced to its owner.
//!
//! Every non-system schema is read (in a tenant's schema, [`ferry_core::Driver::use_schema`],
//! that schema only: `in_tenant`). Objects in the connection's current schema (as it was
//! when the driver connected, so that a migration changing `search_path` does not rename
//! everything) are named unqualified, others `schema.name`. Objects that belong to an
//! extension are left out: the extension and its version stand for them. So are the
//! objects PostgreSQL derives from others: identity sequences (the column's `identity`
//! says it), indexes that implement a constraint, constraints cloned onto partitions.
//!
//! A whole read uses unnamed statements (`query_typed`), as everywhere in this driver, all
//! sent before the first answer is awaited: one round trip, whatever the schema. A read
//! of some owners, which only happens on a direct connection ([`crate::changes`]), uses
//! statements prepared once per connection: their generic plans look the owners up by index,
//! and planning them again each time would cost more than running them.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::schema::Part;
use ferry_core::DriverResult;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use crate::error::db_error;
use crate::PostgresDriver;

/// `pg_catalog.pg_inherits`'s object id (fixed in every PostgreSQL): the members query's rows
/// of it are a child's parents.
const PG_INHERITS: u32 = 2611;

/// `pg_catalog.pg_proc`'s object id: the members query's rows of it name a function's own
/// name (`proname`) in place of an owner, for [`crate::changes`].
const PG_PROC: u32 = 1255;

/// A part's owner: which catalog, and how a read of some owners finds the family's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    /// `r<oid>`, a relation.
    Relation,
    /// `t<oid>`, a type.
    Type,
    /// `p<oid>`, a function or procedure.
    Function,
}

impl OwnerKind {
    /// The kind and object id of an owner's name, if it is one of a relation, type or function.
    pub(crate) fn parse(owner: &str) -> Option<(OwnerKind, u32)> {
        let kind = match owner.as_bytes().first()? {
            b'r' => OwnerKind::Relation,
            b't' => OwnerKind::Type,
            b'p' => OwnerKind::Function,
            _ => return None,
        };
        Some((kind, owner[1..].parse().ok()?))
    }
}

/// The owners of a partial read, by kind.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    pub(crate) relations: Vec<u32>,
    pub(crate) types: Vec<u32>,
    pub(crate) functions: Vec<u32>,
}

impl Owners {
    fn of(&self, kind: OwnerKind) -> &Vec<u32> {
        match kind {
            OwnerKind::Relation => &self.relations,
            OwnerKind::Type => &self.types,
            OwnerKind::Function => &self.functions,
        }
    }

    fn is_empty(&self) -> bool {
        self.relations.is_empty() && self.types.is_empty() && self.functions.is_empty()
    }
}

/// The statements of a partial read, prepared once per connection: one per family of
/// relations, types and functions, then the members query.
pub(crate) type Prepared = Vec<tokio_postgres::Statement>;

/// What a read found: the parts, each member's owner (`(classid, objid)` → owner), and
/// each function's name (`proname`, by object id).
pub(crate) struct Read {
    pub(crate) parts: BTreeMap<String, Part>,
    pub(crate) members: Vec<((u32, u32), String)>,
    pub(crate) functions: Vec<(u32, String)>,
}

impl PostgresDriver {
    /// See [`ferry_core::Driver::snapshot_parts`].
    pub(crate) async fn snapshot_parts(
        &mut self,
        owners: Option<&BTreeSet<String>>,
    ) -> DriverResult<BTreeMap<String, Part>> {
        let read = match owners {
            None => self.read_whole().await?,
            Some(owners) => {
                let mut asked = Owners::default();
                for owner in owners {
                    if self.changes.as_ref().is_some_and(|c| c.is_gone(owner)) {
                        continue; // Dropped by the last step: nothing left to read.
                    }
                    match OwnerKind::parse(owner) {
                        Some((OwnerKind::Relation, oid)) => asked.relations.push(oid),
                        Some((OwnerKind::Type, oid)) => asked.types.push(oid),
                        Some((OwnerKind::Function, oid)) => asked.functions.push(oid),
                        // Schemas and extensions are read whole only.
                        None => {}
                    }
                }
                self.read_owners(&asked).await?
            }
        };
        if let Some(changes) = &mut self.changes {
            changes.remember(owners, &read);
        }
        Ok(read.parts)
    }

    /// Every family and every member, with unnamed statements, sent at once: one round trip
    /// (the connection pipelines them; each is parsed, bound and run in one message, so a
    /// transaction-mode pooler may run them on any server connection).
    async fn read_whole(&mut self) -> DriverResult<Read> {
        if self.changes.is_none() {
            if let Some(tenant) = self.tenant.clone() {
                return self.read_tenant(&tenant).await;
            }
        }
        let home: &(dyn ToSql + Sync) = &self.home_schema;
        let mut families = families();
        let mut members_sql = members(false);
        if let Some(tenant) = &self.tenant {
            for family in &mut families {
                family.sql = in_tenant(&family.sql, tenant);
            }
            members_sql = in_tenant(&members_sql, tenant);
        }
        let client = &self.client;
        let params = [(home, Type::TEXT)];
        let reads = families
            .iter()
            .map(|family| client.query_typed(&family.sql, &params));
        // The members only serve change tracking (a dropped member traced to its owner, a
        // partition's parents, function names): without it, a whole read leaves them out,
        // the costliest of its queries on a large catalog.
        let tracking = self.changes.is_some();
        let members = async {
            if tracking {
                client.query_typed(&members_sql, &[]).await
            } else {
                Ok(Vec::new())
            }
        };
        let (results, members) = tokio::join!(
            biased;
            futures_util::future::try_join_all(reads),
            members,
        );
        let results = results.map_err(|e| db_error(&e))?;
        let members = members.map_err(|e| db_error(&e))?;
        self.collect(results, members)
    }

    /// A tenant's whole snapshot, without change tracking: the relations, types and
    /// functions of its schema listed by one query, then the families restricted to them as
    /// a read of some owners runs them (by the catalogs' indexes, rather than scanning every
    /// tenant's rows), with unnamed statements, sent at once: two round trips. Schemas and
    /// extensions belong to the whole database and are not read.
    async fn read_tenant(&mut self, tenant: &str) -> DriverResult<Read> {
        let row = self
            .client
            .query_typed_one(
                "SELECT ARRAY(SELECT c.oid FROM pg_catalog.pg_class c \
                 WHERE c.relnamespace = n.oid), \
                 ARRAY(SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid), \
                 ARRAY(SELECT p.oid FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid) \
                 FROM pg_catalog.pg_namespace n WHERE n.nspname = $1 \
                 UNION ALL SELECT ARRAY[]::oid[], ARRAY[]::oid[], ARRAY[]::oid[] LIMIT 1",
                &[(&tenant, Type::TEXT)],
            )
            .await
            .map_err(|e| db_error(&e))?;
        let owners = Owners {
            relations: row.get(0),
            types: row.get(1),
            functions: row.get(2),
        };
        let scoped: Vec<(String, &Vec<u32>)> = families()
            .into_iter()
            .filter_map(|family| {
                let (kind, _) = family.scope?;
                let owners = owners.of(kind);
                (!owners.is_empty()).then(|| (family.scoped_sql(), owners))
            })
            .collect();
        let home: &(dyn ToSql + Sync) = &self.home_schema;
        let client = &self.client;
        let params: Vec<[(&(dyn ToSql + Sync), Type); 2]> = scoped
            .iter()
            .map(|(_, owners)| {
                let owners: &(dyn ToSql + Sync) = *owners;
                [(home, Type::TEXT), (owners, Type::OID_ARRAY)]
            })
            .collect();
        let reads = scoped
            .iter()
            .zip(&params)
            .map(|((sql, _), params)| client.query_typed(sql, params));
        let results = futures_util::future::try_join_all(reads)
            .await
            .map_err(|e| db_error(&e))?;
        self.collect(results, Vec::new())
    }

    /// The families of relations, types and functions and the members of `owners` only,
    /// sent at once: one round trip.
    async fn read_owners(&mut self, owners: &Owners) -> DriverResult<Read> {
        if owners.is_empty() {
            return Ok(Read {
                parts: BTreeMap::new(),
                members: Vec::new(),
                functions: Vec::new(),
            });
        }
        let prepared = self.prepared().await?;
        let scoped: Vec<Family> = families()
            .into_iter()
            .filter(|f| f.scope.is_some())
            .collect();
        let home: &(dyn ToSql + Sync) = &self.home_schema;
        let params: Vec<[&(dyn ToSql + Sync); 2]> = scoped
            .iter()
            .map(|family| {
                let (kind, _) = family.scope.expect("filtered above");
                [home, owners.of(kind) as &(dyn ToSql + Sync)]
            })
            .collect();
        let member_params: [&(dyn ToSql + Sync); 3] =
            [&owners.relations, &owners.types, &owners.functions];
        let client = &self.client;
        // A family whose owners are none has nothing to say.
        let reads = prepared
            .iter()
            .zip(&params)
            .zip(&scoped)
            .filter(|(_, family)| {
                family
                    .scope
                    .is_some_and(|(kind, _)| !owners.of(kind).is_empty())
            })
            .map(|((statement, params), _)| client.query(statement, params));
        let members = client.query(
            prepared.last().expect("the members statement"),
            &member_params,
        );
        // Generic plans, always: they look the owners up by index, and the custom plans
        // PostgreSQL would otherwise make each time cost more to plan than to run. Set for
        // this transaction only, sent with the queries (`biased`: in this order).
        let (begun, results, members, committed) = tokio::join!(
            biased;
            client.batch_execute("BEGIN; SET LOCAL plan_cache_mode = force_generic_plan"),
            futures_util::future::try_join_all(reads),
            members,
            client.batch_execute("COMMIT"),
        );
        let read = begun
            .and(results)
            .and_then(|results| Ok((results, members?)));
        if read.is_err() {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        let (results, members) = read
            .and_then(|r| committed.map(|()| r))
            .map_err(|e| db_error(&e))?;
        self.collect(results, members)
    }

    /// The statements of a partial read, prepared on first use.
    async fn prepared(&mut self) -> DriverResult<Prepared> {
        if let Some(prepared) = self.changes.as_ref().and_then(|c| c.prepared.clone()) {
            return Ok(prepared);
        }
        let mut prepared = Vec::new();
        for family in families().into_iter().filter(|f| f.scope.is_some()) {
            prepared.push(
                self.client
                    .prepare_typed(&family.scoped_sql(), &[Type::TEXT, Type::OID_ARRAY])
                    .await
                    .map_err(|e| db_error(&e))?,
            );
        }
        prepared.push(
            self.client
                .prepare_typed(
                    &members(true),
                    &[Type::OID_ARRAY, Type::OID_ARRAY, Type::OID_ARRAY],
                )
                .await
                .map_err(|e| db_error(&e))?,
        );
        if let Some(changes) = &mut self.changes {
            changes.prepared = Some(prepared.clone());
        }
        Ok(prepared)
    }

    /// The parts of the families' rows, without ferry's own tables, and the members.
    fn collect(&self, results: Vec<Vec<Row>>, members: Vec<Row>) -> DriverResult<Read> {
        let mut parts: BTreeMap<String, Part> = BTreeMap::new();
        for row in results.into_iter().flatten() {
            let read = || -> Result<_, tokio_postgres::Error> {
                Ok((
                    row.try_get::<_, String>(0)?,
                    row.try_get::<_, String>(1)?,
                    row.try_get::<_, Vec<Option<String>>>(2)?,
                    row.try_get::<_, String>(3)?,
                ))
            };
            let (kind, name, properties, owner) = read().map_err(|e| db_error(&e))?;
            let object = parts.entry(owner).or_default().objects.add(kind, name);
            for pair in properties.chunks(2) {
                if let [Some(property), Some(value)] = pair {
                    let value = if property == "definition" {
                        collapse_whitespace(value)
                    } else {
                        value.clone()
                    };
                    object.set(property.as_str(), value);
                }
            }
        }
        let tracking = self.snapshot_name(self.table.name());
        let lease = self.snapshot_name(self.table.lease_table().name());
        let mut parts: BTreeMap<String, Part> = parts
            .into_iter()
            .map(|(owner, part)| {
                let objects = part.objects.without_table(&tracking).without_table(&lease);
                (owner, Part::new(objects))
            })
            .filter(|(_, part)| !part.objects.is_empty())
            .collect();
        let mut found = Vec::with_capacity(members.len());
        let mut functions = Vec::new();
        for row in members {
            let read = || -> Result<_, tokio_postgres::Error> {
                Ok((
                    (row.try_get::<_, u32>(0)?, row.try_get::<_, u32>(1)?),
                    row.try_get::<_, String>(2)?,
                ))
            };
            let ((classid, objid), owner) = read().map_err(|e| db_error(&e))?;
            if classid == PG_INHERITS {
                if let Some(part) = parts.get_mut(&owner) {
                    part.depends_on.insert(format!("r{objid}"));
                }
            } else if classid == PG_PROC {
                functions.push((objid, owner));
            } else {
                found.push(((classid, objid), owner));
            }
        }
        Ok(Read {
            parts,
            members: found,
            functions,
        })
    }

    /// The name a snapshot gives to the relation `name` in the tracking table's schema.
    fn snapshot_name(&self, name: &str) -> String {
        match &self.schema {
            Some(schema) if self.home_schema.as_ref() != Some(schema) => format!("{schema}.{name}"),
            _ => name.to_owned(),
        }
    }
}

/// One family's query, and how a read of some owners filters it.
struct Family {
    sql: String,
    /// The owners' kind and the column that names the owner, for a read of some owners;
    /// `None` for the families read whole only (schemas, extensions).
    scope: Option<(OwnerKind, &'static str)>,
}

impl Family {
    /// The query restricted to the owners in `$2` (an `oid[]`).
    fn scoped_sql(&self) -> String {
        let (kind, column) = self.scope.expect("a family read in part");
        // A relation's family filters the relation too, so that the plan looks it up by its
        // index instead of scanning `pg_class`.
        match kind {
            OwnerKind::Relation if column != "c.oid" => {
                format!("{} AND c.oid = ANY($2) AND {column} = ANY($2)", self.sql)
            }
            _ => format!("{} AND {column} = ANY($2)", self.sql),
        }
    }
}

/// The families, in order: schemas and extensions first (read whole only).
fn families() -> Vec<Family> {
    let scopes = [
        None,
        None,
        Some((OwnerKind::Relation, "c.oid")),
        Some((OwnerKind::Relation, "a.attrelid")),
        Some((OwnerKind::Relation, "co.conrelid")),
        Some((OwnerKind::Relation, "i.indrelid")),
        Some((OwnerKind::Relation, "t.tgrelid")),
        Some((OwnerKind::Function, "p.oid")),
        Some((OwnerKind::Type, "t.oid")),
    ];
    queries()
        .into_iter()
        .zip(scopes)
        .map(|(sql, scope)| Family { sql, scope })
        .collect()
}

/// The members query: `(classid, objid, owner)` of each index, constraint, trigger, default,
/// rule, row type and array type of a user relation or type, and `(pg_proc, oid, proname)`
/// of each function or procedure; `scoped`: only those of the relations in `$1`, the types in
/// `$2` and the functions in `$3` (all `oid[]`).
fn members(scoped: bool) -> String {
    let user = user_schema("n");
    let only = |column: &str, param: &str| {
        if scoped {
            format!(" AND {column} = ANY({param})")
        } else {
            String::new()
        }
    };
    // A relation's member filters the relation too, for the plan to use its index.
    let only_relation = |column: &str| {
        if scoped {
            format!(" AND c.oid = ANY($1) AND {column} = ANY($1)")
        } else {
            String::new()
        }
    };
    // The members a relation owns: (catalog, alias, member column, the relation's column,
    // condition), each joined to its relation for the user-schema filter. A relation's
    // internal triggers are the foreign keys' (also those on the table a key references):
    // they belong to the key's table, and go with the key. The parents of a partition or an
    // inheritance child (`pg_inherits`) are not members: they become its part's
    // `depends_on` ([`PostgresDriver::collect`]), since detaching a partition is logged for
    // the parent only.
    let of_relations = [
        ("pg_class", "i", "indexrelid", "i.indrelid", "true"),
        ("pg_constraint", "co", "oid", "co.conrelid", "true"),
        (
            "pg_trigger",
            "tg",
            "oid",
            "tg.tgrelid",
            "NOT tg.tgisinternal",
        ),
        ("pg_trigger", "tg", "oid", "fk.conrelid", "tg.tgisinternal"),
        ("pg_attrdef", "ad", "oid", "ad.adrelid", "true"),
        ("pg_rewrite", "rw", "oid", "rw.ev_class", "true"),
        ("pg_inherits", "ih", "inhparent", "ih.inhrelid", "true"),
    ]
    .map(|(catalog, alias, member, relation, condition)| {
        let table = if catalog == "pg_class" {
            "pg_index"
        } else {
            catalog
        };
        let key = if relation.starts_with("fk.") {
            " JOIN pg_catalog.pg_constraint fk ON fk.oid = tg.tgconstraint"
        } else {
            ""
        };
        format!(
            "SELECT 'pg_catalog.{catalog}'::regclass::oid, {alias}.{member}, \
             'r' || {relation} FROM pg_catalog.{table} {alias}{key} \
             JOIN pg_catalog.pg_class c ON c.oid = {relation} \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE {condition} AND {user}{}",
            only_relation(relation)
        )
    });
    let others = [
        // Row types of relations, and their array types (a composite type's owner is the
        // type, below).
        format!(
            "SELECT 'pg_catalog.pg_type'::regclass::oid, x.oid, 'r' || c.oid \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type rt ON rt.oid = c.reltype \
             CROSS JOIN LATERAL (VALUES (rt.oid), (rt.typarray)) AS x(oid) \
             WHERE c.relkind <> 'c' AND x.oid <> 0 AND {user}{}",
            only("c.oid", "$1")
        ),
        // Constraints of domains, array types of types, the relation behind a composite type.
        format!(
            "SELECT 'pg_catalog.pg_constraint'::regclass::oid, co.oid, 't' || co.contypid \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_type t ON t.oid = co.contypid \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace WHERE {user}{}",
            only("co.contypid", "$2")
        ),
        format!(
            "SELECT 'pg_catalog.pg_type'::regclass::oid, t.typarray, 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typarray <> 0 AND t.typrelid = 0 AND {user}{}",
            only("t.oid", "$2")
        ),
        format!(
            "SELECT 'pg_catalog.pg_class'::regclass::oid, t.typrelid, 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             WHERE t.typtype = 'c' AND {user} AND EXISTS (SELECT FROM pg_catalog.pg_class r \
             WHERE r.oid = t.typrelid AND r.relkind = 'c'){}",
            only("t.oid", "$2")
        ),
        // Functions and their names (an aggregate too: its name resolves calls as well).
        format!(
            "SELECT 'pg_catalog.pg_proc'::regclass::oid, p.oid, p.proname::text \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE {user}{}",
            only("p.oid", "$3")
        ),
    ];
    of_relations
        .into_iter()
        .chain(others)
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// Runs of whitespace as one space, without leading or trailing whitespace: definitions are
/// compared as text, and their layout is not part of the schema.
fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `name` qualified by the schema of the `pg_namespace` alias `ns`, unless that schema is the
/// current one (`$1`).
fn qualified(ns: &str, name: &str) -> String {
    format!("(CASE WHEN {ns}.nspname = $1 THEN '' ELSE {ns}.nspname || '.' END || {name})")
}

/// `sql` (a family's or the members query) reading the objects of schema `tenant` only, in
/// place of those of every user schema: a tenant's snapshot ([`ferry_core::Driver::use_schema`],
/// SPEC §11) holds only what is in its schema once the callers keep its objects
/// ([`ferry_core::drift::in_schema`]), so reading the others would cost what the whole
/// database holds, once per tenant. The names and properties are those a whole read gives.
fn in_tenant(sql: &str, tenant: &str) -> String {
    // An escape string: the same whatever `standard_conforming_strings` says.
    let literal = format!("E'{}'", tenant.replace('\\', "\\\\").replace('\'', "''"));
    sql.replace(
        &user_schema("n"),
        &format!("{} AND n.nspname = {literal}", user_schema("n")),
    )
}

/// The condition that the `pg_namespace` alias `ns` is a user schema.
fn user_schema(ns: &str) -> String {
    format!("{ns}.nspname <> 'information_schema' AND {ns}.nspname NOT LIKE 'pg\\_%'")
}

/// The condition that the object `oid` of catalog `catalog` does not belong to an extension.
fn not_in_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT FROM pg_catalog.pg_depend x \
         WHERE x.classid = 'pg_catalog.{catalog}'::regclass AND x.objid = {oid} AND x.deptype = 'e')"
    )
}

/// A referential action code of `pg_constraint` in words.
fn action(code: &str) -> String {
    format!(
        "CASE {code} WHEN 'a' THEN 'no action' WHEN 'r' THEN 'restrict' WHEN 'c' THEN 'cascade' \
         WHEN 'n' THEN 'set null' WHEN 'd' THEN 'set default' END"
    )
}

/// The names of the columns numbered `keys` (an `int2[]`) of relation `rel`, in order.
fn column_list(keys: &str, rel: &str) -> String {
    format!(
        "(SELECT string_agg(a.attname, ', ' ORDER BY k.i) \
         FROM unnest({keys}) WITH ORDINALITY AS k(num, i) \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.num)"
    )
}

/// The catalog queries, one per family of objects; `$1` is the current schema.
fn queries() -> Vec<String> {
    let table_name = qualified("n", "c.relname");
    let user = user_schema("n");
    vec![
        // Schemas.
        format!(
            "SELECT 'schema'::text, n.nspname::text, ARRAY[]::text[], 'n' || n.oid \
             FROM pg_catalog.pg_namespace n WHERE {user} AND {}",
            not_in_extension("pg_namespace", "n.oid")
        ),
        // Extensions.
        "SELECT 'extension'::text, e.extname::text, ARRAY['version', e.extversion]::text[], 'e' || e.oid \
         FROM pg_catalog.pg_extension e"
            .to_owned(),
        // Relations: tables, views, materialised views, sequences (not those of identity
        // columns).
        format!(
            "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
             WHEN 'S' THEN 'sequence' ELSE 'table' END::text, {table_name}::text, \
             CASE \
             WHEN c.relkind IN ('v', 'm') THEN ARRAY['definition', pg_catalog.pg_get_viewdef(c.oid), \
               'options', array_to_string(c.reloptions, ', ')] \
             WHEN c.relkind = 'S' THEN ARRAY['type', pg_catalog.format_type(s.seqtypid, NULL), \
               'start', s.seqstart::text, 'increment', s.seqincrement::text, \
               'min', s.seqmin::text, 'max', s.seqmax::text, 'cache', s.seqcache::text, \
               'cycle', CASE WHEN s.seqcycle THEN 'yes' ELSE 'no' END, \
               'owned by', (SELECT {owner}::text || '.' || a.attname \
                 FROM pg_catalog.pg_depend d \
                 JOIN pg_catalog.pg_class o ON o.oid = d.refobjid \
                 JOIN pg_catalog.pg_namespace ons ON ons.oid = o.relnamespace \
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = o.oid AND a.attnum = d.refobjsubid \
                 WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
                 AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'a' LIMIT 1)] \
             ELSE ARRAY['options', array_to_string(c.reloptions, ', '), \
               'unlogged', CASE WHEN c.relpersistence = 'u' THEN 'yes' END, \
               'partition key', CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END, \
               'partition of', (SELECT {parent}::text || ' ' || pg_catalog.pg_get_expr(c.relpartbound, c.oid) \
                 FROM pg_catalog.pg_inherits i \
                 JOIN pg_catalog.pg_class p ON p.oid = i.inhparent \
                 JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace \
                 WHERE c.relispartition AND i.inhrelid = c.oid)] \
             END::text[], 'r' || c.oid \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_sequence s ON s.seqrelid = c.oid \
             WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND {user} AND {ext} \
             AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_catalog.pg_depend d \
               WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid \
               AND d.deptype = 'i'))",
            owner = qualified("ons", "o.relname"),
            parent = qualified("pn", "p.relname"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Columns of tables. A collation is named only when it is not the type's own.
        format!(
            "SELECT 'column'::text, ({table_name} || '.' || a.attname)::text, ARRAY[\
             'type', pg_catalog.format_type(a.atttypid, a.atttypmod), \
             'nullable', CASE WHEN a.attnotnull THEN 'no' ELSE 'yes' END, \
             'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, \
             'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END, \
             'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END, \
             'collation', CASE WHEN a.attcollation <> t.typcollation THEN co.collname::text END\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_attribute a \
             JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
             LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum \
             LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation \
             WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped \
             AND {user} AND {ext}",
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Table constraints, but those cloned onto partitions from their parent's.
        format!(
            "SELECT CASE co.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint' \
             WHEN 'f' THEN 'foreign key' WHEN 'c' THEN 'check constraint' \
             ELSE 'exclusion constraint' END::text, \
             CASE WHEN co.contype = 'p' THEN {table_name} \
             ELSE {table_name} || '.' || co.conname END::text, \
             CASE co.contype \
             WHEN 'p' THEN ARRAY['table', {table_name}, 'columns', {columns}] \
             WHEN 'u' THEN ARRAY['table', {table_name}, 'columns', {columns}] \
             WHEN 'f' THEN ARRAY['table', {table_name}, 'columns', {columns}, \
               'target', {target} || '(' || {target_columns} || ')', \
               'on delete', {on_delete}, 'on update', {on_update}] \
             WHEN 'c' THEN ARRAY['table', {table_name}, \
               'expression', pg_catalog.pg_get_expr(co.conbin, co.conrelid)] \
             ELSE ARRAY['table', {table_name}, \
               'definition', pg_catalog.pg_get_constraintdef(co.oid, true)] \
             END::text[], 'r' || c.oid \
             FROM pg_catalog.pg_constraint co \
             JOIN pg_catalog.pg_class c ON c.oid = co.conrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_class r ON r.oid = co.confrelid \
             LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace \
             WHERE co.contype IN ('p', 'u', 'f', 'c', 'x') AND co.conparentid = 0 AND {user} \
             AND {ext}",
            columns = column_list("co.conkey", "co.conrelid"),
            target = qualified("rn", "r.relname"),
            target_columns = column_list("co.confkey", "co.confrelid"),
            on_delete = action("co.confdeltype"),
            on_update = action("co.confupdtype"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Indexes, but those that implement a constraint. Key columns (or expressions) in
        // order, with their direction and a null ordering that is not the default.
        format!(
            "SELECT 'index'::text, {index_name}::text, ARRAY[\
             'table', {table_name}, \
             'columns', (SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k + 1, true) \
               || CASE WHEN i.indoption[k] & 1 = 1 \
                  THEN ' desc' || CASE WHEN i.indoption[k] & 2 = 0 THEN ' nulls last' ELSE '' END \
                  ELSE CASE WHEN i.indoption[k] & 2 = 2 THEN ' nulls first' ELSE '' END END, \
               ', ' ORDER BY k) FROM generate_series(0, i.indnkeyatts - 1) AS k), \
             'include', (SELECT string_agg(pg_catalog.pg_get_indexdef(i.indexrelid, k + 1, true), \
               ', ' ORDER BY k) FROM generate_series(i.indnkeyatts, i.indnatts - 1) AS k), \
             'unique', CASE WHEN i.indisunique THEN 'yes' ELSE 'no' END, \
             'predicate', pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), \
             'method', am.amname::text\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_index i \
             JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_catalog.pg_class c ON c.oid = i.indrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_catalog.pg_am am ON am.oid = ic.relam \
             WHERE {user} AND {ext} \
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_constraint co \
               WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid \
               AND co.contype IN ('p', 'u', 'x'))",
            index_name = qualified("n", "ic.relname"),
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Triggers, named by table (PostgreSQL's trigger names are unique per table only).
        format!(
            "SELECT 'trigger'::text, ({table_name} || '.' || t.tgname)::text, ARRAY[\
             'table', {table_name}, \
             'timing', CASE WHEN t.tgtype & 2 = 2 THEN 'before' \
               WHEN t.tgtype & 64 = 64 THEN 'instead of' ELSE 'after' END, \
             'event', concat_ws(' or ', CASE WHEN t.tgtype & 4 = 4 THEN 'insert' END, \
               CASE WHEN t.tgtype & 16 = 16 THEN 'update' END, \
               CASE WHEN t.tgtype & 8 = 8 THEN 'delete' END, \
               CASE WHEN t.tgtype & 32 = 32 THEN 'truncate' END), \
             'definition', pg_catalog.pg_get_triggerdef(t.oid, true), \
             'enabled', CASE t.tgenabled WHEN 'D' THEN 'no' WHEN 'R' THEN 'replica' \
               WHEN 'A' THEN 'always' END\
             ]::text[], 'r' || c.oid \
             FROM pg_catalog.pg_trigger t \
             JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE NOT t.tgisinternal AND {user} AND {ext}",
            ext = not_in_extension("pg_class", "c.oid"),
        ),
        // Functions and procedures (aggregates have no `pg_get_functiondef`).
        format!(
            "SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END::text, \
             ({name} || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')')::text, \
             ARRAY['definition', pg_catalog.pg_get_functiondef(p.oid)]::text[], 'p' || p.oid \
             FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
             WHERE p.prokind IN ('f', 'p', 'w') AND {user} AND {ext}",
            name = qualified("n", "p.proname"),
            ext = not_in_extension("pg_proc", "p.oid"),
        ),
        // Enum, domain, composite and range types.
        format!(
            "SELECT CASE t.typtype WHEN 'e' THEN 'enum type' WHEN 'd' THEN 'domain' \
             WHEN 'c' THEN 'composite type' ELSE 'range type' END::text, {name}::text, \
             CASE t.typtype \
             WHEN 'e' THEN ARRAY['values', (SELECT string_agg(e.enumlabel::text, ', ' \
               ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid)] \
             WHEN 'd' THEN ARRAY['type', pg_catalog.format_type(t.typbasetype, t.typtypmod), \
               'nullable', CASE WHEN t.typnotnull THEN 'no' ELSE 'yes' END, \
               'default', t.typdefault, \
               'check', (SELECT string_agg(pg_catalog.pg_get_constraintdef(co.oid, true), ' and ' \
                 ORDER BY co.conname) FROM pg_catalog.pg_constraint co \
                 WHERE co.contypid = t.oid AND co.contype = 'c')] \
             WHEN 'c' THEN ARRAY['attributes', (SELECT string_agg(a.attname || ' ' \
               || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) \
               FROM pg_catalog.pg_attribute a \
               WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)] \
             ELSE ARRAY['subtype', (SELECT pg_catalog.format_type(r.rngsubtype, NULL) \
               FROM pg_catalog.pg_range r WHERE r.rngtypid = t.oid)] \
             END::text[], 't' || t.oid \
             FROM pg_catalog.pg_type t \
             JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace \
             LEFT JOIN pg_catalog.pg_class c ON c.oid = t.typrelid \
             WHERE (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c')) \
             AND {user} AND {ext}",
            name = qualified("n", "t.typname"),
            ext = not_in_extension("pg_type", "t.oid"),
        ),
    ]
}
