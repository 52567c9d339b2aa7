//! Conformance cases through the managers: order, failures, the dirty protocol, fake, empty down sections.

use std::time::Duration;

use crate::driver::RowChange;
use crate::{
    AppConfig, BackwardsMigrationManager, DriverErrorKind, Error, ForwardsMigrationManager,
    ResolveManager, Status,
};

use super::*;

/// Forwards applies in ID order with rows in apply order; backwards reverses newest first.
pub(super) async fn apply_and_reverse(factory: &dyn DriverFactory) {
    let apps = vec![AppConfig::embedded(
        "ck_app",
        vec![
            mig(
                "10",
                "INSERT INTO ck_people (id) VALUES (1);",
                Some("DELETE FROM ck_people;"),
            ),
            mig(
                "007",
                "CREATE TABLE ck_people (id INTEGER PRIMARY KEY);",
                Some("DROP TABLE ck_people;"),
            ),
            mig(
                "9",
                "CREATE TABLE ck_pets (id INTEGER PRIMARY KEY);",
                Some("DROP TABLE ck_pets;"),
            ),
        ],
    )];
    let mut m = migrator(factory, "ck_apply_trk", apps).await;
    let r = forwards(&mut m, "ck_app")
        .await
        .expect("apply_and_reverse: forwards");
    assert!(r.success);
    let ids: Vec<_> = r
        .migrations
        .iter()
        .map(|p| p.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["007", "9", "10"], "apply_and_reverse: ID order");
    let rows = m.driver_mut().applied(Some("ck_app")).await.unwrap();
    let row_ids: Vec<_> = rows.iter().map(|r| r.migration_id.as_str()).collect();
    assert_eq!(
        row_ids,
        ["007", "9", "10"],
        "apply_and_reverse: apply order and exact IDs"
    );
    assert!(rows.windows(2).all(|w| w[0].row_id < w[1].row_id));
    assert!(rows.iter().all(|r| !r.dirty && r.checksum.len() == 64));

    let again = forwards(&mut m, "ck_app").await.unwrap();
    assert!(
        again.success && again.migrations.is_empty(),
        "apply_and_reverse: second run does nothing"
    );

    let one = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_app")
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(
        one.migrations[0].migration_id, "10",
        "apply_and_reverse: `1` reverses the newest"
    );
    let rest = backwards_all(&mut m, "ck_app").await.unwrap();
    let ids: Vec<_> = rest
        .migrations
        .iter()
        .map(|p| p.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["9", "007"], "apply_and_reverse: newest first");
    assert!(m
        .driver_mut()
        .applied(Some("ck_app"))
        .await
        .unwrap()
        .is_empty());
    // The tables are gone: applying again works.
    forwards(&mut m, "ck_app")
        .await
        .expect("apply_and_reverse: re-apply after reversal");
    backwards_all(&mut m, "ck_app").await.unwrap();
}

/// A failing migration stops the run: earlier ones stay, the failing one leaves no row.
pub(super) async fn partial_failure(factory: &dyn DriverFactory) {
    let apps = vec![AppConfig::embedded(
        "ck_fail",
        vec![
            mig("1", "CREATE TABLE ck_fail_a (id INTEGER PRIMARY KEY);", Some("DROP TABLE ck_fail_a;")),
            mig("2", "INSERT INTO ck_fail_a (id) VALUES (1);\nINSERT INTO ck_no_such_table (id) VALUES (1);", Some("")),
            mig("3", "CREATE TABLE ck_fail_c (id INTEGER PRIMARY KEY);", Some("DROP TABLE ck_fail_c;")),
        ],
    )];
    let mut m = migrator(factory, "ck_partial_trk", apps).await;
    let err = forwards(&mut m, "ck_fail")
        .await
        .expect_err("partial_failure: forwards must fail");
    match &err {
        Error::Execute {
            app,
            id,
            line,
            source,
            ..
        } => {
            assert_eq!(
                (app.as_str(), id.as_str()),
                ("ck_fail", "2"),
                "partial_failure: names the migration"
            );
            assert_eq!(source.kind, DriverErrorKind::Query);
            if let Some(line) = line {
                assert_eq!(*line, 2, "partial_failure: error line within the section");
            }
        }
        other => panic!("partial_failure: unexpected error {other:?}"),
    }
    let expected = [
        ("1", Status::Applied),
        ("2", Status::Pending),
        ("3", Status::Pending),
    ];
    assert_eq!(
        statuses(&mut m, "ck_fail").await,
        st(&expected),
        "partial_failure: statuses"
    );
    // The failed migration's first statement was rolled back with it (where DML is transactional).
    let mut fixed = migrator(
        factory,
        "ck_partial_trk",
        vec![AppConfig::embedded(
            "ck_fail",
            vec![
                mig(
                    "1",
                    "CREATE TABLE ck_fail_a (id INTEGER PRIMARY KEY);",
                    Some("DROP TABLE ck_fail_a;"),
                ),
                mig(
                    "2",
                    "INSERT INTO ck_fail_a (id) VALUES (1);",
                    Some("DELETE FROM ck_fail_a;"),
                ),
                mig(
                    "3",
                    "CREATE TABLE ck_fail_c (id INTEGER PRIMARY KEY);",
                    Some("DROP TABLE ck_fail_c;"),
                ),
            ],
        )],
    )
    .await;
    forwards(&mut fixed, "ck_fail")
        .await
        .expect("partial_failure: the rolled-back insert does not collide");
    backwards_all(&mut fixed, "ck_fail").await.unwrap();
}

