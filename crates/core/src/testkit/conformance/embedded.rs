//! Conformance cases of library users: embedded migrations are the folder's migrations (same
//! IDs and checksums, one database served by both), `--clean` never deletes their sources, and
//! a missing folder is an error, not "nothing to do".

use crate::embedded::{Embedded, EmbeddedApp, EmbeddedFile};
use crate::{files, parse_migration, AppConfig, BackwardsMigrationManager, Error, Outcome, Status};

use super::*;

const SINGLE: &str = "-- ferry:description Create ck_emb\n-- ferry:up\nCREATE TABLE ck_emb (id INTEGER PRIMARY KEY);\n-- ferry:down\nDROP TABLE ck_emb;\n";
const UP: &str = "INSERT INTO ck_emb (id) VALUES (1);\r\n";
const DOWN: &str = "DELETE FROM ck_emb;\n";
const NAMES: [&str; 3] = ["1_create_ck_emb.sql", "2_fill.up.sql", "2_fill.down.sql"];

/// What `embedded_migrations!()` gives for a folder holding [`NAMES`].
const SET: Embedded = Embedded::new(&[EmbeddedApp {
    name: "ck_emb",
    dir: "migrations/ck_emb",
    depends_on: &[],
    files: &[
        EmbeddedFile {
            name: NAMES[0],
            path: "migrations/ck_emb/1_create_ck_emb.sql",
            bytes: SINGLE.as_bytes(),
        },
        EmbeddedFile {
            name: NAMES[1],
            path: "migrations/ck_emb/2_fill.up.sql",
            bytes: UP.as_bytes(),
        },
        EmbeddedFile {
            name: NAMES[2],
            path: "migrations/ck_emb/2_fill.down.sql",
            bytes: DOWN.as_bytes(),
        },
    ],
}]);

/// A new folder holding the files of [`SET`].
fn folder() -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "ferry-conformance-{}-{nanos}/ck_emb",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create the migrations folder");
    for (name, text) in NAMES.iter().zip([SINGLE, UP, DOWN]) {
        std::fs::write(dir.join(name), text).expect("write a migration file");
    }
    dir
}

/// One call applies the embedded set; the folder's migrations read it as applied (same IDs
/// and checksums) and the other way round; `--clean` on embedded migrations, even ones parsed
/// from files, deletes no file.
pub(super) async fn embedded_set_is_the_folder(factory: &dyn DriverFactory) {
    let table = TableName::parse("ck_embedded_trk").expect("valid table name");
    let dir = folder();
    let from_folder = || vec![AppConfig::new("ck_emb", &dir)];

    let applied = SET
        .migrate(factory.connect(&table).await)
        .await
        .expect("embedded: forwards all");
    let ids: Vec<_> = applied
        .migrations
        .iter()
        .map(|p| p.migration_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2"], "embedded: what was applied");
    assert_eq!(applied.migrations[0].description, "Create ck_emb");
    let mut by_folder = migrator(factory, "ck_embedded_trk", from_folder()).await;
    assert_eq!(
        statuses(&mut by_folder, "ck_emb").await,
        st(&[("1", Status::Applied), ("2", Status::Applied)]),
        "embedded then folder: same IDs and checksums"
    );

    // The case: migrations parsed from the files, then embedded; `--clean` used to
    // delete the files.
    let path = dir.join(NAMES[0]);
    let mut parsed = vec![parse_migration(&path, "1", "create_ck_emb", SINGLE).expect("parse")];
    let pair = [1, 2].map(|i| {
        let path = dir.join(NAMES[i]).display().to_string();
        (NAMES[i], path, [SINGLE, UP, DOWN][i].as_bytes())
    });
    parsed.extend(
        files::from_memory(&dir, pair.iter().map(|(n, p, b)| (*n, p.as_str(), *b)))
            .expect("from memory"),
    );
    assert!(parsed.iter().all(|m| !m.files.is_empty()));
    let mut embedded = migrator(
        factory,
        "ck_embedded_trk",
        vec![AppConfig::embedded("ck_emb", parsed)],
    )
    .await;
    let reversed = BackwardsMigrationManager {
        migration_id: Some("all".into()),
        auto_agree: true,
        clean: true,
        ..BackwardsMigrationManager::new("ck_emb")
    }
    .run(&mut embedded)
    .await
    .expect("embedded: backwards all --clean");
    assert_eq!(reversed.migrations.len(), 2, "embedded: reversed");
    for name in NAMES {
        assert!(dir.join(name).is_file(), "--clean deleted {name}");
    }
    assert_eq!(
        statuses(&mut by_folder, "ck_emb").await,
        st(&[("1", Status::Pending), ("2", Status::Pending)]),
        "embedded --clean: rows gone"
    );

    // The folder applies, the embedded set agrees.
    forwards(&mut by_folder, "ck_emb")
        .await
        .expect("folder: forwards");
    let mut embedded = SET
        .migrator(factory.connect(&table).await)
        .expect("registry");
    assert_eq!(
        statuses(&mut embedded, "ck_emb").await,
        st(&[("1", Status::Applied), ("2", Status::Applied)]),
        "folder then embedded"
    );
    let again = embedded.forwards_all().await.expect("forwards again");
    assert_eq!(again.outcome, Outcome::NothingToDo);
    backwards_all(&mut by_folder, "ck_emb")
        .await
        .expect("folder: backwards all");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap_or(&dir));
}

/// An app whose folder does not exist is an error naming the folder, and nothing is written
/// (not even the tracking table).
pub(super) async fn missing_folder_is_an_error(factory: &dyn DriverFactory) {
    let dir = std::env::temp_dir().join("ferry-conformance-no-such-folder/ck_missing");
    let mut m = migrator(
        factory,
        "ck_missing_trk",
        vec![AppConfig::new("ck_missing", &dir)],
    )
    .await;
    match m.forwards_all().await {
        Err(Error::MigrationFile { path, message, .. }) => {
            assert_eq!(path, dir);
            assert!(message.contains("does not exist"), "{message}");
        }
        other => panic!("missing folder: expected a file error, got {other:?}"),
    }
    assert!(
        !m.driver_mut().table_exists().await.expect("table_exists"),
        "missing folder: the tracking table was created"
    );
}
