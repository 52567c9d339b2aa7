//! Output views: what a command prints as data.

pub mod json;
