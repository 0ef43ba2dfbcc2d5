//! One node's side of a Lease election: read the Lease, decide ([`super::decide`]), write it
//! with the resourceVersion read (a 409 simply loses), and release it on shutdown.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::chrono::{DateTime, Utc};
use kube::api::{Api, PostParams};
use kube::Client;

use super::decide::{decide, Decision};
use crate::watch::Error;

/// The outcome of one election round.
pub enum Round {
    /// We hold the Lease (created, renewed or taken over).
    Held,
    /// Another node holds it until then.
    Follow(DateTime<Utc>),
    /// Another node wrote first.
    Lost,
}

/// The elector of one node for one Lease.
pub struct Elector {
    leases: Api<Lease>,
    name: String,
    namespace: String,
    me: String,
    duration: Duration,
    /// The Lease version last read, and when (our clock) it was first seen.
    seen: Option<(Option<String>, DateTime<Utc>)>,
}

impl Elector {
    /// An elector for Lease `name` in `namespace`, as `me`.
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        me: &str,
        duration: Duration,
    ) -> Elector {
        Elector {
            leases: Api::namespaced(client, namespace),
            name: name.to_string(),
            namespace: namespace.to_string(),
            me: me.to_string(),
            duration,
            seen: None,
        }
    }

    /// One election round.
    pub async fn round(&mut self) -> Result<Round, Error> {
        let current = self.leases.get_opt(&self.name).await?;
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let now = Utc::now();
        let version = current
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone());
        let seen = match &self.seen {
            Some((v, at)) if *v == version => *at,
            _ => {
                self.seen = Some((version, now));
                now
            }
        };
        let pp = PostParams::default();
        let result = match decide(spec, &self.me, now, self.duration, seen) {
            Decision::Follow { until, .. } => return Ok(Round::Follow(until)),
            Decision::Create(spec) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                self.leases.create(&pp, &lease).await
            }
            Decision::Renew(spec) | Decision::TakeOver(spec) => {
                let Some(mut lease) = current else {
                    return Ok(Round::Lost);
                };
                lease.spec = Some(spec);
                self.leases.replace(&self.name, &pp, &lease).await
            }
        };
        match result.map_err(Error::from) {
            Ok(_) => Ok(Round::Held),
            // Someone else wrote first (409 on create or on a stale resourceVersion).
            Err(e) if e.api_code() == Some(409) => Ok(Round::Lost),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up so another node can take over at once.
    pub async fn release(&self) {
        let Ok(Some(mut lease)) = self.leases.get_opt(&self.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(&self.me) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Utc::now()));
        match self
            .leases
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!("released the Lease {}", self.name),
            Err(e) => tracing::warn!("cannot release the Lease {}: {e}", self.name),
        }
    }
}
