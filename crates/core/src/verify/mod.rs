//! `verify` (SPEC §9) and `drift` (SPEC §12): the schema snapshots it judges by, the scratch databases it runs on, and
//! the manager that runs the steps.

pub mod drift;
mod manager;
pub mod scratch;
pub mod snapshot;

pub use manager::{Verdict, VerifiedMigration, VerifyManager};
