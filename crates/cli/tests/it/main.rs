//! Integration tests of the `ferry` binary. `shared` runs on all three backends (PostgreSQL and
//! MySQL through FERRY_TEST_POSTGRES_URL / FERRY_TEST_MYSQL_URL, a fresh database per test);
//! `files` covers what does not depend on the backend, on SQLite.

mod files;
mod shared;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod specific;
mod support;
