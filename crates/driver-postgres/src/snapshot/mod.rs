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

use ferry_core::driver::DriverResult;
use ferry_core::schema::Part;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

use crate::error::db_error;
use crate::PostgresDriver;
use queries::{collapse_whitespace, families, in_tenant, members, Family};

mod queries;

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
    /// tenant's rows), sent at once: two round trips. Schemas and extensions belong to the
    /// whole database and are not read. On a direct connection the statements are prepared
    /// once per session and run with generic plans (a fleet reads its tenants one after
    /// another on a connection: planning them for each would cost more than running them);
    /// behind a pooler, unnamed statements.
    async fn read_tenant(&mut self, tenant: &str) -> DriverResult<Read> {
        let prepared = if self.is_pooled() {
            None
        } else {
            Some(self.tenant_reads().await?)
        };
        let client = &self.client;
        let tenant_param: [(&(dyn ToSql + Sync), Type); 1] = [(&tenant, Type::TEXT)];
        let row = match &prepared {
            Some(reads) => client.query_one(&reads.owners, &[&tenant]).await,
            None => client.query_typed_one(TENANT_OWNERS, &tenant_param).await,
        }
        .map_err(|e| db_error(&e))?;
        let owners = Owners {
            relations: row.get(0),
            types: row.get(1),
            functions: row.get(2),
        };
        let home: &(dyn ToSql + Sync) = &self.home_schema;
        let families: Vec<Family> = families()
            .into_iter()
            .filter(|family| family.scope.is_some())
            .collect();
        // A family whose owners are none has nothing to say.
        let asked: Vec<(usize, &Vec<u32>)> = families
            .iter()
            .enumerate()
            .filter_map(|(i, family)| {
                let (kind, _) = family.scope?;
                let owners = owners.of(kind);
                (!owners.is_empty()).then_some((i, owners))
            })
            .collect();
        let results = match &prepared {
            Some(reads) => {
                let params: Vec<[&(dyn ToSql + Sync); 2]> = asked
                    .iter()
                    .map(|(_, owners)| [home, *owners as &(dyn ToSql + Sync)])
                    .collect();
                let reads = asked
                    .iter()
                    .zip(&params)
                    .map(|((i, _), params)| client.query(&reads.families[*i], params));
                in_generic_plans(client, futures_util::future::try_join_all(reads)).await
            }
            None => {
                let scoped: Vec<String> = asked
                    .iter()
                    .map(|(i, _)| families[*i].scoped_sql())
                    .collect();
                let params: Vec<[(&(dyn ToSql + Sync), Type); 2]> = asked
                    .iter()
                    .map(|(_, owners)| {
                        let owners: &(dyn ToSql + Sync) = *owners;
                        [(home, Type::TEXT), (owners, Type::OID_ARRAY)]
                    })
                    .collect();
                let reads = scoped
                    .iter()
                    .zip(&params)
                    .map(|(sql, params)| client.query_typed(sql, params));
                futures_util::future::try_join_all(reads).await
            }
        }
        .map_err(|e| db_error(&e))?;
        self.collect(results, Vec::new())
    }

    /// The statements of a tenant's whole read, prepared on first use.
    async fn tenant_reads(&mut self) -> DriverResult<TenantReads> {
        if let Some(reads) = &self.tenant_reads {
            return Ok(reads.clone());
        }
        let scoped: Vec<String> = families()
            .into_iter()
            .filter(|f| f.scope.is_some())
            .map(|f| f.scoped_sql())
            .collect();
        let client = &self.client;
        let (owners, families) = tokio::try_join!(
            client.prepare_typed(TENANT_OWNERS, &[Type::TEXT]),
            futures_util::future::try_join_all(
                scoped
                    .iter()
                    .map(|sql| client.prepare_typed(sql, &[Type::TEXT, Type::OID_ARRAY])),
            ),
        )
        .map_err(|e| db_error(&e))?;
        let reads = TenantReads { owners, families };
        self.tenant_reads = Some(reads.clone());
        Ok(reads)
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
        let read = async {
            let (results, members) =
                tokio::join!(biased; futures_util::future::try_join_all(reads), members);
            Ok((results?, members?))
        };
        let (results, members) = in_generic_plans(client, read)
            .await
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

/// The query listing a tenant's relations, types and functions (`$1`: its schema); one row,
/// empty arrays when there is no such schema.
const TENANT_OWNERS: &str = "SELECT ARRAY(SELECT c.oid FROM pg_catalog.pg_class c \
    WHERE c.relnamespace = n.oid), \
    ARRAY(SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typnamespace = n.oid), \
    ARRAY(SELECT p.oid FROM pg_catalog.pg_proc p WHERE p.pronamespace = n.oid) \
    FROM pg_catalog.pg_namespace n WHERE n.nspname = $1 \
    UNION ALL SELECT ARRAY[]::oid[], ARRAY[]::oid[], ARRAY[]::oid[] LIMIT 1";

/// The prepared statements of a tenant's whole read: the owners query, then one per family
/// read in part, in the order of [`families`] (those with a scope).
#[derive(Clone)]
pub(crate) struct TenantReads {
    owners: tokio_postgres::Statement,
    families: Vec<tokio_postgres::Statement>,
}

/// Run `read` (prepared statements on `client`) with generic plans, always: they look the
/// owners up by index, and the custom plans PostgreSQL would otherwise make each time cost
/// more to plan than to run. The generic plan is made at the first run, in here, without
/// sequential scans, merge or hash joins: it cannot know how many owners an array holds,
/// and a catalog without statistics (a scratch database's) looks small enough to scan whole,
/// which costs milliseconds once it holds hundreds of tables (the dependents query: 2.5 ms
/// against 0.2 ms by the catalogs' indexes). Set for this transaction only, sent with the
/// queries (`biased`: in this order); rolled back when the read fails.
pub(crate) async fn in_generic_plans<T>(
    client: &tokio_postgres::Client,
    read: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    const BY_INDEX: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
        SET LOCAL enable_seqscan = off; SET LOCAL enable_mergejoin = off; \
        SET LOCAL enable_hashjoin = off";
    let (begun, read, committed) = tokio::join!(
        biased;
        client.batch_execute(BY_INDEX),
        read,
        client.batch_execute("COMMIT"),
    );
    let read = begun.and(read);
    if read.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    read.and_then(|r| committed.map(|()| r))
}
