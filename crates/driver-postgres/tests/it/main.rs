//! Integration tests of the PostgreSQL driver against a live server
//! (`FERRY_TEST_POSTGRES_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//!
//! The conformance suite of `ferry_core::testkit` checks the `Driver` contract; the tests
//! here check what is PostgreSQL's own: schemas and `search_path`, `no-transaction`
//! statements sent alone, dollar quotes, SQLSTATE and error positions, the polled advisory
//! lock, connection errors, TLS modes and unix sockets.
//!
//! Every test creates its own database and drops it at the end. An unreachable server fails
//! the tests: nothing is skipped.

mod client;
mod conformance;
mod connect;
mod lock;
mod net;
mod snapshot;
mod sql;
mod support;
mod tracking;
