//! The liveness probe of [`ferry_core::driver::watch`] on MySQL and MariaDB: a new connection asks the
//! server what the watched connection is doing.

use ferry_core::driver::watch::Liveness;
use ferry_core::driver::BoxFuture;
use mysql_async::prelude::Queryable;

use crate::url::Target;

/// Ask the server of `target` about the connection `session` (`None` behind a proxy, where the
/// server's connection id is not this client's: then only whether the server answers).
pub(crate) fn ask(target: Target, session: Option<u32>) -> BoxFuture<'static, Liveness> {
    Box::pin(async move {
        let mut conn = match crate::conn::open(&target).await {
            Ok(conn) => conn,
            Err(e) => return Liveness::connect_failed(&e),
        };
        let verdict = match session {
            None => match conn.query_drop("SELECT 1").await {
                Ok(()) => Liveness::Working,
                Err(e) => Liveness::Gone(format!("the server does not answer queries ({e})")),
            },
            Some(id) => {
                let command: Result<Option<Option<String>>, _> = conn
                    .exec_first(
                        "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?",
                        (id,),
                    )
                    .await;
                match command {
                    Ok(None) => Liveness::Gone(format!(
                        "the server no longer has this connection (id {id})"
                    )),
                    Ok(Some(Some(command))) if command == "Sleep" => Liveness::Idle,
                    // Working on it, or cannot tell: keep waiting.
                    Ok(Some(_)) | Err(_) => Liveness::Working,
                }
            }
        };
        let _ = conn.disconnect().await;
        verdict
    })
}
