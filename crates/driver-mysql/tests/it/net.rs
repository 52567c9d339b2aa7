//! A silent or cut network: connect and statement timeouts.

use ferry_core::driver::BoxFuture;
use ferry_core::testkit::net;
use ferry_core::{Driver, TableName};
use ferry_driver_mysql::connect;

use crate::support::with_database;

/// Open a boxed driver, for the network cases of `ferry_core::testkit::net`.
fn boxed(url: String) -> BoxFuture<'static, Result<Box<dyn Driver>, ferry_core::DriverError>> {
    Box::pin(async move {
        let d = connect(&url, TableName::default()).await?;
        Ok(Box::new(d) as Box<dyn Driver>)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn connecting_to_a_silent_server_gives_up_after_connect_timeout() {
    net::connect_gives_up_on_a_silent_server(&boxed, &|port, timeout| {
        format!("mysql://u:pw-hidden@127.0.0.1:{port}/db?connect_timeout={timeout}")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_or_cut_network_mid_statement_ends_the_call() {
    with_database("silent", |url| async move {
        let server =
            net::server_addr(&url).expect("the test server's URL names a TCP host and port");
        let proxied = |port: u16| {
            let url = url.replacen(&server.to_string(), &format!("127.0.0.1:{port}"), 1);
            let join = if url.contains('?') { '&' } else { '?' };
            format!("{url}{join}connect_timeout=2&ssl-mode=DISABLED")
        };
        net::silence_and_cut_end_the_call(&boxed, &url, server, &proxied, "SELECT SLEEP(3);").await;
    })
    .await;
}
