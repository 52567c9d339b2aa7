//! Test support for drivers and for core itself (feature `testkit`).
//!
//! - [`run_conformance`]: the driver conformance suite, run by every driver crate against its
//!   own database through a [`DriverFactory`].
//! - [`MemoryDriver`] on a [`MemoryDatabase`]: an in-memory [`crate::Driver`] that models
//!   just enough of a database (tracking rows, a lock, tables created and dropped, statement
//!   failures) to test core's planning rules without a real database.
//! - [`block_on`]: a minimal executor for tests, since core depends on no async runtime.
//! - [`net`]: a server that never answers and a proxy that goes silent or cuts, for tests of
//!   connect timeouts and of the liveness watch.
//! - [`server`]: a throwaway PostgreSQL or MariaDB of the test binary's own, for the drivers'
//!   `testing` modules when no server URL is configured.
//! - [`snapshot`]: checks for the drivers' schema snapshot tests (a change seen exactly, the
//!   tracking tables left out).

mod conformance;
mod memory;
pub mod net;
pub mod server;
pub mod snapshot;

pub use conformance::{run_conformance, run_lease_conformance, DriverFactory};
pub use memory::{block_on, MemoryDatabase, MemoryDriver};
