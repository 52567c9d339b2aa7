//! The conformance suite of `ferry_core::testkit`.

use ferry_core::driver::BoxFuture;
use ferry_core::testkit::{run_conformance, DriverFactory};
use ferry_core::{Driver, TableName};
use ferry_driver_sqlite::testing::database_url;

struct Factory {
    url: String,
}

impl DriverFactory for Factory {
    fn connect<'a>(&'a self, table: &'a TableName) -> BoxFuture<'a, Box<dyn Driver>> {
        Box::pin(async move {
            let driver = ferry_driver_sqlite::connect(&self.url, table.clone())
                .await
                .expect("open the test database");
            Box::new(driver) as Box<dyn Driver>
        })
    }
}

#[tokio::test]
async fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(dir.path(), "conformance");
    run_conformance(&Factory { url }).await;
}
