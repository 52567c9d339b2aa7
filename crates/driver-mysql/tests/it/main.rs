//! Integration tests of the MySQL/MariaDB driver against a live server
//! (`FERRY_TEST_MYSQL_URL`, default `mysql://root@127.0.0.1:3306/test`).
//!
//! The conformance suite of `ferry_core::testkit` checks the `Driver` contract; the tests
//! here check what is MySQL's own: multi-statement batches (error numbers, the failing
//! statement's line, draining), procedures and triggers, databases as schemas, `GET_LOCK`,
//! connection errors, `ssl-mode`, unix sockets, the UTC session, and the schema snapshot with
//! the owners it reads again after a change (each tracked snapshot is checked against a whole
//! read).
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
