//! Connecting: errors that name host and database but not the password, TLS modes, unix
//! sockets, creating and dropping databases.

use std::time::{Duration, Instant};

use ferry_core::{Driver, DriverErrorKind, TableName};
use ferry_driver_postgres::{connect, testing};

use crate::support::{scalar, with_database};

/// A URL like `admin` with `password`, database `database` and extra parameters.
fn variant_url(password: &str, database: &str, port: Option<u16>, params: &str) -> String {
    let admin = testing::admin_url();
    let (scheme, rest) = admin.split_once("://").unwrap();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (u.split(':').next().unwrap().to_owned(), h.to_owned()),
        None => ("postgres".to_owned(), authority.to_owned()),
    };
    let hostport = match port {
        Some(p) => {
            let host = hostport
                .rsplit_once(':')
                .map_or(hostport.as_str(), |(h, _)| h);
            format!("{host}:{p}")
        }
        None => hostport,
    };
    let query = rest[authority_end..].split_once('?').map(|(_, q)| q);
    let mut all: Vec<&str> = query.into_iter().collect();
    if !params.is_empty() {
        all.push(params);
    }
    let q = if all.is_empty() {
        String::new()
    } else {
        format!("?{}", all.join("&"))
    };
    format!("{scheme}://{userinfo}:{password}@{hostport}/{database}{q}")
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_errors_name_host_and_database_not_password() {
    // Unknown database.
    let url = variant_url("s3cret", "ferry_no_such_db", None, "");
    let err = connect(&url, TableName::default()).await.unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::DatabaseMissing, "{err}");
    // The message first, the codes after (SPEC §16.10).
    assert!(
        err.to_string().ends_with("does not exist (SQLSTATE 3D000)"),
        "{err}"
    );
    assert!(err.message.contains("ferry_no_such_db"), "{}", err.message);
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(!err.message.contains('\n'), "{}", err.message);
    let host = url
        .split('@')
        .nth(1)
        .unwrap()
        .split(['/', ':'])
        .next()
        .unwrap();
    assert!(err.message.contains(host), "{}", err.message);

    // Refused port.
    let url = "postgres://postgres:s3cret@127.0.0.1:1/somedb".to_owned();
    let started = Instant::now();
    let err = connect(&url, TableName::default()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
    assert!(err.message.contains("127.0.0.1:1"), "{}", err.message);
    assert!(err.message.contains("\"somedb\""), "{}", err.message);
    assert!(!err.message.contains("s3cret"), "{}", err.message);
    assert!(!err.message.contains('\n'), "{}", err.message);

    // Unknown host.
    let err = connect(
        "postgres://u:s3cret@ferry-no-such-host.invalid/x",
        TableName::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
    assert!(
        err.message.contains("ferry-no-such-host.invalid"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("s3cret"), "{}", err.message);

    // Invalid URLs are configuration errors that do not echo the password.
    for bad in [
        "postgres://u:s3cret@h/db?sslmode=bogus",
        "postgres://u:s3cret@h:notaport/db",
        "postgres://u:s3cret@h/db?nosuchparam=1",
    ] {
        let err = connect(bad, TableName::default()).await.unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{bad}: {err}");
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sslmodes() {
    with_database("ssl", |_url| async move {
        let name_of = |url: &str| {
            url.rsplit('/')
                .next()
                .unwrap()
                .split('?')
                .next()
                .unwrap()
                .to_owned()
        };
        let db = name_of(&_url);
        // disable always works.
        let url = variant_url("s3cret", &db, None, "sslmode=disable");
        let mut d = connect(&url, TableName::default()).await.unwrap();
        d.execute("SELECT 1", false).await.unwrap();
        // prefer (the default) works with or without TLS on the server.
        let url = variant_url("s3cret", &db, None, "sslmode=prefer");
        connect(&url, TableName::default()).await.unwrap();
        // require either works or fails cleanly.
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = variant_url("s3cret", &db, None, &format!("sslmode={mode}"));
            match connect(&url, TableName::default()).await {
                Ok(mut d) => {
                    if mode == "require" {
                        assert_eq!(
                            scalar(
                                &d,
                                "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                            )
                            .await
                            .as_deref(),
                            Some("true")
                        );
                    }
                    d.execute("SELECT 1", false).await.unwrap();
                }
                Err(e) => {
                    assert_eq!(e.kind, DriverErrorKind::Connect, "{mode}: {e}");
                    assert!(!e.message.contains("s3cret"), "{}", e.message);
                    assert!(!e.message.contains('\n'), "{}", e.message);
                    eprintln!("sslmode={mode}: {e}");
                }
            }
        }
    })
    .await;
}

/// With the Debian snakeoil certificate (CN=localhost, self-signed) as root: `verify-ca`
/// accepts 127.0.0.1 (chain only) but `verify-full` does not; `verify-full` accepts
/// `localhost`. Runs only where the local server uses that certificate.
#[tokio::test(flavor = "multi_thread")]
async fn verify_modes_with_root_certificate() {
    const CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
    with_database("verify", |url| async move {
        let d = connect(&url, TableName::default()).await.unwrap();
        let cert_file = scalar(&d, "SELECT current_setting('ssl_cert_file')").await;
        let ssl = scalar(&d, "SELECT current_setting('ssl')").await;
        if ssl.as_deref() != Some("on") || cert_file.as_deref() != Some(CERT) {
            eprintln!("server does not use {CERT}: TLS verification cases not run");
            return;
        }
        let db = url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        let with = |host: &str, mode: &str| {
            format!("postgres://postgres:s3cret@{host}:5432/{db}?sslmode={mode}&sslrootcert={CERT}")
        };
        connect(&with("127.0.0.1", "verify-ca"), TableName::default())
            .await
            .unwrap();
        connect(&with("localhost", "verify-full"), TableName::default())
            .await
            .unwrap();
        let err = connect(&with("127.0.0.1", "verify-full"), TableName::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Connect);
        assert!(err.message.contains("127.0.0.1:5432"), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
        // Roots that do not hold the server's certificate fail verification.
        const BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
        if std::path::Path::new(BUNDLE).exists() {
            let err = connect(
                &format!(
                    "postgres://postgres:s3cret@localhost:5432/{db}?sslmode=verify-ca&sslrootcert={BUNDLE}"
                ),
                TableName::default(),
            )
            .await
            .unwrap_err();
            assert_eq!(err.kind, DriverErrorKind::Connect, "{err}");
            assert!(err.message.contains("localhost:5432"), "{}", err.message);
            assert!(!err.message.contains('\n'), "{}", err.message);
        }
        // A missing root certificate file is a configuration error.
        let err = connect(
            &format!("postgres://postgres@localhost:5432/{db}?sslmode=verify-ca&sslrootcert=/nonexistent.pem"),
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::Config, "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unix_socket_host() {
    with_database("unix", |url| async move {
        // The test server's own socket (a throwaway server has it in its temporary folder).
        let d = connect(&url, TableName::default()).await.unwrap();
        let dir = scalar(
            &d,
            "SELECT split_part(current_setting('unix_socket_directories'), ',', 1)",
        )
        .await
        .unwrap_or_default();
        let port = scalar(&d, "SELECT current_setting('port')").await.unwrap();
        if dir.is_empty() || !std::path::Path::new(&format!("{dir}/.s.PGSQL.{port}")).exists() {
            eprintln!("the test server has no local socket: unix socket case not run");
            return;
        }
        let db = url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        for mode in ["", "&sslmode=require"] {
            let sock = format!("postgresql://postgres@/{db}?host={dir}&port={port}{mode}");
            let mut d = connect(&sock, TableName::default()).await.unwrap();
            d.ensure_table().await.unwrap();
        }
        let err = connect(
            &format!("postgresql://postgres:s3cret@/ferry_no_such_db?host={dir}&port={port}"),
            TableName::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, DriverErrorKind::DatabaseMissing);
        assert!(err.message.contains(&dir), "{}", err.message);
        assert!(!err.message.contains("s3cret"), "{}", err.message);
    })
    .await;
}

/// `server::Server`: a name with quotes, a space and a semicolon is created, found, created
/// again (`false`), dropped and dropped again (`false`) as one identifier; `accepts_connections`
/// counts a missing database as a server that is up, and a closed port as not.
#[tokio::test(flavor = "multi_thread")]
async fn server_creates_and_drops_any_name() {
    use ferry_driver_postgres::server::{accepts_connections, Server};
    let name = format!("{} \"q\" 'x'; -- y", testing::unique_name("srv"));
    let admin = testing::admin_url();
    let server = Server::of_url(&admin).unwrap();
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(server.create_database(&name).await.unwrap());
    assert!(server.database_exists(&name).await.unwrap());
    assert!(!server.create_database(&name).await.unwrap());
    let missing = ferry_core::driver::url::with_database(&admin, "ferry_no_such_database").unwrap();
    assert_eq!(
        Server::of_url(&missing).unwrap().database(),
        "ferry_no_such_database"
    );
    accepts_connections(&missing).await.unwrap();
    assert!(server.drop_database(&name, false).await.unwrap());
    assert!(!server.database_exists(&name).await.unwrap());
    assert!(!server.drop_database(&name, true).await.unwrap());
    let closed = "postgres://u@127.0.0.1:1/x?connect_timeout=3";
    assert_eq!(
        accepts_connections(closed).await.unwrap_err().kind,
        DriverErrorKind::Connect
    );
}
