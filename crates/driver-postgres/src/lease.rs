//! The lease lock on PostgreSQL: [`ferry_core::driver::lease`] (take, renew, fence, release) over a
//! tokio-postgres client, with tokio as its runtime.

use std::borrow::Borrow;

use ferry_core::driver::lease::{HolderResult, LeaseConn, Statement};
use ferry_core::driver::rt::{AbortOnDrop, RuntimeFns};
use ferry_core::driver::{BoxFuture, DriverResult, LockHolder};
use tokio::task::AbortHandle;
use tokio_postgres::Client;

use crate::error::db_error;
use crate::typed;
use crate::url::Target;

/// tokio, as ferry-core's runtime.
pub(crate) static TOKIO: RuntimeFns = RuntimeFns {
    sleep: |duration| Box::pin(tokio::time::sleep(duration)),
    spawn: |task| AbortOnDrop::new(tokio::spawn(task).abort_handle(), AbortHandle::abort),
};

/// A client as the lease lock's store, and where to open another: borrowed from the driver,
/// or owned by the renewal task.
pub(crate) struct Store<C, T> {
    pub(crate) client: C,
    pub(crate) target: T,
}

impl<C, T> LeaseConn for Store<C, T>
where
    C: Borrow<Client> + Send + Sync,
    T: Borrow<Target> + Send + Sync,
{
    fn exec<'a>(&'a mut self, (sql, values): Statement<'a>) -> BoxFuture<'a, DriverResult<u64>> {
        Box::pin(async move {
            let client: &Client = self.client.borrow();
            client
                .execute_typed(sql, &typed(&values))
                .await
                .map_err(|e| db_error(&e))
        })
    }

    fn holder<'a>(&'a mut self, (sql, values): Statement<'a>) -> BoxFuture<'a, HolderResult> {
        Box::pin(async move {
            let client: &Client = self.client.borrow();
            let rows = client
                .query_typed(sql, &typed(&values))
                .await
                .map_err(|e| db_error(&e))?;
            rows.first()
                .map(|row| {
                    Ok(LockHolder {
                        owner: row.try_get(0)?,
                        since: Some(row.try_get(1)?),
                        expires: Some(row.try_get(2)?),
                    })
                })
                .transpose()
                .map_err(|e: tokio_postgres::Error| db_error(&e))
        })
    }

    fn open_renewal(&self) -> BoxFuture<'static, DriverResult<Box<dyn LeaseConn>>> {
        let target = self.target.borrow().clone();
        Box::pin(async move {
            let client = crate::conn::open(&target).await?;
            Ok(Box::new(Store { client, target }) as Box<dyn LeaseConn>)
        })
    }
}
