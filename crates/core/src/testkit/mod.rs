//! Test support for drivers and for core itself (feature `testkit`).
//!
//! - [`run_conformance`]: the driver conformance suite, run by every driver crate against its
//!   own database through a [`DriverFactory`].
//! - [`MemoryDriver`] on a [`MemoryDatabase`]: an in-memory [`crate::Driver`] that models
//!   just enough of a database (tracking rows, a lock, tables created and dropped, statement
//!   failures) to test core's planning rules without a real database.
//! - [`block_on`]: a minimal executor for tests, since core depends on no async runtime.

mod conformance;
mod memory;

pub use conformance::{run_conformance, DriverFactory};
pub use memory::{block_on, MemoryDatabase, MemoryDriver};