/// `no-transaction` sections run under the dirty protocol; a failure leaves a dirty row that
/// blocks both directions until resolved.
pub(super) async fn no_transaction_and_dirty(factory: &dyn DriverFactory) {
    let good = mig(
        "1",
        "CREATE TABLE ck_nt (id INTEGER PRIMARY KEY);",
        Some("DROP TABLE ck_nt;"),
    )
    .with_no_transaction(true, true);
    // Two statements, the first succeeding: where the driver counts statements (SPEC §14), a
    // failing first statement would leave no dirty row.
    let bad = mig(
        "2",
        "INSERT INTO ck_nt (id) VALUES (1);\nINSERT INTO ck_nt_missing (id) VALUES (1);",
        Some(""),
    )
    .with_no_transaction(true, false);
    let mut m = migrator(
        factory,
        "ck_dirty_trk",
        vec![AppConfig::embedded("ck_nt", vec![good, bad])],
    )
    .await;
    assert!(
        forwards(&mut m, "ck_nt").await.is_err(),
        "no_transaction: migration 2 must fail"
    );
    let expected = [("1", Status::Applied), ("2", Status::Dirty)];
    assert_eq!(
        statuses(&mut m, "ck_nt").await,
        st(&expected),
        "no_transaction: dirty row visible"
    );
    assert!(
        matches!(forwards(&mut m, "ck_nt").await, Err(Error::Dirty { .. })),
        "no_transaction: forwards refuses while dirty"
    );
    assert!(
        matches!(
            backwards_all(&mut m, "ck_nt").await,
            Err(Error::Dirty { .. })
        ),
        "no_transaction: backwards refuses while dirty"
    );
    ResolveManager {
        applied: false,
        ..ResolveManager::new("ck_nt", "2")
    }
    .run(&mut m)
    .await
    .expect("no_transaction: resolve --reverted");
    assert_eq!(
        statuses(&mut m, "ck_nt").await,
        st(&[("1", Status::Applied), ("2", Status::Pending)])
    );
    assert!(
        ResolveManager::new("ck_nt", "1").run(&mut m).await.is_err(),
        "no_transaction: resolving a clean row is an error"
    );
    // resolve --applied keeps the row.
    m.driver_mut().lock(Duration::from_secs(5)).await.unwrap();
    m.driver_mut()
        .write(&RowChange::MarkDirty {
            app_name: "ck_nt".into(),
            migration_id: "1".into(),
        })
        .await
        .unwrap();
    m.driver_mut().unlock().await.unwrap();
    ResolveManager::new("ck_nt", "1")
        .run(&mut m)
        .await
        .expect("no_transaction: resolve --applied");
    assert_eq!(statuses(&mut m, "ck_nt").await[0].1, Status::Applied);
    let r = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_nt")
    }
    .run(&mut m)
    .await
    .expect("no_transaction: reversal outside a transaction");
    assert_eq!(r.migrations.len(), 1);
    assert!(m
        .driver_mut()
        .applied(Some("ck_nt"))
        .await
        .unwrap()
        .is_empty());
}

