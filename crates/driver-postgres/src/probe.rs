//! The liveness probe of [`ferry_core::watch`] on PostgreSQL: a new connection asks the server
//! what the watched session is doing.

use ferry_core::watch::Liveness;
use tokio_postgres::types::Type;

use crate::url::Target;

/// How to reach the server, and which backend to ask about (`None` behind a pooler, where a
/// client has no backend of its own).
pub(crate) struct Probe {
    pub(crate) target: Target,
    pub(crate) session: Option<i32>,
}

impl Probe {
    /// One probe, bounded by the connect timeout.
    pub(crate) async fn check(&self) -> Liveness {
        let limit = self.target.connect_timeout;
        match tokio::time::timeout(limit, self.ask()).await {
            Ok(verdict) => verdict,
            Err(_) => Liveness::no_answer_within(limit),
        }
    }

    async fn ask(&self) -> Liveness {
        let client = match crate::conn::open(&self.target).await {
            Ok(client) => client,
            Err(e) => return Liveness::connect_failed(&e),
        };
        let Some(pid) = self.session else {
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
    }
}
