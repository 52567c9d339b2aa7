//! The driver conformance suite: the same cases, run by every driver crate against its own
//! database with its own connection factory.
//!
//! ```ignore
//! // In a driver crate's tests, with `ferry-core = { features = ["testkit"] }`:
//! ferry_core::testkit::run_conformance(&MyFactory { url }).await;
//! ```
//!
//! Each case uses its own tracking table and its own app and table names, so the cases can
//! share one database. A failing case panics with its name.
//!
//! | file | cases |
//! |---|---|
//! | `driver.rs` | the `Driver` contract itself: table, row changes, transactions, lock, `write` |
//! | `commands.rs` | forwards and backwards through the managers: order, failures, dirty protocol, fake, empty down, `resolve --accept-changed`, backwards fake |
//! | `bookkeeping.rs` | statuses, `clean`, per-app rows, stored down SQL |
//! | `embedded.rs` | embedded migrations are the folder's; `--clean` keeps their files; a missing folder is an error |

mod bookkeeping;
mod commands;
mod driver;
mod embedded;

use chrono::TimeZone;

use crate::driver::{BoxFuture, LockMechanism, TrackingRow};
use crate::{
    AppConfig, AppRegistry, BackwardsMigrationManager, CheckMigrationManager, Driver,
    ForwardsMigrationManager, LockKind, LockOptions, Migration, Migrator, Status, TableName,
};

/// Opens connections to the database under test.
pub trait DriverFactory: Send + Sync {
    /// Open a new connection to the (same) test database with tracking table `table`.
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>>;
}

/// The lease of the lease lock in the suite: short, so that a dropped connection's lease is
/// free again within about a second.
const LEASE: std::time::Duration = std::time::Duration::from_secs(1);

/// Connections of `inner`, each asked for `options`.
struct WithLock<'a> {
    inner: &'a dyn DriverFactory,
    options: LockOptions,
}

impl DriverFactory for WithLock<'_> {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let mut driver = self.inner.connect(table).await;
            driver.set_lock_options(self.options);
            driver
        })
    }
}

/// Run every conformance case with the driver's default lock (`auto`, a 1 s lease where it
/// takes the lease lock). Panics on the first failure, naming the case.
pub async fn run_conformance(factory: &dyn DriverFactory) {
    let options = LockOptions::default().with_lease(LEASE);
    run_cases(&WithLock {
        inner: factory,
        options,
    })
    .await;
}

/// Run every conformance case on the lease lock (`lock = "table"`, a 1 s lease), after
/// checking that the driver takes it. For drivers that offer the lease lock; use a database
/// of its own (the cases reuse their table names).
pub async fn run_lease_conformance(factory: &dyn DriverFactory) {
    let with_lease = WithLock {
        inner: factory,
        options: LockOptions::new(LockKind::Table).with_lease(LEASE),
    };
    let mut probe = with_lease.connect(&TableName::default()).await;
    let choice = probe.lock_choice().await.expect("lock_choice");
    assert_eq!(choice.mechanism, LockMechanism::Lease, "lease: {choice}");
    drop(probe);
    run_cases(&with_lease).await;
}

async fn run_cases(factory: &dyn DriverFactory) {
    driver::table_lifecycle(factory).await;
    driver::row_changes_round_trip(factory).await;
    driver::transaction_is_atomic(factory).await;
    commands::apply_and_reverse(factory).await;
    commands::partial_failure(factory).await;
    commands::no_transaction_and_dirty(factory).await;
    driver::lock_excludes_and_times_out(factory).await;
    driver::write_is_visible_then_committed(factory).await;
    bookkeeping::checksum_missing_and_clean(factory).await;
    bookkeeping::rows_are_filtered_by_app(factory).await;
    bookkeeping::stored_down_sql_and_irreversible(factory).await;
    commands::fake_records_without_running(factory).await;
    commands::empty_down_is_a_no_op(factory).await;
    commands::accept_changed_and_fake_backwards(factory).await;
    embedded::embedded_set_is_the_folder(factory).await;
    embedded::missing_folder_is_an_error(factory).await;
}

pub(super) fn mig(id: &str, up: &str, down: Option<&str>) -> Migration {
    Migration::new(id, format!("migration {id}"), up, down)
}

/// A tracking row whose `applied_at` has microseconds and whose duration no real run takes.
pub(super) fn tracking_row(app: &str, id: &str) -> TrackingRow {
    TrackingRow {
        app_name: app.into(),
        migration_id: id.into(),
        description: format!("migration {id}"),
        checksum: "a".repeat(64),
        down_sql: Some(String::new()),
        applied_at: chrono::Utc
            .with_ymd_and_hms(2024, 2, 29, 23, 59, 58)
            .unwrap()
            + chrono::Duration::microseconds(123_456),
        duration_ms: 999_999,
        dirty: false,
    }
}

pub(super) async fn migrator(
    factory: &dyn DriverFactory,
    table: &str,
    apps: Vec<AppConfig>,
) -> Migrator {
    let table = TableName::parse(table).expect("valid table name");
    let driver = factory.connect(&table).await;
    Migrator::new(AppRegistry::new(apps).expect("valid registry"), driver)
}

pub(super) async fn statuses(m: &mut Migrator, app: &str) -> Vec<(String, Status)> {
    CheckMigrationManager::new(app)
        .get_migration_statuses(m)
        .await
        .expect("check succeeds")
        .into_iter()
        .map(|s| (s.migration_id, s.status))
        .collect()
}

pub(super) fn st(list: &[(&str, Status)]) -> Vec<(String, Status)> {
    list.iter().map(|(i, s)| (i.to_string(), *s)).collect()
}

pub(super) async fn forwards(m: &mut Migrator, app: &str) -> crate::Result<crate::MigrationResult> {
    ForwardsMigrationManager::new(app).run(m).await
}

pub(super) async fn backwards_all(
    m: &mut Migrator,
    app: &str,
) -> crate::Result<crate::MigrationResult> {
    BackwardsMigrationManager {
        migration_id: Some("all".into()),
        auto_agree: true,
        ..BackwardsMigrationManager::new(app)
    }
    .run(m)
    .await
}
