//! A schema snapshot read from the catalog (SPEC §9.3), one normalised structure for every
//! backend, and the differences between two snapshots.
//!
//! A snapshot is a set of objects, each named by its kind and name (`column` `posts.title`,
//! `index` `users_email_idx`), each with properties as text (`type`, `nullable`, `default`, ...).
//! Drivers fill it from their catalogs; core compares snapshots without knowing the backend.
//! Columns are objects of their own, named `table.column`, so column order never matters.
//!
//! ```
//! use ferry_core::schema::{Difference, Schema};
//! let mut before = Schema::default();
//! before.add("table", "posts");
//! before.add("column", "posts.title").set("type", "text").set("default", "'x'");
//! before.add("index", "posts_title_idx").set("columns", "title");
//! let mut after = before.clone();
//! after.remove("index", "posts_title_idx");
//! after.add("column", "posts.title").set("default", "none");
//! assert_eq!(
//!     before.differences(&after),
//!     [
//!         Difference::new("column", "posts.title", "default", "'x'", "none"),
//!         Difference::new("index", "posts_title_idx", "exists", "yes", "no"),
//!     ]
//! );
//! assert_eq!(
//!     before.differences(&after)[0].to_string(),
//!     "column posts.title: default 'x' → none"
//! );
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The properties of one object: name → value, both text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, String>);

impl Properties {
    /// Set `property` to `value` (replacing an earlier value).
    pub fn set(&mut self, property: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.0.insert(property.into(), value.into());
        self
    }

    /// The value of `property`, if set.
    pub fn get(&self, property: &str) -> Option<&str> {
        self.0.get(property).map(String::as_str)
    }

    /// Every property and its value, ordered by property.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// A schema snapshot: objects by (kind, name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    objects: BTreeMap<(String, String), Properties>,
}

impl Schema {
    /// The object `kind` `name`, added empty when missing, to set properties on.
    pub fn add(&mut self, kind: impl Into<String>, name: impl Into<String>) -> &mut Properties {
        self.objects.entry((kind.into(), name.into())).or_default()
    }

    /// Remove the object `kind` `name` (nothing when missing).
    pub fn remove(&mut self, kind: &str, name: &str) {
        self.objects.remove(&(kind.to_owned(), name.to_owned()));
    }

    /// The object `kind` `name`, if present.
    pub fn get(&self, kind: &str, name: &str) -> Option<&Properties> {
        self.objects.get(&(kind.to_owned(), name.to_owned()))
    }

    /// Every object, ordered by kind then name.
    pub fn objects(&self) -> impl Iterator<Item = (&str, &str, &Properties)> {
        self.objects
            .iter()
            .map(|((kind, name), props)| (kind.as_str(), name.as_str(), props))
    }

    /// How many objects it holds.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it holds no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Add every object of `other`, replacing an object of the same kind and name.
    pub fn extend(&mut self, other: Schema) {
        self.objects.extend(other.objects);
    }

    /// Leave out every object whose name is `table` or starts with `table.` (its columns), or
    /// whose `table` property is `table` (its indexes, constraints, triggers): the tracking and
    /// lock tables are not part of the user's schema.
    pub fn without_table(mut self, table: &str) -> Schema {
        let prefix = format!("{table}.");
        self.objects.retain(|(_, name), props| {
            name != table && !name.starts_with(&prefix) && props.get("table") != Some(table)
        });
        self
    }

    /// What differs from `self` (before) to `after`, ordered by kind then name then property:
    /// an object missing on one side is one difference, property `exists` (`yes` / `no`);
    /// otherwise one per property whose value differs (`none` for an unset one).
    pub fn differences(&self, after: &Schema) -> Vec<Difference> {
        let mut out = Vec::new();
        let keys: std::collections::BTreeSet<&(String, String)> =
            self.objects.keys().chain(after.objects.keys()).collect();
        for key in keys {
            let (kind, name) = key;
            match (self.objects.get(key), after.objects.get(key)) {
                (Some(_), None) => out.push(Difference::new(kind, name, "exists", "yes", "no")),
                (None, Some(_)) => out.push(Difference::new(kind, name, "exists", "no", "yes")),
                (Some(a), Some(b)) => {
                    let props: std::collections::BTreeSet<&String> =
                        a.0.keys().chain(b.0.keys()).collect();
                    for prop in props {
                        let (x, y) = (a.get(prop), b.get(prop));
                        if x != y {
                            out.push(Difference::new(
                                kind,
                                name,
                                prop,
                                x.unwrap_or("none"),
                                y.unwrap_or("none"),
                            ));
                        }
                    }
                }
                (None, None) => {}
            }
        }
        out
    }
}

/// One part of a snapshot: the objects of one *owner* (a table with its columns, indexes,
/// constraints and triggers; a view; a function; ...), as a driver reads them for
/// [`crate::Driver::snapshot_parts`]. Owners are named by the driver (a name, an object id),
/// and a snapshot in parts is read again only where owners changed
/// ([`crate::snapshot::Tracker`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Part {
    /// The owner's objects. No two parts of one snapshot hold the same (kind, name).
    pub objects: Schema,
    /// The owners whose change can change these objects without a change of this owner
    /// itself: a foreign key whose target columns are read from the target table, say. A
    /// driver that finds such dependents itself ([`crate::Driver::changed_owners`]) leaves it
    /// empty.
    pub depends_on: BTreeSet<String>,
}

impl Part {
    /// A part of `objects` that depends on no other owner.
    pub fn new(objects: Schema) -> Self {
        Part {
            objects,
            depends_on: BTreeSet::new(),
        }
    }
}

/// One difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The kind of object: `table`, `column`, `index`, `view`, ...
    pub object: String,
    /// Its name (`table.column` for a column).
    pub name: String,
    /// The property that differs; `exists` when the object is on one side only; `error` for a
    /// step that failed.
    pub property: String,
    /// The value before.
    pub before: String,
    /// The value after.
    pub after: String,
}

impl Difference {
    /// A difference of `property` of `object` `name` from `before` to `after`.
    pub fn new(
        object: impl Into<String>,
        name: impl Into<String>,
        property: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Self {
        Difference {
            object: object.into(),
            name: name.into(),
            property: property.into(),
            before: before.into(),
            after: after.into(),
        }
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} {} → {}",
            self.object, self.name, self.property, self.before, self.after
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_tables_are_left_out() {
        let mut s = Schema::default();
        s.add("table", "ferry_migrations");
        s.add("column", "ferry_migrations.id").set("type", "bigint");
        s.add("index", "ferry_migrations_key")
            .set("table", "ferry_migrations");
        s.add("table", "ferry_migrations_other");
        let s = s.without_table("ferry_migrations");
        assert_eq!(s.len(), 1);
        assert!(s.get("table", "ferry_migrations_other").is_some());
    }

    #[test]
    fn added_objects_and_properties() {
        let before = Schema::default();
        let mut after = Schema::default();
        after.add("view", "v").set("definition", "select 1");
        assert_eq!(
            before.differences(&after),
            [Difference::new("view", "v", "exists", "no", "yes")]
        );
        let mut later = after.clone();
        later.add("view", "v").set("check option", "local");
        assert_eq!(
            after.differences(&later)[0].to_string(),
            "view v: check option none → local"
        );
    }
}
