//! The driver conformance suite on [`MemoryDatabase`], with and without transactional DDL.

use ferry_core::testkit::{block_on, run_conformance, MemoryDatabase};

#[test]
fn conformance_transactional_ddl() {
    block_on(run_conformance(&MemoryDatabase::new()));
}

#[test]
fn conformance_without_transactional_ddl() {
    block_on(run_conformance(
        &MemoryDatabase::new().with_transactional_ddl(false),
    ));
}
