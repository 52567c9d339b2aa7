//! The project: its configuration, apps and migration files, read from disk or built in code.

pub(crate) mod config;
pub mod embedded;
pub mod files;
pub mod fleet;
pub(crate) mod loader;
pub(crate) mod migration;
pub(crate) mod policy;
pub(crate) mod registry;
pub mod scaffold;
