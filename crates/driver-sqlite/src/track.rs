//! Which snapshot owners the SQL run since the last answer changed
//! ([`ferry_core::Driver::track_changes`] / [`ferry_core::Driver::changed_owners`], for
//! `verify`). An owner is the lower-cased `tbl_name` of `sqlite_schema` rows (see
//! [`crate::snapshot`]). The answer must be sound: an owner it does not name has the same
//! part as at the last answer, unless it depends on one named. Where this module cannot be
//! sure, it answers `None` and the caller reads everything.
//!
//! SQLite's authorizer reports, while a statement is prepared, every action in it with the
//! names it acts on and their database. The one installed here always allows; it only
//! observes, and costs a `match` for what changes no schema (every query's reads among it):
//!
//! - **Seen through**: `CREATE` / `DROP` of a table, view, index or trigger in `main` changes
//!   the owner it names (an index's or trigger's table, a view) and no other. The writes to
//!   `sqlite_schema` SQLite makes for them are its own; a user's write there needs
//!   `writable_schema` (below). An owner whose last change is a `DROP TABLE` / `DROP VIEW`
//!   that ran has no rows left: [`Tracking::empty`] says so, and it is not read.
//! - **Not seen through**: `ALTER TABLE` (`RENAME` rewrites other tables', views' and
//!   triggers' text; any `ALTER` makes SQLite parse the whole schema again), a virtual table
//!   (its module creates tables of its own), `CREATE` / `DROP` in an attached database (it
//!   may be the main database's file under another name), `ROLLBACK` and `ROLLBACK TO`, an
//!   action this module does not know. Before such a statement of a batch runs,
//!   [`Tracking::before_step`] remembers the `sqlite_schema` rows by owner (type, name,
//!   `tbl_name`, sql; not `rootpage`, which moves without the schema changing), and the
//!   answer adds every owner whose rows differ from them, appeared or vanished. What the
//!   snapshot reads of an owner derives from its rows (the pragmas parse them), or from the
//!   owners it depends on.
//! - **Lost track** (that answer is `None`): such a statement outside a batch of
//!   [`crate::conn`] (ferry's own `ROLLBACK TO` after a failed step) or reported only while a
//!   statement runs (`VACUUM` builds its copy in a database it attaches), a transaction
//!   rolled back (the rollback hook: also the implicit rollbacks of `OR ROLLBACK` and
//!   `RAISE(ROLLBACK)`, which no statement names), the rows not readable.
//! - **Off for good** (every answer `None`): `PRAGMA writable_schema` (rows can then be
//!   written as data, and differ from what SQLite parsed from them), or a table or view whose
//!   name has a dot (the snapshot names objects `table.column`, `table.trigger`, ..., so the
//!   parts of `a` and `a.b` could hold objects of the same name, and parts must not). Also
//!   when SQLite refused a statement because the authorizer failed (rusqlite fails it on a
//!   name that is not UTF-8): the hooks are taken off and the statement runs without them.
//!
//! [`Tracking::attach`] makes SQLite parse the schema again, so that what the pragmas say is
//! the rows as they are even where they were written by hand before (else the first `ALTER
//! TABLE` would change parts no action named); with `writable_schema` on, tracking is off.
//! Objects in `temp` are not in the snapshot, and their actions are ignored. The hooks keep
//! their state behind a mutex shared with the [`Tracking`], never held while SQLite runs
//! (the hooks are called from inside SQLite).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferry_core::driver::DriverResult;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization, TransactionOperation};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::error::db_error;
use crate::snapshot::owner_of;

/// The change tracking of one connection: what its hooks saw since the last answer.
#[derive(Clone, Default)]
pub(crate) struct Tracking {
    seen: Arc<Mutex<Seen>>,
}

#[derive(Default)]
struct Seen {
    /// Owners changed by statements seen through.
    owners: BTreeSet<String>,
    /// A statement not seen through was prepared, and its rows are not remembered yet.
    pending: bool,
    /// The `sqlite_schema` rows before the first statement not seen through, since the last
    /// answer.
    before: Option<Rows>,
    /// Track lost since the last answer.
    lost: bool,
    /// Tracking off for good.
    off: bool,
    /// Whether the hooks are on the connection.
    hooked: bool,
    /// Owners the statement running now drops (`DROP TABLE`, `DROP VIEW`).
    dropping: BTreeSet<String>,
    /// Owners whose last change since the last answer is a drop that ran: they have no rows.
    dropped: BTreeSet<String>,
    /// Owners the last answer named that had no rows then, while nothing changed since.
    empty: BTreeSet<String>,
}

