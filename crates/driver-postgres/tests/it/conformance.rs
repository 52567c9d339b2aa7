//! The conformance suite of `ferry_core::testkit` (advisory lock, lease lock, through
//! PgBouncer) and the capabilities.

use std::time::Duration;

use ferry_core::driver::LockMechanism;
use ferry_core::testkit::{run_conformance, run_lease_conformance};
use ferry_core::{Driver, TableName};
use ferry_driver_postgres::{connect, testing};

use crate::support::{open, with_database, Factory};

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    with_database("conf", |url| async move {
        run_conformance(&Factory { url }).await;
    })
    .await;
}

/// The conformance suite through a transaction-mode PgBouncer with a pool of 2, where `auto`
/// recognises the pooler and takes the lease lock (1 s lease, as below).
#[tokio::test(flavor = "multi_thread")]
async fn conformance_through_pgbouncer() {
    let bouncer = testing::PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
    with_database("confpgb", |url| async move {
        let name = url
            .rsplit('/')
            .next()
            .and_then(|tail| tail.split('?').next())
            .unwrap()
            .to_owned();
        let url = bouncer.url(&name);
        let mut probe = connect(&url, TableName::default()).await.unwrap();
        assert!(probe.is_pooled());
        let choice = probe.lock_choice().await.unwrap();
        assert_eq!(choice.mechanism, LockMechanism::Lease, "{choice}");
        assert!(choice.reason.contains("pooler"), "{choice}");
        drop(probe);
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
        assert_eq!(d.backend(), "postgres");
        let caps = d.capabilities();
        assert!(caps.transactional_ddl);
        assert_eq!(caps.dialect, ferry_core::sql::Dialect::Postgres);
    })
    .await;
}

/// A tokio-postgres connection to `url` without TLS, for simple queries through PgBouncer.
async fn plain_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect through PgBouncer: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// The server process of the connection `client` is on, within 10 s (a client waiting for a
/// server connection that never frees fails instead of hanging).
async fn backend_pid(client: &tokio_postgres::Client) -> String {
    let rows = tokio::time::timeout(
        Duration::from_secs(10),
        client.simple_query("SELECT pg_backend_pid()"),
    )
    .await
    .expect("a server connection within 10 s")
    .unwrap();
    rows.into_iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .unwrap()
}

#[test]
fn pgbouncer_harness_runs_queries_in_transaction_mode() {
    let bouncer = testing::PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
    assert!(bouncer
        .url("x")
        .contains(&format!(":{}/x?", bouncer.port())));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bouncer = &bouncer;
    runtime.block_on(with_database("pgb", |url| async move {
        let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
        let url = bouncer.url(name);
        let a = plain_client(&url).await;
        let b = plain_client(&url).await;
        let c = plain_client(&url).await;

        // A transaction keeps its server connection to the end...
        a.batch_execute("BEGIN").await.unwrap();
        let in_transaction = backend_pid(&a).await;
        // ...so other clients get the other one...
        let pid_b = backend_pid(&b).await;
        assert_ne!(pid_b, in_transaction);
        // ...and share it: with 2 server connections, a third client would wait forever in
        // session mode.
        assert_eq!(backend_pid(&c).await, pid_b);
        assert_eq!(backend_pid(&b).await, pid_b);
        assert_eq!(backend_pid(&a).await, in_transaction);
        a.batch_execute("COMMIT").await.unwrap();
    }));
}
