//! The database file and its modes: read-only use, missing folders, `mode=ro|rw`, private
//! memory databases.

use ferry_core::{DriverErrorKind, TableName};
use ferry_driver_sqlite::testing::database_url;

use crate::support::{ids, open, row};

#[tokio::test]
async fn read_only_use_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("never.db");
    let mut d = open(&format!("sqlite://{}", path.display())).await;
    assert!(!d.table_exists().await.unwrap());
    assert!(d.applied(None).await.unwrap().is_empty());
    assert!(!path.exists(), "a read created the database file");
    d.ensure_table().await.unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn missing_folder_is_a_connect_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = open(&database_url(&dir.path().join("no/such/dir"), "x")).await;
    let err = d.ensure_table().await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect);
    assert!(err.message.contains("does not exist"), "{err}");
}

/// `mode=ro` and `mode=rw` never create the file; `ro` refuses writes.
#[tokio::test]
async fn modes_ro_and_rw() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    for mode in ["ro", "rw"] {
        let url = format!("sqlite:{}?mode={mode}", missing.display());
        let err = ferry_driver_sqlite::connect(&url, TableName::default())
            .await
            .expect_err(mode);
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{mode}");
        assert!(err.message.contains("does not exist"), "{mode}: {err}");
    }
    assert!(!missing.exists());

    let url = database_url(dir.path(), "modes");
    open(&url).await.ensure_table().await.unwrap();
    let mut ro = open(&format!("{url}?mode=ro")).await;
    assert!(ro.table_exists().await.unwrap());
    let err = ro.write(&row("1", false)).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("SQLITE_READONLY"), "{err}");
    let mut rw = open(&format!("{url}?mode=rw")).await;
    rw.write(&row("1", false)).await.unwrap();
    assert_eq!(ids(&mut ro).await, ["1"]);
}

/// `sqlite::memory:` and `mode=memory` are private to their connection and touch no file.
#[tokio::test]
async fn memory_databases_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mem.db");
    for url in [
        "sqlite::memory:".to_owned(),
        format!("sqlite:{}?mode=memory", path.display()),
    ] {
        let mut a = open(&url).await;
        a.ensure_table().await.unwrap();
        a.write(&row("1", false)).await.unwrap();
        assert_eq!(ids(&mut a).await, ["1"], "{url}");
        let mut b = open(&url).await;
        assert!(!b.table_exists().await.unwrap(), "{url}: shared");
    }
    assert!(!path.exists());
}