/// `fake` records without running the SQL.
pub(super) async fn fake_records_without_running(factory: &dyn DriverFactory) {
    let fake = vec![mig(
        "1",
        "CREATE TABLE ck_fake (id INTEGER);",
        Some("DROP TABLE ck_fake;"),
    )];
    let mut m = migrator(
        factory,
        "ck_fake_trk",
        vec![AppConfig::embedded("ck_fk", fake)],
    )
    .await;
    let r = ForwardsMigrationManager {
        fake: true,
        auto_agree: true,
        ..ForwardsMigrationManager::new("ck_fk")
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(r.migrations.len(), 1);
    assert_eq!(
        statuses(&mut m, "ck_fk").await,
        st(&[("1", Status::Applied)])
    );
    let real = vec![mig(
        "1",
        "CREATE TABLE ck_fake (id INTEGER);",
        Some("DROP TABLE ck_fake;"),
    )];
    let mut m2 = migrator(
        factory,
        "ck_fake_trk",
        vec![AppConfig::embedded("ck_fk2", real)],
    )
    .await;
    forwards(&mut m2, "ck_fk2")
        .await
        .expect("fake: the table was not created");
    backwards_all(&mut m2, "ck_fk2").await.unwrap();
}

/// An empty down section reverses by deleting the row only.
pub(super) async fn empty_down_is_a_no_op(factory: &dyn DriverFactory) {
    let list = vec![
        mig(
            "1",
            "CREATE TABLE ck_noop (id INTEGER);",
            Some("-- nothing to undo\n"),
        ),
        mig("2", "CREATE TABLE ck_noop_empty (id INTEGER);", Some("")),
    ];
    let mut m = migrator(
        factory,
        "ck_noop_trk",
        vec![AppConfig::embedded("ck_no", list)],
    )
    .await;
    forwards(&mut m, "ck_no").await.unwrap();
    let rows = m.driver_mut().applied(Some("ck_no")).await.unwrap();
    assert_eq!(
        rows[1].down_sql.as_deref(),
        Some(""),
        "empty down: stored as ''"
    );
    backwards_all(&mut m, "ck_no")
        .await
        .expect("empty down: reversal succeeds");
    assert!(m
        .driver_mut()
        .applied(Some("ck_no"))
        .await
        .unwrap()
        .is_empty());
    // The table is still there: a migration dropping it works.
    let drop = vec![mig("1", "DROP TABLE ck_noop;", None)];
    let mut m2 = migrator(
        factory,
        "ck_noop_trk",
        vec![AppConfig::embedded("ck_no2", drop)],
    )
    .await;
    forwards(&mut m2, "ck_no2")
        .await
        .expect("empty down: nothing ran");
}

/// `resolve --accept-changed` writes the file's checksum and down section into the row
/// (`RowChange::AcceptChanged` through the driver's bound parameters), and `backwards --fake`
/// deletes the row without running the down SQL.
pub(super) async fn accept_changed_and_fake_backwards(factory: &dyn DriverFactory) {
    let first = vec![mig(
        "1",
        "CREATE TABLE ck_acc (id INTEGER);",
        Some("DROP TABLE ck_acc;"),
    )];
    let mut m = migrator(
        factory,
        "ck_acc_trk",
        vec![AppConfig::embedded("ck_acc", first)],
    )
    .await;
    forwards(&mut m, "ck_acc").await.unwrap();
    let up = "CREATE TABLE ck_acc (id INTEGER); -- it's edited";
    let down = "DROP TABLE ck_acc; -- \"edited\" too";
    let edited = vec![mig("1", up, Some(down))];
    let mut m = migrator(
        factory,
        "ck_acc_trk",
        vec![AppConfig::embedded("ck_acc", edited)],
    )
    .await;
    assert_eq!(
        statuses(&mut m, "ck_acc").await,
        st(&[("1", Status::Changed)])
    );
    crate::ResolveManager {
        accept_changed: true,
        auto_agree: true,
        ..crate::ResolveManager::new("ck_acc", "1")
    }
    .run(&mut m)
    .await
    .expect("accept_changed: resolve --accept-changed");
    assert_eq!(
        statuses(&mut m, "ck_acc").await,
        st(&[("1", Status::Applied)])
    );
    let rows = m.driver_mut().applied(Some("ck_acc")).await.unwrap();
    assert_eq!(rows[0].checksum, crate::checksum(up), "accept_changed");
    assert_eq!(rows[0].down_sql.as_deref(), Some(down), "accept_changed");
    let r = BackwardsMigrationManager {
        fake: true,
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_acc")
    }
    .run(&mut m)
    .await
    .expect("fake backwards");
    assert_eq!(r.migrations.len(), 1);
    assert!(m
        .driver_mut()
        .applied(Some("ck_acc"))
        .await
        .unwrap()
        .is_empty());
    // The down SQL did not run: the table is still there to drop.
    let drop = vec![mig("1", "DROP TABLE ck_acc;", None)];
    let mut m2 = migrator(
        factory,
        "ck_acc_trk",
        vec![AppConfig::embedded("ck_acc_drop", drop)],
    )
    .await;
    forwards(&mut m2, "ck_acc_drop")
        .await
        .expect("fake backwards: the table is still there");
}
