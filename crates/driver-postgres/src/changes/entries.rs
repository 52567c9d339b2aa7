//! The change log's entries mapped to owners ([`super`]): which catalogs hold owners, which
//! commands create one, and the `CASE` naming an object's owner.

use std::collections::{BTreeSet, HashSet};

use super::Changes;

/// Catalogs whose objects are not in a snapshot and do not change how one is printed: a
/// change to them changes no owner.
const UNSEEN: &[&str] = &[
    "pg_event_trigger",
    "pg_policy",
    "pg_statistic_ext",
    "pg_default_acl",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_subscription",
    "pg_user_mapping",
    "pg_foreign_server",
    "pg_foreign_data_wrapper",
];

/// Catalogs whose objects map to an owner.
const OWNED: &[&str] = &[
    "pg_class",
    "pg_type",
    "pg_constraint",
    "pg_trigger",
    "pg_attrdef",
    "pg_rewrite",
    "pg_proc",
];

/// Commands whose object (the entry's own) did not exist before: nothing depended on it.
const CREATING: &[&str] = &[
    "CREATE TABLE",
    "CREATE TABLE AS",
    "SELECT INTO",
    "CREATE VIEW",
    "CREATE MATERIALIZED VIEW",
    "CREATE SEQUENCE",
    "CREATE FOREIGN TABLE",
    "CREATE TYPE",
    "CREATE DOMAIN",
];

/// Commands that create a function or replace it with one of the same name: the name logged
/// is the one it had before too.
const FUNCTION_CREATING: &[&str] = &["CREATE FUNCTION", "CREATE PROCEDURE", "CREATE AGGREGATE"];

/// The log's entries, as parallel arrays.
pub(super) struct Entries {
    pub(super) classids: Vec<Option<u32>>,
    pub(super) classes: Vec<Option<String>>,
    pub(super) objids: Vec<Option<u32>>,
    pub(super) object_types: Vec<Option<String>>,
    pub(super) schemas: Vec<Option<String>>,
    pub(super) tags: Vec<Option<String>>,
    pub(super) dropped: Vec<Option<bool>>,
    pub(super) owners: Vec<Option<String>>,
    /// A column's number, 0 for a whole object.
    pub(super) subids: Vec<Option<i32>>,
    /// A function's name when the entry was logged (its address's, when dropped).
    pub(super) names: Vec<Option<String>>,
}

/// The owners the log names.
pub(super) struct Found {
    /// Every owner changed.
    pub(super) owners: BTreeSet<String>,
    /// Those that existed before the step and still exist: their dependents change with them.
    pub(super) existing: BTreeSet<String>,
    /// Those the step dropped.
    pub(super) gone: BTreeSet<String>,
    /// The names the changed functions had before the step and have after it.
    pub(super) names: BTreeSet<String>,
}

impl Entries {
    /// The owners the entries name, or `None` where one cannot be traced (see the module
    /// documentation).
    pub(super) fn owners(&self, changes: &Changes) -> Option<Found> {
        let mut found = Found {
            owners: BTreeSet::new(),
            existing: BTreeSet::new(),
            gone: BTreeSet::new(),
            names: BTreeSet::new(),
        };
        let mut created = BTreeSet::new();
        // The objects the step dropped: an entry that altered one of them before is the
        // drop's to answer for.
        let dropped_objects: HashSet<(u32, u32)> = (0..self.classids.len())
            .filter(|&i| self.dropped.get(i).copied().flatten().unwrap_or(false))
            .filter_map(|i| {
                Some((
                    self.classids.get(i).copied().flatten()?,
                    self.objids.get(i).copied().flatten()?,
                ))
            })
            .collect();
        for i in 0..self.classids.len() {
            let at = |v: &Vec<Option<String>>| v.get(i).cloned().flatten();
            let schema = at(&self.schemas).unwrap_or_default();
            if schema.starts_with("pg_temp") || schema.starts_with("pg_toast") {
                continue; // Not in a snapshot.
            }
            let tag = at(&self.tags);
            let (Some(classid), Some(class), Some(objid)) = (
                self.classids.get(i).copied().flatten(),
                at(&self.classes),
                self.objids.get(i).copied().flatten(),
            ) else {
                // GRANT and REVOKE name no object; privileges are not in a snapshot.
                if matches!(tag.as_deref(), Some("GRANT" | "REVOKE")) {
                    continue;
                }
                return None;
            };
            if UNSEEN.contains(&class.as_str()) {
                continue;
            }
            if !OWNED.contains(&class.as_str()) {
                return None;
            }
            let dropped = self.dropped.get(i).copied().flatten().unwrap_or(false);
            let object_type = at(&self.object_types).unwrap_or_default();
            if class == "pg_proc" {
                // Its name now (or as dropped), and as the reads knew it: a step that
                // creates a function logs its name then; any other must find the old name.
                found.names.extend(at(&self.names));
                match changes.functions.get(&objid) {
                    Some(names) => found.names.extend(names.iter().cloned()),
                    None if dropped
                        || tag
                            .as_deref()
                            .is_some_and(|t| FUNCTION_CREATING.contains(&t)) => {}
                    None => return None,
                }
            }
            // The object's own owner name, were it an owner itself.
            let own = match class.as_str() {
                "pg_class" => Some(format!("r{objid}")),
                "pg_type" => Some(format!("t{objid}")),
                "pg_proc" => Some(format!("p{objid}")),
                _ => None,
            };
            let owner = match at(&self.owners) {
                Some(owner) => owner,
                // Altered, then dropped by the same step: the drop's entry names its owner
                // (it existed before, so the reads listed it) or gives up.
                None if !dropped && dropped_objects.contains(&(classid, objid)) => continue,
                None if !dropped => return None, // Created and gone again within the step.
                None => match changes.members.get(&(classid, objid)) {
                    Some(owner) => owner.clone(),
                    None => match object_type.as_str() {
                        "table" | "view" | "materialized view" | "sequence" | "foreign table"
                        | "type" | "domain" => own.clone()?,
                        _ => return None,
                    },
                },
            };
            // The owner's own object, not one of its columns.
            let whole = self.subids.get(i).copied().flatten().unwrap_or(0) == 0;
            let is_own = whole && own.as_deref() == Some(owner.as_str());
            if dropped && is_own {
                found.gone.insert(owner.clone());
            }
            if !dropped && is_own && tag.as_deref().is_some_and(|t| CREATING.contains(&t)) {
                created.insert(owner.clone());
            }
            found.owners.insert(owner);
        }
        found.existing = found
            .owners
            .iter()
            .filter(|o| !created.contains(*o) && !found.gone.contains(*o))
            .cloned()
            .collect();
        Some(found)
    }
}