/// The rows of `sqlite_schema` by owner: type, name, `tbl_name` and sql, sorted.
type Rows = BTreeMap<String, Vec<[Field; 4]>>;

/// A value as SQLite stores it: its type (null, integer, real, text, blob) and its bytes.
/// Names are compared as bytes, as SQLite keeps them (they need not be UTF-8).
type Field = (u8, Vec<u8>);

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tracking {
    /// Start tracking on `conn`, when the database is open (else [`Tracking::attach`] it when
    /// it opens).
    pub(crate) fn start(conn: Option<&Connection>) -> Tracking {
        let tracking = Tracking::default();
        if let Some(conn) = conn {
            tracking.attach(conn);
        }
        tracking
    }

    /// Track the changes of `conn`: install the hooks, and turn tracking off at once where it
    /// cannot be sound (see the module documentation), or cannot tell.
    pub(crate) fn attach(&self, conn: &Connection) {
        let sound = || -> rusqlite::Result<bool> {
            let writable: bool = conn.query_row("PRAGMA writable_schema", [], |r| r.get(0))?;
            let dotted: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM main.sqlite_schema WHERE instr(tbl_name, '.'))",
                [],
                |r| r.get(0),
            )?;
            if writable || dotted {
                return Ok(false);
            }
            // What SQLite parsed from `sqlite_schema` (what the pragmas read) is the rows
            // unless they were written by hand on this connection: parse them again (this
            // leaves `writable_schema` off, as it is).
            conn.execute_batch("PRAGMA writable_schema = RESET")?;
            Ok(true)
        };
        let off = !sound().unwrap_or(false);
        lock(&self.seen).off = off;
        self.install(conn);
    }

    /// Install the hooks on `conn` (replacing any earlier ones).
    fn install(&self, conn: &Connection) {
        let seen = Arc::clone(&self.seen);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            observe(&seen, &ctx);
            Authorization::Allow
        }));
        let seen = Arc::clone(&self.seen);
        conn.rollback_hook(Some(move || {
            let mut seen = lock(&seen);
            seen.lost = true;
            seen.empty.clear();
        }));
        lock(&self.seen).hooked = true;
    }

    /// Whether the hooks are on the connection.
    pub(crate) fn is_hooked(&self) -> bool {
        lock(&self.seen).hooked
    }

    /// Stop tracking for good, and take the hooks off `conn`: when SQLite refused a
    /// statement because the authorizer failed (rusqlite fails it on a name that is not
    /// UTF-8), or once tracking is off anyway.
    pub(crate) fn stop(&self, conn: &Connection) {
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        conn.rollback_hook(None::<fn()>);
        let mut seen = lock(&self.seen);
        seen.off = true;
        seen.hooked = false;
    }

    /// A batch starts: a statement not seen through that was prepared since the last one
    /// ran outside a batch, before its rows were remembered.
    pub(crate) fn before_batch(&self) {
        let mut seen = lock(&self.seen);
        if seen.pending {
            seen.pending = false;
            seen.lost = true;
        }
        seen.dropping.clear();
        seen.empty.clear();
    }

    /// A statement of a batch is prepared and about to run: when it is not seen through,
    /// remember the rows as they are before it (if not remembered since the last answer).
    pub(crate) fn before_step(&self, conn: &Connection) {
        {
            let mut seen = lock(&self.seen);
            if !seen.pending {
                return;
            }
            seen.pending = false;
            if seen.before.is_some() || seen.lost || seen.off {
                return;
            }
        }
        // Not under the lock: the query's own preparation calls the authorizer.
        let rows = rows(conn);
        let mut seen = lock(&self.seen);
        match rows {
            Ok(rows) => seen.before = Some(rows),
            Err(_) => seen.lost = true,
        }
    }

    /// A statement of a batch ran (`ran`: without an error). One not seen through that was
    /// prepared while it ran (SQLite prepares again a statement whose schema changed) was not
    /// remembered before. What it dropped is gone when it ran.
    pub(crate) fn after_step(&self, ran: bool) {
        let mut seen = lock(&self.seen);
        if seen.pending {
            seen.pending = false;
            seen.lost = true;
        }
        let dropping = std::mem::take(&mut seen.dropping);
        if ran {
            seen.dropped.extend(dropping);
        }
    }

    /// The owners the last answer named that have no rows now: those whose last change was
    /// a drop, when nothing changed since the answer. Empty when not known.
    pub(crate) fn empty(&self) -> BTreeSet<String> {
        lock(&self.seen).empty.clone()
    }

    /// The owners changed since the last answer, and forget them; `None` when track was lost
    /// (see the module documentation).
    pub(crate) fn changed_owners(
        &self,
        conn: Option<&Connection>,
    ) -> DriverResult<Option<BTreeSet<String>>> {
        let (owners, before) = {
            let mut seen = lock(&self.seen);
            let owners = std::mem::take(&mut seen.owners);
            let before = seen.before.take();
            let dropped = std::mem::take(&mut seen.dropped);
            seen.dropping.clear();
            seen.empty.clear();
            let lost = std::mem::take(&mut seen.lost) || std::mem::take(&mut seen.pending);
            let (off, hooked) = (seen.off, seen.hooked);
            if !off && !lost && before.is_none() {
                seen.empty = dropped;
            }
            drop(seen);
            if off {
                if let (true, Some(conn)) = (hooked, conn) {
                    self.stop(conn);
                }
                return Ok(None);
            }
            if lost {
                return Ok(None);
            }
            (owners, before)
        };
        let (Some(before), Some(conn)) = (before, conn) else {
            return Ok(Some(owners));
        };
        let now = rows(conn)?;
        let mut owners = owners;
        for (owner, rows) in &now {
            if before.get(owner) != Some(rows) {
                owners.insert(owner.clone());
            }
        }
        owners.extend(before.into_keys().filter(|owner| !now.contains_key(owner)));
        if now.keys().any(|owner| owner.contains('.')) {
            lock(&self.seen).off = true;
            return Ok(None);
        }
        Ok(Some(owners))
    }
}

