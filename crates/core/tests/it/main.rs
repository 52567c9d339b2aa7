//! Integration tests of ferry-core, without a database: the conformance suite and the
//! planning rules of SPEC §5 and §6, run on the in-memory driver of `ferry_core::testkit`.

mod conformance;
mod memory;
mod planning;
