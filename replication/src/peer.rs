//! The HTTP client one zone uses to call its peer. Every call carries the shared secret and
//! this zone's epoch and role, so the peer can fence itself (or us) before answering.

use crate::lease::{LeaseAnswer, LeaseRequest, PromoteVote, VoteAnswer};
use crate::protocol::{
    Catalog, JournalPage, ObjectPage, PromoteRequest, ProtocolError, ZoneInfo, EPOCH_HEADER,
    PREFIX, ROLE_HEADER,
};
use crate::records::Segment;
use crate::zone::Zone;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("peer unreachable: {0}")]
    Unreachable(String),
    #[error("peer refused ({status}): {} ({})", .doc.message, .doc.error)]
    Refused {
        status: u16,
        doc: Box<ProtocolError>,
    },
    #[error("bad answer from peer: {0}")]
    Bad(String),
}

impl PeerError {
    /// The protocol error code when the peer answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            PeerError::Refused { doc, .. } => Some(doc.error.as_str()),
            _ => None,
        }
    }

    pub fn zone(&self) -> Option<&ZoneInfo> {
        match self {
            PeerError::Refused { doc, .. } => doc.zone.as_ref(),
            _ => None,
        }
    }
}

pub type PeerResult<T> = Result<T, PeerError>;

#[derive(Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    base: String,
    secret: String,
    zone: Arc<Zone>,
}

/// The object version a segment is fetched for (`version` is `null` for the null one).
pub struct VersionOf<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub version: &'a str,
}

impl PeerClient {
    /// `base` is the peer's admin listener (`http://` or `https://`); `ca_pem` adds a CA to
    /// trust for a peer with a private certificate.
    pub fn new(
        base: &str,
        secret: &str,
        ca_pem: Option<&[u8]>,
        zone: Arc<Zone>,
    ) -> Result<PeerClient, String> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| format!("invalid peer CA certificate: {e}"))?;
            builder = builder.add_root_certificate(cert);
        }
        Ok(PeerClient {
            http: builder.build().map_err(|e| e.to_string())?,
            base: base.trim_end_matches('/').to_string(),
            secret: secret.to_string(),
            zone,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let zone = self.zone.snapshot();
        self.http
            .request(method, format!("{}{PREFIX}{path}", self.base))
            .bearer_auth(&self.secret)
            .header(EPOCH_HEADER, zone.epoch.to_string())
            .header(ROLE_HEADER, zone.role().as_str())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> PeerResult<reqwest::Response> {
        let resp = req
            .send()
            .await
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        match serde_json::from_str::<ProtocolError>(&text) {
            Ok(doc) => Err(PeerError::Refused {
                status: status.as_u16(),
                doc: Box::new(doc),
            }),
            Err(_) => Err(PeerError::Bad(format!("{status}: {text}"))),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> PeerResult<T> {
        self.send(req)
            .await?
            .json()
            .await
            .map_err(|e| PeerError::Bad(e.to_string()))
    }

    pub async fn hello(&self) -> PeerResult<ZoneInfo> {
        let req = self
            .request(reqwest::Method::GET, "/hello")
            .timeout(Duration::from_secs(5));
        self.json(req).await
    }

    /// Long-polls for entries after `after` (which also acknowledges them).
    pub async fn journal(
        &self,
        after: u64,
        wait: Duration,
        limit: usize,
    ) -> PeerResult<JournalPage> {
        let req = self
            .request(reqwest::Method::GET, "/journal")
            .query(&[
                ("after", after.to_string()),
                ("wait_ms", wait.as_millis().to_string()),
                ("limit", limit.to_string()),
            ])
            .timeout(wait + Duration::from_secs(30));
        self.json(req).await
    }

    /// Starts streaming a segment's bytes from `offset`. `of` names the object version the
    /// caller wants it for, so the peer can say when that version is gone.
    pub async fn segment(
        &self,
        seg: &Segment,
        of: &VersionOf<'_>,
        offset: u64,
    ) -> PeerResult<reqwest::Response> {
        let mut req = self
            .request(reqwest::Method::GET, &format!("/segments/{}", seg.id))
            .query(&[
                ("bucket", of.bucket),
                ("key", of.key),
                ("version", of.version),
            ]);
        if offset > 0 {
            req = req.header("range", format!("bytes={offset}-"));
        }
        self.send(req).await
    }

    pub async fn objects(&self, bucket: &str, after: &str, limit: usize) -> PeerResult<ObjectPage> {
        let req = self.request(reqwest::Method::GET, "/objects").query(&[
            ("bucket", bucket),
            ("after", after),
            ("limit", &limit.to_string()),
        ]);
        self.json(req).await
    }

    pub async fn catalog(&self) -> PeerResult<Catalog> {
        self.json(self.request(reqwest::Method::GET, "/catalog"))
            .await
    }

    /// Asks the peer (the primary) to hand over to this zone; answers with the new
    /// primary's (this zone's) state as the peer saw it.
    pub async fn switchover(&self) -> PeerResult<ZoneInfo> {
        let req = self
            .request(reqwest::Method::POST, "/switchover")
            .timeout(Duration::from_secs(120));
        self.json(req).await
    }

    pub async fn promote(&self, last_seq: u64, epoch: u64) -> PeerResult<ZoneInfo> {
        // Bounded: a lost answer must not stall the switchover (it then asks the peer).
        let req = self
            .request(reqwest::Method::POST, "/promote")
            .timeout(Duration::from_secs(15))
            .json(&PromoteRequest { last_seq, epoch });
        self.json(req).await
    }

    /// Asks for (or renews) the write lease. Bounded by `timeout`: a grantor that answers
    /// late is as good as none, the holder counts from when it asked.
    pub async fn lease(&self, req: &LeaseRequest, timeout: Duration) -> PeerResult<LeaseAnswer> {
        let req = self
            .request(reqwest::Method::POST, "/lease")
            .timeout(timeout)
            .json(req);
        self.json(req).await
    }

    /// Asks the witness to agree to this zone's promotion.
    pub async fn vote(&self, vote: &PromoteVote) -> PeerResult<VoteAnswer> {
        let req = self
            .request(reqwest::Method::POST, "/witness/promote")
            .timeout(Duration::from_secs(10))
            .json(vote);
        self.json(req).await
    }
}

/// The peer as one side of a cross-zone verify (`/verify/...` on the zone link).
impl crate::verify::Side for PeerClient {
    async fn info(&self) -> Result<ZoneInfo, String> {
        self.hello().await.map_err(|e| e.to_string())
    }

    async fn catalog(&self) -> Result<Catalog, String> {
        PeerClient::catalog(self).await.map_err(|e| e.to_string())
    }

    async fn ranges(
        &self,
        req: crate::verify::RangesRequest,
    ) -> Result<crate::verify::RangesAnswer, String> {
        self.verify_call("/verify/ranges", &req).await
    }

    async fn keys(
        &self,
        req: crate::verify::KeysRequest,
    ) -> Result<crate::verify::KeysAnswer, String> {
        self.verify_call("/verify/keys", &req).await
    }

    async fn records(
        &self,
        req: crate::verify::RecordsRequest,
    ) -> Result<crate::verify::RecordsAnswer, String> {
        self.verify_call("/verify/records", &req).await
    }
}

impl PeerClient {
    async fn verify_call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, String> {
        // A bucket of a million keys is summarised in seconds; minutes mean trouble.
        let req = self
            .request(reqwest::Method::POST, path)
            .timeout(Duration::from_secs(300))
            .json(body);
        self.json(req).await.map_err(|e| e.to_string())
    }
}
