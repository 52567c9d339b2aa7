//! The liveness probe of [`ferry_core::driver::watch`] on PostgreSQL: a new connection asks the server
//! what the watched session is doing.

use ferry_core::driver::watch::Liveness;
use ferry_core::driver::BoxFuture;
use tokio_postgres::types::Type;

use crate::url::Target;

/// Ask the server of `target` about the backend `session` (`None` behind a pooler, where a
/// client has no backend of its own: then only whether the server answers).
pub(crate) fn ask(target: Target, session: Option<i32>) -> BoxFuture<'static, Liveness> {
    Box::pin(async move {
        let client = match crate::conn::open(&target).await {
            Ok(client) => client,
            Err(e) => return Liveness::connect_failed(&e),
        };
        let Some(pid) = session else {
            return match client.simple_query("SELECT 1").await {
                Ok(_) => Liveness::Working,
                Err(e) => Liveness::Gone(format!("the server does not answer queries ({e})")),
            };
        };
        let state = client
            .query_typed(
                "SELECT COALESCE(state, '') FROM pg_catalog.pg_stat_activity WHERE pid = $1",
                &[(&pid, Type::INT4)],
            )
            .await;
        match state {
            Ok(rows) => match rows.first().map(|row| row.get::<_, String>(0)) {
                None => Liveness::Gone(format!(
                    "the server no longer has this connection's session (backend pid {pid})"
                )),
                Some(state) if state == "idle" => Liveness::Idle,
                Some(_) => Liveness::Working,
            },
            // Reachable, but cannot tell: keep waiting.
            Err(_) => Liveness::Working,
        }
    })
}
