//! Integration tests of the SQLite driver: the core conformance suite, then only what is
//! specific to SQLite (the file and its modes, the lock as one transaction with savepoints,
//! `no-transaction` sections, the worker thread).

mod client;
mod conformance;
mod connect;
mod library;
mod lock;
mod snapshot;
mod support;
mod tracking;
