//! Helpers for the drivers' snapshot tests ([`crate::Driver::snapshot`]): run a change and
//! check that the snapshot sees exactly it, and that ferry's own tables are left out.
//!
//! ```
//! use ferry_core::testkit::{block_on, snapshot, MemoryDriver};
//! use ferry_core::Driver;
//!
//! let mut d = MemoryDriver::new();
//! block_on(d.ensure_table()).unwrap();
//! let s = block_on(d.snapshot()).unwrap();
//! snapshot::assert_left_out(&s, "ferry_migrations");
//! let s = block_on(snapshot::assert_change(&mut d, s, "CREATE TABLE t (id INT)", &[
//!     ("table", "t", "exists"),
//! ]));
//! assert!(s.get("table", "t").is_some());
//! ```

use crate::schema::Schema;
use crate::Driver;

/// Run `sql` (outside a transaction) on `driver`, take a snapshot and assert that it differs
/// from `before` in exactly the `expected` (object kind, name, property) triples, in the
/// order of [`Schema::differences`]. Where the driver has a
/// [`Driver::schema_fingerprint`], a change the snapshot sees must change it too. Returns the
/// new snapshot, for the next change.
pub async fn assert_change<D: Driver + ?Sized>(
    driver: &mut D,
    before: Schema,
    sql: &str,
    expected: &[(&str, &str, &str)],
) -> Schema {
    let fingerprint_before = fingerprint(driver).await;
    driver
        .execute(sql, false)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    if let (Some(old), Some(new)) = (fingerprint_before, fingerprint(driver).await) {
        assert!(
            expected.is_empty() || old != new,
            "after {sql}: the snapshot changed but the schema fingerprint did not"
        );
    }
    let after = driver
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot after {sql}: {e}"));
    let differences = before.differences(&after);
    let found: Vec<(&str, &str, &str)> = differences
        .iter()
        .map(|d| (d.object.as_str(), d.name.as_str(), d.property.as_str()))
        .collect();
    let shown: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert_eq!(found, expected, "after {sql}:\n{}", shown.join("\n"));
    after
}

/// The driver's schema fingerprint, panicking on an error.
pub async fn fingerprint<D: Driver + ?Sized>(driver: &mut D) -> Option<String> {
    driver
        .schema_fingerprint()
        .await
        .unwrap_or_else(|e| panic!("schema fingerprint: {e}"))
}

/// Assert that no object of `schema` is the table `table`, one of its columns, or belongs to
/// it (its `table` property).
pub fn assert_left_out(schema: &Schema, table: &str) {
    let prefix = format!("{table}.");
    for (kind, name, properties) in schema.objects() {
        assert!(
            name != table && !name.starts_with(&prefix) && properties.get("table") != Some(table),
            "{kind} {name} belongs to {table}, which the snapshot must leave out"
        );
    }
}

/// The value of `property` of the object `kind` `name`, which must exist (the panic lists
/// the snapshot).
pub fn property<'a>(schema: &'a Schema, kind: &str, name: &str, property: &str) -> Option<&'a str> {
    match schema.get(kind, name) {
        Some(properties) => properties.get(property),
        None => panic!("no {kind} {name} in the snapshot:\n{}", listing(schema)),
    }
}

/// The snapshot as text, one object a line, for failure messages.
pub fn listing(schema: &Schema) -> String {
    schema
        .objects()
        .map(|(kind, name, properties)| format!("{kind} {name}: {properties:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}
