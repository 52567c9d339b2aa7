//! The lease lock on MySQL and MariaDB: [`ferry_core::driver::lease`] (take, renew, fence, release)
//! over a mysql_async connection, with tokio as its runtime.

use std::borrow::{Borrow, BorrowMut};

use chrono::{NaiveDateTime, TimeZone, Utc};
use ferry_core::driver::lease::{HolderResult, LeaseConn, Statement};
use ferry_core::driver::rt::{AbortOnDrop, RuntimeFns};
use ferry_core::driver::{BoxFuture, DriverResult, LockHolder};
use ferry_core::{DriverError, DriverErrorKind};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use tokio::task::AbortHandle;

use crate::bind;
use crate::error::db_error;
use crate::url::Target;

/// tokio, as ferry-core's runtime.
pub(crate) static TOKIO: RuntimeFns = RuntimeFns {
    sleep: |duration| Box::pin(tokio::time::sleep(duration)),
    spawn: |task| AbortOnDrop::new(tokio::spawn(task).abort_handle(), AbortHandle::abort),
};

/// A connection as the lease lock's store, and where to open another: borrowed from the
/// driver, or owned by the renewal task.
pub(crate) struct Store<C, T> {
    pub(crate) conn: C,
    pub(crate) target: T,
}

impl<'a> Store<&'a mut Conn, &'a Target> {
    /// The driver's connection, borrowed.
    pub(crate) fn new(conn: &'a mut Conn, target: &'a Target) -> Self {
        Store { conn, target }
    }
}

impl<C, T> LeaseConn for Store<C, T>
where
    C: BorrowMut<Conn> + Send,
    T: Borrow<Target> + Send,
{
    fn exec<'a>(&'a mut self, (sql, values): Statement<'a>) -> BoxFuture<'a, DriverResult<u64>> {
        Box::pin(async move {
            let conn: &mut Conn = self.conn.borrow_mut();
            conn.exec_drop(sql, bind(values))
                .await
                .map_err(|e| db_error(&e))?;
            Ok(conn.affected_rows())
        })
    }

    fn holder<'a>(&'a mut self, (sql, values): Statement<'a>) -> BoxFuture<'a, HolderResult> {
        Box::pin(async move {
            let conn: &mut Conn = self.conn.borrow_mut();
            let row: Option<Row> = conn
                .exec_first(sql, bind(values))
                .await
                .map_err(|e| db_error(&e))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let (owner, since, expires): (String, NaiveDateTime, NaiveDateTime) =
                mysql_async::from_row_opt(row).map_err(|e| {
                    DriverError::new(
                        DriverErrorKind::Other,
                        format!("unexpected row in the lock table: {e}"),
                    )
                })?;
            Ok(Some(LockHolder {
                owner,
                since: Some(Utc.from_utc_datetime(&since)),
                expires: Some(Utc.from_utc_datetime(&expires)),
            }))
        })
    }

    fn open_renewal(&self) -> BoxFuture<'static, DriverResult<Box<dyn LeaseConn>>> {
        let target = self.target.borrow().clone();
        Box::pin(async move {
            let conn = crate::conn::open(&target).await?;
            Ok(Box::new(Store { conn, target }) as Box<dyn LeaseConn>)
        })
    }
}
