//! `verify` (SPEC §9), `drift` (SPEC §12) and `lint` (SPEC §13): the schema snapshots it judges by, the scratch databases it runs on, and
//! the manager that runs the steps.

pub mod drift;
pub mod lint;
mod manager;
pub mod scratch;
pub mod snapshot;

pub use manager::{Verdict, VerifiedMigration, VerifyManager};
