//! `ferrolb run` in Kubernetes mode: the wiring of the roles.
//!
//! - The mirror ([`super::mirror`]) lists and watches the cluster. Nothing is assigned,
//!   announced or withdrawn, and `/readyz` says not ready, until every watch has listed once.
//! - Every node is a speaker ([`super::speaker::task`]): it announces what Service status
//!   says, through the sessions its BGPPeers give it, and keeps one `ServiceAnnouncement` per
//!   Service it is announcing ([`super::speaker::report`]).
//! - One node at a time is the allocator ([`super::allocator::task`]), elected with a Lease.
//! - When the API server goes away the stores keep their last contents: the speaker keeps
//!   announcing what it last knew. The watchers retry with back-off and relist on 410 Gone; a
//!   relist replaces a store's contents in one step, so nothing valid is withdrawn on the way.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use super::allocator::task::Allocating;
use super::events::Events;
use super::mirror::{self, Cluster};
use super::speaker::report::Reporter;
use super::speaker::task::SpeakerTask;
use super::{Error, Stop};
use crate::bgp::listener::{Directory, Listener};
use crate::config::Config;
use crate::status::StatusModel;

/// Runs Kubernetes mode until `stop`.
pub async fn run(
    config: Config,
    directory: Directory,
    listener: Option<Arc<Listener>>,
    status: Arc<StatusModel>,
    mut stop: Stop,
) -> Result<(), Error> {
    let Some(k) = config.kubernetes.clone() else {
        return Err(Error::NotConfigured);
    };
    if !config.services.is_empty() || !config.bgp.peers.is_empty() || !config.pools.is_empty() {
        tracing::warn!(
            "[[services]], [[bgp.peers]] and [[pools]] of node.toml are ignored in Kubernetes mode: \
             Services, BGPPeers and IPAddressPools come from the cluster"
        );
    }
    super::trim::limit_arenas();
    let client = mirror::client(&k).await?;
    let node = config.node.name.clone();
    let (changed, _) = watch::channel(0u64);
    let cluster = Cluster::start(&client, &k.namespace, &changed);
    status.set_node(&node);
    tracing::info!(%node, namespace = %k.namespace, "Kubernetes mode: waiting for every watch to sync");
    tokio::select! {
        _ = cluster.synced() => {}
        _ = &mut stop => return Ok(()),
    }
    tracing::info!("every watch has synced");

    let (stop_alloc, stop_rx) = watch::channel(false);
    let allocator = tokio::spawn(
        Allocating::new(client.clone(), cluster.clone(), &k, &node, status.clone())
            .run(changed.subscribe(), stop_rx),
    );
    let (doing_tx, doing_rx) = watch::channel(BTreeMap::new());
    let (stop_report, stop_rx) = watch::channel(false);
    let reporter = tokio::spawn(
        Reporter::new(client.clone(), cluster.services.clone(), &node).run(doing_rx, stop_rx),
    );
    let (stop_speaker_tx, stop_speaker) = tokio::sync::oneshot::channel::<()>();
    let speaker = SpeakerTask {
        client: client.clone(),
        events: Events::new(client.clone(), &node),
        cluster,
        config,
        k,
        directory,
        listener,
        status,
    };
    let speaking = tokio::spawn(speaker.run(
        changed.subscribe(),
        Box::pin(async move {
            let _ = stop_speaker.await;
        }),
        doing_tx,
    ));
    stop.await;
    tracing::info!("shutting down: releasing the Lease, withdrawing routes, closing sessions");
    let _ = stop_alloc.send(true);
    let _ = allocator.await;
    let _ = stop_speaker_tx.send(());
    let _ = speaking.await;
    // Only now is nothing announced: the ServiceAnnouncements go last.
    let _ = stop_report.send(true);
    let _ = reporter.await;
    Ok(())
}
