//! Helpers for the drivers' snapshot tests ([`crate::Driver::snapshot`]): run a change and
//! check that the snapshot sees exactly it, that the snapshot read in part by a
//! [`Tracker`] after it is the whole one, and that ferry's own tables are left out.
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

mod model;

use std::ops::Deref;

use model::Model;

use crate::schema::Schema;
use crate::snapshot::{Snapshot, Tracker};
use crate::Driver;

/// A driver's schema as a test follows it from change to change: the whole snapshot, and,
/// from the first [`assert_change`] on, a [`Tracker`] that reads the snapshot in part.
/// Dereferences to the whole snapshot.
pub struct Followed {
    schema: Schema,
    tracked: Option<(Tracker, Snapshot)>,
}

impl From<Schema> for Followed {
    fn from(schema: Schema) -> Self {
        Followed {
            schema,
            tracked: None,
        }
    }
}

impl Followed {
    /// What the tracker has read so far (`None` before the first change).
    pub fn reads(&self) -> Option<crate::snapshot::Reads> {
        self.tracked.as_ref().map(|(tracker, _)| tracker.reads())
    }
}

impl Deref for Followed {
    type Target = Schema;

    fn deref(&self) -> &Schema {
        &self.schema
    }
}

/// Run `sql` (outside a transaction) on `driver`, take a snapshot and assert that it differs
/// from `before` in exactly the `expected` (object kind, name, property) triples, in the
/// order of [`Schema::differences`]. The snapshot a [`Tracker`] reads in part (where the
/// driver tracks changes) must be the whole one, and must differ from the one before in
/// the same way. Returns the new snapshot, for the next change.
pub async fn assert_change<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    sql: &str,
    expected: &[(&str, &str, &str)],
) -> Followed {
    let before = before.into();
    let previous = before.schema.clone();
    let after = follow(driver, before, sql).await;
    let differences = previous.differences(&after.schema);
    let found: Vec<(&str, &str, &str)> = differences
        .iter()
        .map(|d| (d.object.as_str(), d.name.as_str(), d.property.as_str()))
        .collect();
    let shown: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert_eq!(found, expected, "after {sql}:\n{}", shown.join("\n"));
    after
}

/// Run `sql` (outside a transaction) on `driver` and assert only that the snapshot a
/// [`Tracker`] reads in part afterwards is the whole one, and differs from the one before
/// as the whole ones do: for changes whose differences are many (a renamed table).
pub async fn follow<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    sql: &str,
) -> Followed {
    let mut before = before.into();
    before.start(driver).await;
    driver
        .execute(sql, false)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    compare(driver, before, sql).await
}

impl Followed {
    /// Start the tracker, once, on the schema as it is.
    async fn start<D: Driver + ?Sized>(&mut self, driver: &mut D) {
        if self.tracked.is_some() {
            return;
        }
        let mut tracker = Tracker::start(driver)
            .await
            .unwrap_or_else(|e| panic!("tracking changes: {e}"));
        let first = tracker
            .take(driver)
            .await
            .unwrap_or_else(|e| panic!("first tracked snapshot: {e}"));
        assert_same(&first.schema(), &self.schema, "before the first change");
        self.tracked = Some((tracker, first));
    }
}

/// Take the whole snapshot and the tracked one after `what` ran, and compare them.
async fn compare<D: Driver + ?Sized>(driver: &mut D, mut before: Followed, what: &str) -> Followed {
    let (mut tracker, tracked) = before.tracked.take().expect("started");
    let after = driver
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot after {what}: {e}"));
    let next = tracker
        .take(driver)
        .await
        .unwrap_or_else(|e| panic!("tracked snapshot after {what}: {e}"));
    assert_same(&next.schema(), &after, &format!("after {what}"));
    assert_eq!(
        tracked.differences(&next),
        before.schema.differences(&after),
        "after {what}: the tracked snapshots differ otherwise than the whole ones"
    );
    Followed {
        schema: after,
        tracked: Some((tracker, next)),
    }
}

/// Assert that the snapshot a [`Tracker`] read (`tracked`) is the `whole` one.
fn assert_same(tracked: &Schema, whole: &Schema, when: &str) {
    let differences: Vec<String> = whole
        .differences(tracked)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        differences.is_empty(),
        "{when}: the snapshot read in part is not the whole one (whole → in part):\n{}",
        differences.join("\n")
    );
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

/// Walk `driver`'s schema through `steps` random changes (seeded: the same seed, the same
/// walk) and [`follow`] each: tables with foreign keys to each other, indexes, views, added,
/// renamed and dropped columns, renamed and dropped tables; and what real applications do
/// besides: functions and procedures (PostgreSQL, MySQL) created, replaced and dropped, their
/// bodies reading a table; triggers created, replaced and dropped; views re-created over
/// joins (calling a function where there is one); enum values added (a PostgreSQL enum type,
/// a MySQL `ENUM` column). Statements the database refuses (a view or a key in the way)
/// change nothing, and are followed too. Returns how many ran.
pub async fn wander<D: Driver + ?Sized>(
    driver: &mut D,
    before: impl Into<Followed>,
    dialect: crate::sql::Dialect,
    seed: u64,
    steps: usize,
) -> (Followed, usize) {
    let mut model = Model::seeded(seed);
    let mut followed = before.into();
    followed.start(driver).await;
    let mut ran = 0;
    for _ in 0..steps {
        let (sql, apply) = model.next_change(dialect);
        // A refused statement changes nothing, and is followed all the same.
        let what = match driver.execute(&sql, false).await {
            Ok(()) => {
                ran += 1;
                apply(&mut model);
                sql
            }
            Err(e) => format!("{sql} (refused: {e})"),
        };
        followed = compare(driver, followed, &what).await;
    }
    (followed, ran)
}

/// [`wander`] from the schema as it is now, asserting that at least half the steps ran (the
/// others were refused); returns what the tracker read.
pub async fn wander_here<D: Driver + ?Sized>(
    driver: &mut D,
    dialect: crate::sql::Dialect,
    seed: u64,
    steps: usize,
) -> crate::snapshot::Reads {
    let start = driver
        .snapshot()
        .await
        .unwrap_or_else(|e| panic!("snapshot: {e}"));
    let (followed, ran) = wander(driver, start, dialect, seed, steps).await;
    assert!(
        ran * 2 > steps,
        "seed {seed}: only {ran} of {steps} changes ran"
    );
    followed.reads().expect("tracked")
}
