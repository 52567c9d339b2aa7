//! Snapshots in parts, read again only where the schema changed (`verify`, SPEC §9.3).
//!
//! A [`Snapshot`] is the schema as parts by owner ([`Part`]: a table with its columns,
//! indexes, constraints and triggers, a view, a function, ...), each part shared between the
//! snapshots it is the same in. A [`Tracker`] takes one snapshot after another on a driver
//! that can say which owners changed since the last one ([`Driver::changed_owners`]): the
//! first snapshot is read whole; each later one reads again only the changed owners and the
//! owners that depend on them ([`Part::depends_on`], followed to the end), and shares every
//! other part with the snapshot before. Comparing two snapshots skips the parts they share.
//! So a step's snapshot and comparison cost what the step changed, not what the schema holds.
//!
//! The driver's answer must be sound: an owner it does not name did not change. Where a
//! driver cannot tell (a statement it cannot see through, an error), it says so and the
//! snapshot is read whole.
//!
//! ```
//! use ferry_core::snapshot::Tracker;
//! use ferry_core::testkit::{block_on, MemoryDriver};
//! use ferry_core::Driver;
//!
//! let mut d = MemoryDriver::new();
//! let mut tracker = block_on(Tracker::start(&mut d)).unwrap();
//! let before = block_on(tracker.take(&mut d)).unwrap();
//! block_on(d.execute("CREATE TABLE t (id INT)", false)).unwrap();
//! let after = block_on(tracker.take(&mut d)).unwrap();
//! let differences = before.differences(&after);
//! assert_eq!(differences[0].to_string(), "table t: exists no → yes");
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::driver::{Driver, DriverResult};
use crate::schema::{Difference, Part, Schema};

/// A schema snapshot as parts by owner, each part shared with the snapshots it is the same in.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    parts: BTreeMap<Arc<str>, Arc<Part>>,
}

impl Snapshot {
    /// A snapshot of these parts.
    pub fn from_parts(parts: BTreeMap<String, Part>) -> Self {
        Snapshot {
            parts: parts
                .into_iter()
                .map(|(owner, part)| (Arc::from(owner), Arc::new(part)))
                .collect(),
        }
    }

    /// Every object, of every part.
    pub fn schema(&self) -> Schema {
        let mut schema = Schema::default();
        for part in self.parts.values() {
            schema.extend(part.objects.clone());
        }
        schema
    }

    /// The owners and their parts, ordered by owner.
    pub fn parts(&self) -> impl Iterator<Item = (&str, &Part)> {
        self.parts
            .iter()
            .map(|(owner, part)| (owner.as_ref(), part.as_ref()))
    }

    /// What differs from `self` (before) to `after`, as [`Schema::differences`] says it of
    /// their whole schemas; the parts both share are not looked at.
    pub fn differences(&self, after: &Snapshot) -> Vec<Difference> {
        let mut before_objects = Schema::default();
        let mut after_objects = Schema::default();
        // Both maps in step, by owner: a shared part costs a comparison of pointers.
        let (mut a, mut b) = (self.parts.iter().peekable(), after.parts.iter().peekable());
        loop {
            let order = match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (Some((x, _)), Some((y, _))) if Arc::ptr_eq(x, y) => Ordering::Equal,
                (Some((x, _)), Some((y, _))) => x.cmp(y),
            };
            let before_part = if order.is_le() { a.next() } else { None }.map(|(_, p)| p);
            let after_part = if order.is_ge() { b.next() } else { None }.map(|(_, p)| p);
            if let (Some(x), Some(y)) = (before_part, after_part) {
                if Arc::ptr_eq(x, y) {
                    continue;
                }
            }
            // An object is in one part of a snapshot only, so the objects of the parts not
            // shared differ exactly as the whole schemas do.
            if let Some(part) = before_part {
                before_objects.extend(part.objects.clone());
            }
            if let Some(part) = after_part {
                after_objects.extend(part.objects.clone());
            }
        }
        before_objects.differences(&after_objects)
    }
}

/// What a [`Tracker`] has read so far: for `-v` and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reads {
    /// Snapshots read whole.
    pub whole: u64,
    /// Snapshots read in part (or not at all: nothing changed).
    pub partial: u64,
    /// Owners read again by the partial snapshots.
    pub owners: u64,
}

/// Takes one snapshot after another on one driver, reading again only what changed (see the
/// module documentation).
#[derive(Debug, Default)]
pub struct Tracker {
    /// Whether the driver says which owners changed.
    incremental: bool,
    /// The last snapshot, when the next may be read in part from it.
    current: Option<Snapshot>,
    /// For each owner, the owners whose parts depend on it (in `current`).
    dependents: BTreeMap<String, BTreeSet<String>>,
    reads: Reads,
}

impl Tracker {
    /// Start tracking changes on `driver` ([`Driver::track_changes`]). Where the driver
    /// cannot, every snapshot is read whole.
    pub async fn start<D: Driver + ?Sized>(driver: &mut D) -> DriverResult<Tracker> {
        let incremental = driver.track_changes().await?;
        Ok(Tracker {
            incremental,
            ..Tracker::default()
        })
    }