/// `CASE` over the catalog `classid` of object `objid`: the name of its owner, NULL when it
/// no longer exists or has none.
pub(crate) fn owner_of(classid: &str, objid: &str) -> String {
    let relation = |oid: &str| {
        format!(
            "(SELECT CASE WHEN r.relkind = 'c' THEN 't' || r.reltype ELSE 'r' || r.oid END \
             FROM pg_catalog.pg_class r WHERE r.oid = {oid})"
        )
    };
    let of_type = |alias: &str| {
        format!(
            "CASE WHEN {alias}.typrelid <> 0 THEN {} ELSE 't' || {alias}.oid END",
            relation(&format!("{alias}.typrelid"))
        )
    };
    format!(
        "CASE {classid} \
         WHEN 'pg_catalog.pg_class'::regclass THEN (SELECT CASE \
           WHEN x.relkind = 't' OR x.relnamespace = 'pg_toast'::regnamespace THEN NULL \
           WHEN x.relkind IN ('i', 'I') THEN (SELECT 'r' || i.indrelid \
             FROM pg_catalog.pg_index i WHERE i.indexrelid = x.oid) \
           WHEN x.relkind = 'c' THEN 't' || x.reltype ELSE 'r' || x.oid END \
           FROM pg_catalog.pg_class x WHERE x.oid = {objid}) \
         WHEN 'pg_catalog.pg_type'::regclass THEN (SELECT CASE \
           WHEN x.typcategory = 'A' AND x.typelem <> 0 AND x.typrelid = 0 THEN \
             (SELECT {element} FROM pg_catalog.pg_type e WHERE e.oid = x.typelem) \
           ELSE {own} END FROM pg_catalog.pg_type x WHERE x.oid = {objid}) \
         WHEN 'pg_catalog.pg_proc'::regclass THEN 'p' || {objid} \
         WHEN 'pg_catalog.pg_constraint'::regclass THEN (SELECT CASE \
           WHEN x.conrelid <> 0 THEN 'r' || x.conrelid \
           WHEN x.contypid <> 0 THEN 't' || x.contypid END \
           FROM pg_catalog.pg_constraint x WHERE x.oid = {objid}) \
         WHEN 'pg_catalog.pg_trigger'::regclass THEN (SELECT 'r' || x.tgrelid \
           FROM pg_catalog.pg_trigger x WHERE x.oid = {objid}) \
         WHEN 'pg_catalog.pg_attrdef'::regclass THEN (SELECT 'r' || x.adrelid \
           FROM pg_catalog.pg_attrdef x WHERE x.oid = {objid}) \
         WHEN 'pg_catalog.pg_rewrite'::regclass THEN (SELECT 'r' || x.ev_class \
           FROM pg_catalog.pg_rewrite x WHERE x.oid = {objid}) \
         END",
        element = of_type("e"),
        own = of_type("x"),
    )
}