/// The database an action acts on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Database {
    /// `main` (also an action that names none).
    Main,
    /// `temp`: never the main database's file.
    Temp,
    /// An attached database, which may be the main database's file under another name.
    Attached,
}

fn database(name: Option<&str>) -> Database {
    match name {
        None => Database::Main,
        Some(name) if name.eq_ignore_ascii_case("main") => Database::Main,
        Some(name) if name.eq_ignore_ascii_case("temp") => Database::Temp,
        Some(_) => Database::Attached,
    }
}

/// What an action tells about the schema of `main`.
enum Effect<'a> {
    /// Nothing: data, reads, `temp` and attached databases, ...
    None,
    /// It creates objects of this owner, and changes no other owner.
    Creates(&'a str),
    /// It drops the table or view, and with it every object of this owner, and changes no
    /// other owner.
    Drops(&'a str),
    /// It drops an index or trigger of this owner, and changes no other owner.
    Changes(&'a str),
    /// It may change any owner.
    Unknown,
    /// Tracking cannot be sound from now on.
    Off,
}

fn effect<'a>(ctx: &AuthContext<'a>) -> Effect<'a> {
    // `temp` is not in the snapshot; an attached database may be the main database's file
    // under another name, and what changes there is not seen through.
    let in_database = |effect: Effect<'a>| match database(ctx.database_name) {
        Database::Main => effect,
        Database::Temp => Effect::None,
        Database::Attached => Effect::Unknown,
    };
    match ctx.action {
        AuthAction::CreateTable { table_name: name }
        | AuthAction::CreateView { view_name: name } => in_database(if name.contains('.') {
            Effect::Off
        } else {
            Effect::Creates(name)
        }),
        AuthAction::CreateIndex { table_name, .. }
        | AuthAction::CreateTrigger { table_name, .. } => in_database(Effect::Creates(table_name)),
        AuthAction::DropTable { table_name: name } | AuthAction::DropView { view_name: name } => {
            in_database(Effect::Drops(name))
        }
        AuthAction::DropIndex { table_name, .. } | AuthAction::DropTrigger { table_name, .. } => {
            in_database(Effect::Changes(table_name))
        }
        AuthAction::CreateVtable { .. } | AuthAction::DropVtable { .. } => {
            in_database(Effect::Unknown)
        }
        // The database is the action's first argument (the context's is not always given,
        // or is another name).
        AuthAction::AlterTable { database_name, .. } => match database(Some(database_name)) {
            Database::Temp => Effect::None,
            Database::Main | Database::Attached => Effect::Unknown,
        },
        AuthAction::Transaction {
            operation: TransactionOperation::Rollback,
        }
        | AuthAction::Savepoint {
            operation: TransactionOperation::Rollback,
            ..
        } => Effect::Unknown,
        AuthAction::Pragma { pragma_name, .. }
            if pragma_name.eq_ignore_ascii_case("writable_schema") =>
        {
            Effect::Off
        }
        AuthAction::CreateTempIndex { .. }
        | AuthAction::CreateTempTable { .. }
        | AuthAction::CreateTempTrigger { .. }
        | AuthAction::CreateTempView { .. }
        | AuthAction::DropTempIndex { .. }
        | AuthAction::DropTempTable { .. }
        | AuthAction::DropTempTrigger { .. }
        | AuthAction::DropTempView { .. }
        | AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Insert { .. }
        | AuthAction::Update { .. }
        | AuthAction::Delete { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive
        | AuthAction::Pragma { .. }
        | AuthAction::Transaction { .. }
        | AuthAction::Savepoint { .. }
        | AuthAction::Attach { .. }
        | AuthAction::Detach { .. }
        | AuthAction::Reindex { .. }
        | AuthAction::Analyze { .. } => Effect::None,
        _ => Effect::Unknown,
    }
}

