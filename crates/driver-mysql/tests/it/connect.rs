//! Connecting: errors that name host and database but not the password, `ssl-mode`, unix
//! sockets, the `mariadb://` scheme and the UTC session, creating and dropping databases.

use ferry_core::{Driver, DriverErrorKind, TableName};
use ferry_driver_mysql::{connect, testing};
use mysql_async::prelude::Queryable;

use crate::support::{open, raw, with_database, with_param};

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_host_and_database_not_password() {
    with_database("connerr", |url| async move {
        // Unknown database.
        let missing = testing::unique_name("missing");
        let bad_db = ferry_core::driver::url::with_database(&url, &missing).unwrap();
        let err = connect(&bad_db, TableName::default())
            .await
            .expect_err("unknown database");
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{err:?}");
        assert_eq!(err.code.as_deref(), Some("1049"), "{err:?}");
        // The message first, the codes after (SPEC §16.10).
        assert!(
            err.to_string().ends_with("(error 1049, SQLSTATE 42000)"),
            "{err}"
        );
        assert!(
            err.message.starts_with("cannot connect to MySQL at "),
            "{err}"
        );
        assert!(
            err.message.contains(&format!("database \"{missing}\"")),
            "{err}"
        );
        assert!(err.message.contains("Unknown database"), "{err}");
        assert!(!err.message.contains('\n'));

        // Refused connection, with a password that must not leak.
        let refused = "mysql://root:s3cret@127.0.0.1:1/app_db?ssl-mode=DISABLED";
        let err = connect(refused, TableName::default())
            .await
            .expect_err("refused");
        assert_eq!(err.kind, DriverErrorKind::Connect, "{err:?}");
        assert!(err.message.contains("127.0.0.1:1"), "{err}");
        assert!(err.message.contains("\"app_db\""), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(!err.message.contains('\n'));
        // The same with the default ssl-mode (PREFERRED falls back, still refused).
        let err = connect(
            "mariadb://root:s3cret@127.0.0.1:1/app_db",
            TableName::default(),
        )
        .await
        .expect_err("refused");
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(!err.to_string().contains("s3cret"), "{err}");

        // Wrong password on the real server.
        let wrong = url.replacen("://root@", "://root:s3cret@", 1);
        if wrong != url {
            let err = connect(&wrong, TableName::default())
                .await
                .expect_err("wrong password");
            assert_eq!(err.kind, DriverErrorKind::Connect, "{err:?}");
            assert!(err.message.contains("Access denied"), "{err}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }

        // A bad URL is a configuration error, also without the password.
        let err = connect(
            "mysql://root:s3cret@127.0.0.1/x?ssl-mode=maybe",
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = connect("postgres://root:s3cret@127.0.0.1/x", TableName::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config);
        assert!(!err.to_string().contains("s3cret"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmodes() {
    with_database("ssl", |url| async move {
        // ssl-mode=DISABLED, any case.
        for mode in ["DISABLED", "disabled", "Preferred"] {
            let mut d = open(
                &with_param(&url, &format!("ssl-mode={mode}")),
                "ferry_migrations",
            )
            .await;
            d.ensure_table()
                .await
                .unwrap_or_else(|e| panic!("ssl-mode={mode}: {e}"));
        }

        // ssl-mode=REQUIRED: works when the server has TLS, else a clean Connect error.
        let required = with_param(&url, "ssl-mode=REQUIRED");
        match connect(&required, TableName::default()).await {
            Ok(mut d) => {
                // The session is really encrypted.
                d.execute(
                    "CREATE TABLE tls_probe AS SELECT VARIABLE_VALUE AS v \
                     FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher'",
                    false,
                )
                .await
                .expect("TLS connection works");
                let mut plain = raw(&url).await;
                let cipher: Option<String> =
                    plain.query_first("SELECT v FROM tls_probe").await.unwrap();
                plain.disconnect().await.unwrap();
                assert!(
                    cipher.is_some_and(|c| !c.is_empty()),
                    "ssl-mode=REQUIRED without TLS"
                );
                // A server certificate that no trusted root signed fails full verification.
                let strict = with_param(&url, "ssl-mode=VERIFY_IDENTITY");
                if let Err(e) = connect(&strict, TableName::default()).await {
                    assert!(e.message.contains("TLS"), "{e}");
                    assert_eq!(e.kind, DriverErrorKind::Connect, "{e:?}");
                    assert!(!e.message.contains('\n'), "{e}");
                }
            }
            Err(e) => {
                assert_eq!(e.kind, DriverErrorKind::Connect, "{e:?}");
                assert!(e.message.starts_with("cannot connect to MySQL at "), "{e}");
                assert!(!e.message.contains('\n'), "{e}");
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_host() {
    with_database("unix", |url| async move {
        let mut plain = raw(&url).await;
        let socket: Option<String> = plain.query_first("SELECT @@socket").await.unwrap();
        plain.disconnect().await.unwrap();
        let socket = socket.expect("server socket");
        if !std::path::Path::new(&socket).exists() {
            panic!("the server's socket {socket} is not on this machine");
        }
        let via_socket = with_param(&url, &format!("socket={socket}"));
        let mut d = open(&via_socket, "ferry_migrations").await;
        d.ensure_table().await.expect("socket connection works");
        assert!(d.table_exists().await.unwrap());
        let err = connect(
            &with_param(&url, "socket=/nonexistent/ferry.sock"),
            TableName::default(),
        )
        .await
        .expect_err("missing socket");
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(
            err.message.contains("socket /nonexistent/ferry.sock"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_scheme_and_utc_session() {
    with_database("session", |url| async move {
        let maria = url.replacen("mysql://", "mariadb://", 1);
        let mut d = open(&maria, "ferry_migrations").await;
        d.execute("SELECT 1", false)
            .await
            .expect("mariadb:// works");
        // The session runs in UTC.
        d.execute(
            "CREATE TABLE tz_probe AS SELECT @@session.time_zone AS tz",
            false,
        )
        .await
        .unwrap();
        let mut plain = raw(&url).await;
        let tz: Option<String> = plain.query_first("SELECT tz FROM tz_probe").await.unwrap();
        plain.disconnect().await.unwrap();
        assert_eq!(tz.as_deref(), Some("+00:00"));
    })
    .await;
}

/// `server::Server`: a name with backticks, quotes and a space is created, found, created
/// again (`false`), dropped and dropped again (`false`) as one identifier; `accepts_connections`
/// counts a missing database as a server that is up, and a closed port as not.
#[tokio::test(flavor = "multi_thread")]
async fn server_creates_and_drops_any_name() {
    use ferry_driver_mysql::server::{accepts_connections, Server};
    let name = format!("{} `q` 'x\"", testing::unique_name("srv"));
    let admin = testing::admin_url();
    let server = Server::of_url(&admin).unwrap();
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(server.create_database(&name).await.unwrap());
    assert!(server.database_exists(&name).await.unwrap());
    assert!(!server.create_database(&name).await.unwrap());
    let missing = ferry_core::driver::url::with_database(&admin, "ferry_no_such_database").unwrap();
    assert_eq!(
        Server::of_url(&missing).unwrap().database(),
        Some("ferry_no_such_database")
    );
    accepts_connections(&missing).await.unwrap();
    assert!(server.drop_database(&name).await.unwrap());
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(!server.drop_database(&name).await.unwrap());
    let closed = "mysql://u@127.0.0.1:1/x?connect_timeout=3";
    assert_eq!(
        accepts_connections(closed).await.unwrap_err().kind,
        DriverErrorKind::Connect
    );
}
