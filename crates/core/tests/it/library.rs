//! What a program using ferry-core at startup touches (issue 24): one call on an embedded set,
//! closures as reporters, `?` on a driver error, `Display` of statuses, the typed app
//! selector.

use std::sync::{Arc, Mutex};

use ferry_core::driver::{DriverError, DriverErrorKind};
use ferry_core::embedded::{Embedded, EmbeddedApp, EmbeddedFile};
use ferry_core::testkit::{block_on, MemoryDriver};
use ferry_core::{
    Apps, CheckMigrationManager, Error, Event, ForwardsMigrationManager, Migrator, OutOfOrder,
    Outcome,
};

const SET: Embedded = Embedded::new(&[
    EmbeddedApp {
        name: "blog",
        dir: "migrations/blog",
        depends_on: &["users"],
        files: &[EmbeddedFile {
            name: "2_posts.up.sql",
            path: "migrations/blog/2_posts.up.sql",
            bytes: b"CREATE TABLE posts (id INT);\n",
        }],
    },
    EmbeddedApp {
        name: "users",
        dir: "migrations/users",
        depends_on: &[],
        files: &[
            EmbeddedFile {
                name: "1_users.sql",
                path: "migrations/users/1_users.sql",
                bytes:
                    b"-- ferry:up\nCREATE TABLE users (id INT);\n-- ferry:down\nDROP TABLE users;\n",
            },
            EmbeddedFile {
                name: "notes.txt",
                path: "migrations/users/notes.txt",
                bytes: b"not a migration",
            },
        ],
    },
]);

#[test]
fn one_call_applies_the_embedded_set_in_dependency_order() {
    let driver = MemoryDriver::new();
    let db = driver.database().clone();
    let applied = block_on(SET.migrate(driver)).unwrap();
    let names: Vec<_> = applied
        .migrations
        .iter()
        .map(|m| format!("{} {}", m.app_name, m.migration_id))
        .collect();
    assert_eq!(names, ["users 1", "blog 2"]);
    assert!(db.has_table("users") && db.has_table("posts"));
    let again =
        block_on(SET.migrate(Box::new(db.open(Default::default())) as Box<dyn ferry_core::Driver>))
            .unwrap();
    assert_eq!(again.outcome, Outcome::NothingToDo);
    assert!(again.migrations.is_empty());
}

#[test]
fn a_closure_is_a_reporter() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let mut m = SET
        .migrator(MemoryDriver::new())
        .unwrap()
        .with_out_of_order(OutOfOrder::Warn)
        .with_reporter(move |event: Event<'_>| {
            if let Event::Finished { migration, .. } = event {
                log.lock().unwrap().push(migration.migration_id.clone());
            }
        });
    block_on(m.forwards_all()).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["1", "2"]);
}

#[test]
fn statuses_display_as_check_shows_them_and_apps_select() {
    let mut m = SET.migrator(MemoryDriver::new()).unwrap();
    block_on(ForwardsMigrationManager::new(Apps::one("users")).run(&mut m)).unwrap();
    let statuses: Vec<String> =
        block_on(CheckMigrationManager::new(Apps::All).get_migration_statuses(&mut m))
            .unwrap()
            .iter()
            .map(|s| format!("{} {} {}", s.app_name, s.migration_id, s.status))
            .collect();
    assert_eq!(statuses, ["users 1 applied", "blog 2 pending"]);
}

#[test]
fn a_driver_error_converts_with_the_question_mark() {
    fn connect() -> Result<MemoryDriver, DriverError> {
        Err(DriverError::new(
            DriverErrorKind::Connect,
            "connection refused",
        ))
    }
    fn startup() -> ferry_core::Result<Migrator> {
        let driver = connect()?;
        SET.migrator(driver)
    }
    let err = startup().unwrap_err();
    assert!(matches!(&err, Error::Driver(e) if e.kind == DriverErrorKind::Connect));
    assert_eq!(err.to_string(), "connection refused");
}
