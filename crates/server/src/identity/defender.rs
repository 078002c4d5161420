//! Polling of Microsoft Defender URL-click events: every interval the
//! `graph` connector runs a hunting query over `UrlClickEvents`, and the
//! rows are imported against the open cases like an uploaded log. Events
//! read twice (the query window is longer than the interval) change
//! nothing, because evidence lines merge.

use std::sync::Arc;
use std::time::Duration;

use phishloop_identity::{DefenderPolling, GraphConnector, parse_url_click_events};
use phishloop_store::Store;
use tokio::sync::watch;

use super::IdentityParts;
use super::clicks::{ClickFormat, Scope, import, wake};
use crate::notify::Notifier;

/// The name recorded as `requested_by` of polled imports.
pub(crate) const POLLER_NAME: &str = "defender-poll";

pub(crate) struct DefenderPoller {
    pub(crate) store: Store,
    pub(crate) parts: Arc<IdentityParts>,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) graph: Arc<GraphConnector>,
    pub(crate) polling: DefenderPolling,
    pub(crate) contain_wake: Arc<tokio::sync::Notify>,
}

impl DefenderPoller {
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let interval = Duration::from_secs(self.polling.interval_seconds.max(1));
        tracing::info!(interval_seconds = interval.as_secs(), "Defender URL-click polling started");
        while !*shutdown.borrow() {
            self.poll_once().await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!("Defender URL-click polling stopped");
    }

    /// Queries, parses and imports once; failures are logged and the next
    /// poll tries again.
    async fn poll_once(&self) {
        let body = match self.graph.url_click_events(self.polling.lookback_minutes).await {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, "reading Defender URL-click events failed; trying again at the next poll");
                return;
            }
        };
        let log = match parse_url_click_events(&body) {
            Ok(log) => log,
            Err(error) => {
                tracing::warn!(%error, "Graph returned URL-click events that cannot be read");
                return;
            }
        };
        if log.entries.is_empty() {
            return;
        }
        let imported =
            import(&self.store, &self.parts, &self.notifier, &log, Scope::Open, ClickFormat::Defender, POLLER_NAME)
                .await;
        match imported {
            Ok((summary, queued)) => {
                wake(&self.contain_wake, queued);
                tracing::debug!(
                    events = summary.entries,
                    cases = summary.cases.len(),
                    "Defender URL-click events imported"
                );
            }
            Err(error) => tracing::warn!(%error, "importing Defender URL-click events failed"),
        }
    }
}
