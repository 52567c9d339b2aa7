//! Integration tests of ferry-core, without a database: the conformance suite and the
//! planning rules of SPEC §5 and §6, run on the in-memory driver of `ferry_core::testkit`;
//! `properties`: property tests of the file, config and SQL parsers on arbitrary input;
//! `library`: what a program using ferry-core at startup touches (embedded sets, reporters).

mod conformance;
mod lease;
mod library;
mod memory;
mod planning;
mod properties;
