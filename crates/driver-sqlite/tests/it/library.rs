//! The library API of `ferry-core` as a Rust program uses it, on SQLite.

use ferry_core::{
    run_backwards, run_forwards, AppConfig, AppRegistry, Confirm, ConfirmRequest, Error, Migration,
    Migrator, Status, TableName,
};

struct Answer(bool);

impl Confirm for Answer {
    fn confirm(&self, request: &ConfirmRequest) -> ferry_core::Result<bool> {
        assert_eq!(request.question, "Reverse 2 migration(s)?");
        assert_eq!(request.items[0].migration_id, "2", "newest first");
        Ok(self.0)
    }
}

async fn migrator(confirm: bool) -> (tempfile::TempDir, Migrator) {
    let dir = tempfile::tempdir().unwrap();
    let url = ferry_driver_sqlite::testing::database_url(dir.path(), "lib");
    let app = AppConfig::embedded(
        "embedded",
        vec![
            Migration::new(
                "1",
                "one",
                "CREATE TABLE one (id INTEGER);",
                Some("DROP TABLE one;"),
            ),
            Migration::new(
                "2",
                "two",
                "CREATE TABLE two (id INTEGER);",
                Some("DROP TABLE two;"),
            ),
        ],
    );
    let driver = ferry_driver_sqlite::connect(&url, TableName::default())
        .await
        .unwrap();
    let m = Migrator::new(AppRegistry::new(vec![app]).unwrap(), Box::new(driver))
        .with_confirm(Answer(confirm));
    (dir, m)
}

#[tokio::test]
async fn declined_confirmation_is_an_unsuccessful_result() {
    let (_dir, mut m) = migrator(false).await;
    assert!(
        run_forwards(&mut m, "embedded", Some("all"), false, false)
            .await
            .unwrap()
            .success
    );
    let r = run_backwards(&mut m, "embedded", Some("all"), false, false, false)
        .await
        .unwrap();
    assert!(!r.success);
    assert_eq!(r.message.as_deref(), Some("Not proceeding."));
    let statuses = ferry_core::CheckMigrationManager::new("embedded")
        .get_migration_statuses(&mut m)
        .await
        .unwrap();
    assert!(statuses
        .iter()
        .all(|s| s.status == Status::Applied && s.has_ran));
}

#[tokio::test]
async fn accepted_confirmation_reverses_and_unknown_ids_are_unsuccessful() {
    let (_dir, mut m) = migrator(true).await;
    let r = run_forwards(&mut m, "embedded", Some("42"), false, false)
        .await
        .unwrap();
    assert!(!r.success, "unknown ID");
    ferry_core::forwards(&mut m, "embedded").await.unwrap();
    let r = run_backwards(&mut m, "embedded", Some("all"), false, false, false)
        .await
        .unwrap();
    assert!(r.success);
    assert_eq!(r.migrations.len(), 2);
    ferry_core::forwards(&mut m, "embedded").await.unwrap();
    let err = ferry_core::backwards(&mut m, "embedded", Some("7"), true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unsuccessful(_)), "{err:?}");
    let err = run_forwards(&mut m, "nope", Some("all"), false, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("known apps: embedded"), "{err}");
}
