//! The conformance suite of `ferry_core::testkit` (`GET_LOCK` and the lease lock) and the
//! capabilities.

use ferry_core::testkit::{run_conformance, run_lease_conformance};
use ferry_core::Driver;

use crate::support::{open, with_database, Factory};

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    with_database("conf", |url| async move {
        run_conformance(&Factory { url }).await;
    })
    .await;
}

/// The conformance suite on the lease lock (`lock = "table"`).
#[tokio::test(flavor = "multi_thread")]
async fn conformance_with_the_lease_lock() {
    with_database("conflease", |url| async move {
        run_lease_conformance(&Factory { url }).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backend_and_capabilities() {
    with_database("caps", |url| async move {
        let d = open(&url, "ferry_migrations").await;
        assert_eq!(d.backend(), "mysql");
        let caps = d.capabilities();
        assert!(!caps.transactional_ddl);
        assert_eq!(caps.dialect, ferry_core::sql::Dialect::MySql);
    })
    .await;
}
