//! Integration tests of the `ferry` binary. `shared` runs on all three backends (PostgreSQL and
//! MySQL through FERRY_TEST_POSTGRES_URL / FERRY_TEST_MYSQL_URL, a fresh database per test);
//! `files` covers what does not depend on the backend, on SQLite; `snapshots` pins the exact
//! output of every command on the example project (SQLite); `corpus` runs the bad-input corpus
//! of `tests/fixtures/bad/` (issue 11); `fleet` runs fleets of 20 databases or schemas per
//! backend (issue 13); `session` the database line, `.env`, `--help` and aliases (SPEC §16);
//! `database` the `database` and `show` commands; `progress` the running line of a slow
//! migration; `drift` `ferry drift` and `ferry schema` on every backend (SPEC §12; `drift::fleet`
//! with `--fleet`); `lint` `ferry lint`
//! (SPEC §13).

#[cfg(all(unix, feature = "sqlite"))]
mod corpus;
mod database;
mod files;
mod fleet;
mod progress;
#[cfg(all(target_os = "linux", feature = "postgres", feature = "mysql"))]
mod servers;
#[macro_use]
mod shared;
mod drift;
mod lint;
mod session;
#[cfg(all(unix, feature = "sqlite"))]
mod snapshots;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod specific;
mod statements;
mod support;