/// The authorizer's work: note what `ctx` tells. Cheap for what changes nothing (most
/// actions, those of every query among them): no lock, no allocation.
fn observe(seen: &Mutex<Seen>, ctx: &AuthContext<'_>) {
    let (name, effect) = match effect(ctx) {
        Effect::None => return,
        Effect::Unknown => {
            let mut seen = lock(seen);
            seen.pending = true;
            seen.empty.clear();
            return;
        }
        Effect::Off => {
            lock(seen).off = true;
            return;
        }
        Effect::Creates(name) => (name, Effect::Creates(name)),
        Effect::Drops(name) => (name, Effect::Drops(name)),
        Effect::Changes(name) => (name, Effect::Changes(name)),
    };
    let owner = owner_of(name);
    let mut seen = lock(seen);
    seen.empty.clear();
    match effect {
        Effect::Creates(_) => {
            seen.dropping.remove(&owner);
            seen.dropped.remove(&owner);
        }
        Effect::Drops(_) => {
            seen.dropping.insert(owner.clone());
        }
        _ => {}
    }
    seen.owners.insert(owner);
}

/// Every row of `sqlite_schema` in `main`, by owner.
fn rows(conn: &Connection) -> DriverResult<Rows> {
    let mut statement = conn
        .prepare_cached("SELECT type, name, tbl_name, sql FROM main.sqlite_schema")
        .map_err(db_error)?;
    let mut rows = statement.query([]).map_err(db_error)?;
    let mut by_owner = Rows::new();
    while let Some(row) = rows.next().map_err(db_error)? {
        let mut fields: [Field; 4] = Default::default();
        for (i, field) in fields.iter_mut().enumerate() {
            *field = match row.get_ref(i).map_err(db_error)? {
                ValueRef::Null => (0, Vec::new()),
                ValueRef::Integer(v) => (1, v.to_be_bytes().to_vec()),
                ValueRef::Real(v) => (2, v.to_bits().to_be_bytes().to_vec()),
                ValueRef::Text(v) => (3, v.to_vec()),
                ValueRef::Blob(v) => (4, v.to_vec()),
            };
        }
        let owner = match &fields[2] {
            (3 | 4, name) => owner_of(&String::from_utf8_lossy(name)),
            _ => String::new(),
        };
        by_owner.entry(owner).or_default().push(fields);
    }
    for rows in by_owner.values_mut() {
        rows.sort();
    }
    Ok(by_owner)
}
