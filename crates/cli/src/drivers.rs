//! Choosing a driver from a database URL: `ferry::connect` (the `ferry` crate, whose features
//! follow this crate's `postgres`, `sqlite`, `mysql`), plus the command's hint for a database
//! that does not exist.

use ferry_core::{Driver, DriverError, DriverErrorKind, TableName};

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    ferry::backends().into_iter().map(|b| b.as_str()).collect()
}

/// What to do about a database that does not exist (SPEC §16.5).
pub const CREATE_HINT: &str = "create it with `ferry database create`";

/// Open a driver for `url` ([`ferry::connect`]). A database that does not exist
/// ([`DriverErrorKind::DatabaseMissing`]) gets the hint [`CREATE_HINT`].
pub async fn driver_for_url(url: &str, table: TableName) -> Result<Box<dyn Driver>, DriverError> {
    ferry::connect(url, table).await.map_err(|mut e| {
        if e.kind == DriverErrorKind::DatabaseMissing && e.hint.is_none() {
            e.hint = Some(CREATE_HINT.to_owned());
        }
        e
    })
}
