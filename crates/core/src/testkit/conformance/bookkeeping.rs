//! Conformance cases on what the tracking rows say: statuses, `clean`, per-app rows, stored down SQL.

use crate::{
    AppConfig, BackwardsMigrationManager, CheckMigrationManager, CleanManager, Error, Status,
};

use super::*;

/// `changed` and `missing` statuses; `clean` forgets missing rows of one app only.
pub(super) async fn checksum_missing_and_clean(factory: &dyn DriverFactory) {
    let v1 = vec![
        mig(
            "1",
            "CREATE TABLE ck_sum (id INTEGER PRIMARY KEY);",
            Some("DROP TABLE ck_sum;"),
        ),
        mig(
            "2",
            "INSERT INTO ck_sum (id) VALUES (1);",
            Some("DELETE FROM ck_sum;"),
        ),
    ];
    let mut m = migrator(
        factory,
        "ck_checksum_trk",
        vec![AppConfig::embedded("ck_sum", v1)],
    )
    .await;
    forwards(&mut m, "ck_sum").await.unwrap();
    let edited = vec![mig(
        "1",
        "CREATE TABLE ck_sum (id INTEGER PRIMARY KEY); -- edited",
        Some("DROP TABLE ck_sum;"),
    )];
    let mut m = migrator(
        factory,
        "ck_checksum_trk",
        vec![AppConfig::embedded("ck_sum", edited)],
    )
    .await;
    assert_eq!(
        statuses(&mut m, "ck_sum").await,
        st(&[("1", Status::Changed), ("2", Status::Missing)]),
        "checksum: changed and missing"
    );
    let statuses_json = CheckMigrationManager::new("ck_sum")
        .get_migration_statuses(&mut m)
        .await
        .unwrap();
    assert!(statuses_json
        .iter()
        .all(|s| s.has_ran && s.applied_at.is_some()));
    let r = CleanManager {
        app_name: "ck_sum".into(),
        auto_agree: true,
        preview: false,
    }
    .run(&mut m)
    .await
    .unwrap();
    assert_eq!(r.migrations.len(), 1, "clean: forgets the missing row");
    assert_eq!(
        statuses(&mut m, "ck_sum").await,
        st(&[("1", Status::Changed)])
    );
    backwards_all(&mut m, "ck_sum").await.unwrap();
}

/// One app's commands never touch another app's rows, even with the same IDs.
pub(super) async fn rows_are_filtered_by_app(factory: &dyn DriverFactory) {
    let a = AppConfig::embedded(
        "ck_one",
        vec![mig(
            "1",
            "CREATE TABLE ck_one (id INTEGER);",
            Some("DROP TABLE ck_one;"),
        )],
    );
    let b = AppConfig::embedded(
        "ck_two",
        vec![mig(
            "1",
            "CREATE TABLE ck_two (id INTEGER);",
            Some("DROP TABLE ck_two;"),
        )],
    );
    let mut m = migrator(factory, "ck_filter_trk", vec![a, b]).await;
    forwards(&mut m, "all").await.unwrap();
    backwards_all(&mut m, "ck_one").await.unwrap();
    assert_eq!(
        statuses(&mut m, "ck_one").await,
        st(&[("1", Status::Pending)])
    );
    assert_eq!(
        statuses(&mut m, "ck_two").await,
        st(&[("1", Status::Applied)]),
        "filter: other app untouched"
    );
    backwards_all(&mut m, "all").await.unwrap();
}

/// A missing file reverses with the stored down SQL; an irreversible one is refused first.
pub(super) async fn stored_down_sql_and_irreversible(factory: &dyn DriverFactory) {
    let full = vec![
        mig(
            "1",
            "CREATE TABLE ck_keep (id INTEGER);",
            Some("DROP TABLE ck_keep;"),
        ),
        mig("2", "CREATE TABLE ck_irrev (id INTEGER);", None),
        mig(
            "3",
            "CREATE TABLE ck_gone (id INTEGER);",
            Some("DROP TABLE ck_gone;"),
        ),
    ];
    let mut m = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded("ck_st", full)],
    )
    .await;
    forwards(&mut m, "ck_st").await.unwrap();
    // The down section is stored as it was; an irreversible migration stores NULL.
    let stored: Vec<Option<String>> = m
        .driver_mut()
        .applied(Some("ck_st"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.row.down_sql)
        .collect();
    assert_eq!(
        stored,
        [
            Some("DROP TABLE ck_keep;".to_owned()),
            None,
            Some("DROP TABLE ck_gone;".to_owned())
        ],
        "stored down_sql"
    );
    let without_3 = vec![
        mig(
            "1",
            "CREATE TABLE ck_keep (id INTEGER);",
            Some("DROP TABLE ck_keep;"),
        ),
        mig("2", "CREATE TABLE ck_irrev (id INTEGER);", None),
    ];
    let mut m = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded("ck_st", without_3)],
    )
    .await;
    let err = backwards_all(&mut m, "ck_st")
        .await
        .expect_err("irreversible: refused");
    assert!(
        matches!(&err, Error::Irreversible { id, .. } if id == "2"),
        "irreversible: {err:?}"
    );
    assert_eq!(
        m.driver_mut().applied(Some("ck_st")).await.unwrap().len(),
        3,
        "irreversible: nothing changed"
    );
    let r = BackwardsMigrationManager {
        auto_agree: true,
        ..BackwardsMigrationManager::new("ck_st")
    }
    .run(&mut m)
    .await
    .expect("stored down SQL: reverse the migration whose file is gone");
    assert_eq!(r.migrations[0].migration_id, "3");
    // The table was really dropped: creating it again works.
    let mut again = migrator(
        factory,
        "ck_stored_trk",
        vec![AppConfig::embedded(
            "ck_st2",
            vec![mig(
                "1",
                "CREATE TABLE ck_gone (id INTEGER);",
                Some("DROP TABLE ck_gone;"),
            )],
        )],
    )
    .await;
    forwards(&mut again, "ck_st2")
        .await
        .expect("stored down SQL ran");
    backwards_all(&mut again, "ck_st2").await.unwrap();
}