    /// Whether snapshots after the first are read in part.
    pub fn is_incremental(&self) -> bool {
        self.incremental
    }

    /// What was read so far.
    pub fn reads(&self) -> Reads {
        self.reads
    }

    /// Read the next snapshot whole: after a step that failed, whose changes the driver may
    /// not have seen through.
    pub fn forget(&mut self) {
        self.current = None;
    }

    /// The schema now.
    pub async fn take<D: Driver + ?Sized>(&mut self, driver: &mut D) -> DriverResult<Snapshot> {
        // Always asked, so that what the driver collected is consumed by this snapshot.
        let changed = if self.incremental {
            driver.changed_owners().await?
        } else {
            None
        };
        let (true, Some(changed)) = (self.current.is_some(), changed) else {
            return self.read_whole(driver).await;
        };
        let mut owners = changed.clone();
        let mut queue: Vec<String> = changed.into_iter().collect();
        while let Some(owner) = queue.pop() {
            for dependent in self.dependents.get(&owner).into_iter().flatten() {
                if owners.insert(dependent.clone()) {
                    queue.push(dependent.clone());
                }
            }
        }
        self.reads.partial += 1;
        if owners.is_empty() {
            return Ok(self.current.clone().unwrap_or_default());
        }
        self.reads.owners += owners.len() as u64;
        let parts = driver.snapshot_parts(Some(&owners)).await?;
        // Taken, not copied: one copy of the map per snapshot, the one returned.
        let mut next = self.current.take().unwrap_or_default();
        for owner in &owners {
            if let Some(old) = next.parts.remove(owner.as_str()) {
                self.unlink(owner, &old);
            }
        }
        for (owner, part) in parts {
            if let Some(old) = next.parts.remove(owner.as_str()) {
                self.unlink(&owner, &old);
            }
            self.link(&owner, &part);
            next.parts.insert(Arc::from(owner), Arc::new(part));
        }
        self.current = Some(next.clone());
        Ok(next)
    }

    async fn read_whole<D: Driver + ?Sized>(&mut self, driver: &mut D) -> DriverResult<Snapshot> {
        self.reads.whole += 1;
        self.current = None;
        let parts = driver.snapshot_parts(None).await?;
        self.dependents.clear();
        for (owner, part) in &parts {
            self.link(owner, part);
        }
        let snapshot = Snapshot::from_parts(parts);
        if self.incremental {
            self.current = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    fn link(&mut self, owner: &str, part: &Part) {
        for target in &part.depends_on {
            self.dependents
                .entry(target.clone())
                .or_default()
                .insert(owner.to_owned());
        }
    }

    fn unlink(&mut self, owner: &str, part: &Part) {
        for target in &part.depends_on {
            if let Some(dependents) = self.dependents.get_mut(target) {
                dependents.remove(owner);
                if dependents.is_empty() {
                    self.dependents.remove(target);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(objects: &[(&str, &str, &str)], depends_on: &[&str]) -> Part {
        let mut schema = Schema::default();
        for (kind, name, value) in objects {
            schema.add(*kind, *name).set("value", *value);
        }
        Part {
            objects: schema,
            depends_on: depends_on.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn differences_skip_shared_parts_and_match_the_whole_schemas() {
        let mut parts = BTreeMap::new();
        parts.insert("a".to_owned(), part(&[("table", "a", "1")], &[]));
        parts.insert("b".to_owned(), part(&[("table", "b", "1")], &[]));
        let before = Snapshot::from_parts(parts);
        let mut after = before.clone();
        // An index moves from a's part to c's: one difference of property, as whole
        // schemas would show it.
        after.parts.insert(
            Arc::from("a"),
            Arc::new(part(&[("table", "a", "1"), ("index", "i", "on a")], &[])),
        );
        let with_index = after.clone();
        after
            .parts
            .insert(Arc::from("a"), Arc::new(part(&[("table", "a", "1")], &[])));
        after.parts.insert(
            Arc::from("c"),
            Arc::new(part(&[("index", "i", "on c")], &[])),
        );
        let found = with_index.differences(&after);
        assert_eq!(found, with_index.schema().differences(&after.schema()));
        assert_eq!(found[0].to_string(), "index i: value on a → on c");
        assert!(before.differences(&before.clone()).is_empty());
        // Owners on one side only, interleaved with shared and changed ones.
        let mut interleaved = before.clone();
        interleaved.parts.remove("a");
        for (owner, table) in [("0", "z0"), ("aa", "z1"), ("c", "z2")] {
            interleaved.parts.insert(
                Arc::from(owner),
                Arc::new(part(&[("table", table, "1")], &[])),
            );
        }
        interleaved
            .parts
            .insert(Arc::from("b"), Arc::new(part(&[("table", "b", "2")], &[])));
        for (x, y) in [(&before, &interleaved), (&interleaved, &before)] {
            assert_eq!(x.differences(y), x.schema().differences(&y.schema()));
        }
        assert_eq!(before.differences(&interleaved).len(), 5);
    }
}
