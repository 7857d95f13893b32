//! Reading a request body into the store: decode `aws-chunked`, hash (MD5 for the ETag,
//! SHA-256 when the payload is signed, the requested checksum), keep small bodies in memory
//! for inline storage, and stream larger ones to a blob file on a blocking thread so
//! hashing and disk writes stay off the async workers. Nothing becomes durable until every
//! check has passed.

use super::auth::PayloadCheck;
use crate::http_server::body_error;
use crate::store::blob::BlobWriter;
use crate::store::{Store, StoreError};
use axum::body::Body;
use bascule_api::checksum::{ChecksumAlgorithm, Hasher, ALL_ALGORITHMS};
use bascule_api::chunked::ChunkedDecoder;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{Location, Seal, Segment};
use bascule_seal::stream::StreamKey;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http::HeaderMap;
use md5::{Digest, Md5};
use sha2::Sha256;
use std::sync::Arc;

/// S3's limit for a single PUT and for one part.
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Which checksum to compute and where the expected value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChecksumSpec {
    /// The value came in a header and must match.
    Header(ChecksumAlgorithm, String),
    /// The value will come in an aws-chunked trailer and must match.
    Trailer(ChecksumAlgorithm),
    /// Compute and store; nothing to compare against.
    Compute(ChecksumAlgorithm),
}

impl ChecksumSpec {
    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self {
            ChecksumSpec::Header(a, _) | ChecksumSpec::Trailer(a) | ChecksumSpec::Compute(a) => *a,
        }
    }

    /// From `x-amz-checksum-*`, `x-amz-trailer` or `x-amz-sdk-checksum-algorithm`.
    /// Without any, S3 computes a CRC64NVME checksum for new objects; so does Bascule.
    pub fn from_headers(headers: &HeaderMap) -> S3Result<ChecksumSpec> {
        let invalid = |m: String| S3Error::msg(S3ErrorCode::InvalidRequest, m);
        let present: Vec<ChecksumAlgorithm> = ALL_ALGORITHMS
            .into_iter()
            .filter(|a| headers.contains_key(a.header_name()))
            .collect();
        if present.len() > 1 {
            return Err(invalid("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into()));
        }
        if let Some(alg) = present.first() {
            let value = headers
                .get(alg.header_name())
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .trim();
            if !alg.validate_encoded(value) {
                return Err(invalid(format!(
                    "Value for {} header is invalid.",
                    alg.header_name()
                )));
            }
            return Ok(ChecksumSpec::Header(*alg, value.to_string()));
        }
        if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
            let alg = ChecksumAlgorithm::from_header_name(trailer.trim()).ok_or_else(|| {
                invalid(format!(
                    "The value specified in the x-amz-trailer header is not supported: {trailer}"
                ))
            })?;
            return Ok(ChecksumSpec::Trailer(alg));
        }
        let requested = headers
            .get("x-amz-sdk-checksum-algorithm")
            .or_else(|| headers.get("x-amz-checksum-algorithm"))
            .and_then(|v| v.to_str().ok());
        match requested {
            Some(name) => ChecksumAlgorithm::from_name(name.trim())
                .map(ChecksumSpec::Compute)
                .ok_or_else(|| invalid(format!("Checksum algorithm {name} is not supported"))),
            None => Ok(ChecksumSpec::Compute(ChecksumAlgorithm::Crc64Nvme)),
        }
    }
}

pub struct BodySpec {
    pub payload: PayloadCheck,
    /// The decoded body length the client announced (unknown for form uploads).
    pub declared_len: Option<u64>,
    /// The least the body may hold (a form policy's `content-length-range`).
    pub min_len: u64,
    /// The most the body may hold.
    pub max_len: u64,
    pub content_md5_hex: Option<String>,
    pub checksum: ChecksumSpec,
    pub inline_max: usize,
}

impl BodySpec {
    /// Reads length, Content-MD5 and checksum expectations from the headers.
    pub fn from_headers(
        headers: &HeaderMap,
        payload: PayloadCheck,
        max_len: u64,
        inline_max: usize,
    ) -> S3Result<BodySpec> {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let chunked = matches!(payload, PayloadCheck::Chunked { .. });
        let len_header = if chunked {
            "x-amz-decoded-content-length"
        } else {
            "content-length"
        };
        // A body sent with `Transfer-Encoding: chunked` and no length is taken as it
        // streams (as RGW takes it), bounded by `max_len` while it is read.
        let streamed = !chunked
            && get("transfer-encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
        let declared_len: Option<u64> = match get(len_header) {
            Some(v) => Some(v.trim().parse().map_err(|_| {
                S3Error::msg(
                    S3ErrorCode::InvalidArgument,
                    format!("Invalid {len_header}"),
                )
                .with("ArgumentName", len_header)
            })?),
            None if streamed => None,
            None => return Err(S3Error::new(S3ErrorCode::MissingContentLength)),
        };
        if let Some(declared_len) = declared_len.filter(|d| *d > max_len) {
            return Err(S3Error::new(S3ErrorCode::EntityTooLarge)
                .with("ProposedSize", declared_len.to_string())
                .with("MaxSizeAllowed", max_len.to_string()));
        }
        let content_md5_hex = match get("content-md5") {
            Some(v) => Some(
                bascule_api::checksum::content_md5_to_hex(v)
                    .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?,
            ),
            None => None,
        };
        Ok(BodySpec {
            payload,
            declared_len,
            min_len: 0,
            max_len,
            content_md5_hex,
            checksum: ChecksumSpec::from_headers(headers)?,
            inline_max,
        })
    }
}

/// Where the data went.
pub enum IngestedData {
    Empty,
    Inline(Bytes),
    Blob(bascule_replication::records::Segment),
}

pub struct Ingested {
    pub data: IngestedData,
    /// The new segment's id (a blob's name, or the key of inline bytes).
    pub id: String,
    /// How the stored bytes are sealed (none: plaintext).
    pub seal: Option<Seal>,
    /// Plaintext bytes.
    pub size: u64,
    pub md5_hex: String,
    /// CRC32C of the plaintext (recorded for plaintext segments).
    pub crc32c: u32,
    pub checksum: (ChecksumAlgorithm, String),
}

/// A new segment's id and, when it is to be encrypted, its stream key and seal record
/// (made for that id by `KeyRing::seal_segment`).
pub struct NewSegment {
    pub id: String,
    pub sealing: Option<(StreamKey, Seal)>,
}

impl NewSegment {
    pub fn plain() -> NewSegment {
        NewSegment {
            id: crate::store::blob::new_id(),
            sealing: None,
        }
    }
}

impl Ingested {
    /// The data as one segment and the bytes to store inline, if it is not a blob file. A
    /// plaintext segment carries its MD5 for replicas to verify; a sealed one is checked by
    /// its length and chunk tags.
    pub fn segment(&self) -> (Segment, Option<Bytes>) {
        let md5 = self.seal.is_none().then(|| self.md5_hex.clone());
        let crc32c = self.seal.is_none().then_some(self.crc32c);
        let inline = |data: Bytes| {
            let seg = Segment {
                id: self.id.clone(),
                size: self.size,
                loc: Location::Inline,
                md5: md5.clone(),
                seal: self.seal.clone(),
                crc32c,
            };
            (seg, Some(data))
        };
        match &self.data {
            IngestedData::Blob(seg) => (
                Segment {
                    md5: md5.clone(),
                    seal: self.seal.clone(),
                    crc32c,
                    ..seg.clone()
                },
                None,
            ),
            IngestedData::Inline(b) => inline(b.clone()),
            IngestedData::Empty => inline(Bytes::new()),
        }
    }
}

/// Seals inline bytes when the segment is sealed (blobs are sealed as they are written).
fn inline_bytes(data: Bytes, key: Option<StreamKey>) -> Result<Bytes, StoreError> {
    match key {
        Some(k) => Ok(Bytes::from(crate::store::sealing::Sealer::seal_all(
            k, &data,
        )?)),
        None => Ok(data),
    }
}

struct BodyHasher {
    md5: Md5,
    crc32c: crc_fast::Digest,
    sha256: Option<Sha256>,
    checksum: Hasher,
}

impl BodyHasher {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.update_all_but_md5(data);
    }

    /// Everything but the MD5, which a blob upload computes on a thread of its own.
    fn update_all_but_md5(&mut self, data: &[u8]) {
        self.crc32c.update(data);
        if let Some(s) = self.sha256.as_mut() {
            s.update(data);
        }
        self.checksum.update(data);
    }
}

/// Where a blob upload's bytes go once it is too large to be inline: two blocking
/// threads, one computing the MD5 (the slowest digest, and one that cannot be split),
/// the other the remaining digests and the file writes. The body's pieces are handed
/// over in batches of about `BATCH` bytes (shared, not copied): one wake-up per batch
/// rather than per network read. The bounded channels hold the request back when either
/// thread falls behind.
struct Sink {
    tx: tokio::sync::mpsc::Sender<Batch>,
    md5_tx: tokio::sync::mpsc::Sender<Batch>,
    worker: Option<tokio::task::JoinHandle<Result<(BlobWriter, BodyHasher), StoreError>>>,
    md5_worker: Option<tokio::task::JoinHandle<Md5>>,
    pending: Vec<Bytes>,
    pending_len: usize,
}

type Batch = Arc<Vec<Bytes>>;

/// Bytes handed to the upload's threads at once.
const BATCH: usize = 1 << 20;
/// Batches each thread may have waiting.
const BATCHES_QUEUED: usize = 4;

impl Sink {
    async fn send(&mut self, piece: Bytes) -> S3Result<()> {
        self.pending_len += piece.len();
        self.pending.push(piece);
        if self.pending_len < BATCH {
            return Ok(());
        }
        self.flush().await
    }

    async fn flush(&mut self) -> S3Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch: Batch = Arc::new(std::mem::take(&mut self.pending));
        self.pending_len = 0;
        let md5_sent = self.md5_tx.send(batch.clone()).await.is_ok();
        if self.tx.send(batch).await.is_ok() && md5_sent {
            return Ok(());
        }
        // The writer stopped early: report why (a full disk, say).
        match self.worker.take() {
            Some(w) => match w.await {
                Ok(Err(e)) => Err(e.into()),
                _ => Err(S3Error::new(S3ErrorCode::InternalError)),
            },
            None => Err(S3Error::new(S3ErrorCode::InternalError)),
        }
    }

    async fn finish(mut self) -> S3Result<(BlobWriter, BodyHasher)> {
        self.flush().await?;
        drop(self.tx);
        drop(self.md5_tx);
        let internal = || S3Error::new(S3ErrorCode::InternalError);
        let worker = self.worker.take().ok_or_else(internal)?;
        let md5_worker = self.md5_worker.take().ok_or_else(internal)?;
        let (writer, mut hasher) = worker.await.map_err(|_| internal())??;
        hasher.md5 = md5_worker.await.map_err(|_| internal())?;
        Ok((writer, hasher))
    }
}

fn start_sink(
    store: &Arc<Store>,
    mut hasher: BodyHasher,
    id: String,
    key: Option<StreamKey>,
) -> Result<Sink, StoreError> {
    let sealer = key.map(crate::store::sealing::Sealer::new);
    let mut writer = store.blobs().create(id, sealer)?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(BATCHES_QUEUED);
    let (md5_tx, mut md5_rx) = tokio::sync::mpsc::channel::<Batch>(BATCHES_QUEUED);
    let mut md5 = std::mem::take(&mut hasher.md5);
    let md5_worker = tokio::task::spawn_blocking(move || {
        while let Some(batch) = md5_rx.blocking_recv() {
            for piece in batch.iter() {
                md5.update(piece);
            }
        }
        md5
    });
    let worker = tokio::task::spawn_blocking(move || {
        while let Some(batch) = rx.blocking_recv() {
            for piece in batch.iter() {
                hasher.update_all_but_md5(piece);
                writer.write(piece)?;
            }
        }
        Ok((writer, hasher))
    });
    Ok(Sink {
        tx,
        md5_tx,
        worker: Some(worker),
        md5_worker: Some(md5_worker),
        pending: Vec::new(),
        pending_len: 0,
    })
}

fn incomplete(received: u64, declared: Option<u64>) -> S3Error {
    let mut e = S3Error::new(S3ErrorCode::IncompleteBody);
    if let Some(d) = declared {
        e = e.with("NumberBytesExpected", d.to_string());
    }
    e.with("NumberBytesProvided", received.to_string())
}

/// Reads the whole body per `spec` into segment `new` (sealed when it says so). On success
/// the data is durable (blob fsynced) or held in memory for an inline commit; on failure
/// nothing is left behind.
pub async fn ingest(
    store: &Arc<Store>,
    body: Body,
    spec: BodySpec,
    new: NewSegment,
) -> S3Result<Ingested> {
    let (mut key, seal) = match new.sealing {
        Some((k, s)) => (Some(k), Some(s)),
        None => (None, None),
    };
    let mut decoder = match &spec.payload {
        PayloadCheck::Chunked { signing } => Some(ChunkedDecoder::new(signing.clone())),
        _ => None,
    };
    let mut hasher = Some(BodyHasher {
        md5: Md5::new(),
        crc32c: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi),
        sha256: matches!(spec.payload, PayloadCheck::Sha256(_)).then(Sha256::new),
        checksum: Hasher::new(spec.checksum.algorithm()),
    });
    let mut buffered: Vec<Bytes> = Vec::new();
    let mut sink: Option<Sink> = None;
    let mut total: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let frame = frame.map_err(|e| body_error(&e, incomplete(total, spec.declared_len)))?;
        let pieces = match decoder.as_mut() {
            Some(d) => d.push(&frame)?,
            None => vec![frame],
        };
        for piece in pieces {
            total += piece.len() as u64;
            if spec.declared_len.is_some_and(|d| total > d) {
                return Err(S3Error::msg(
                    S3ErrorCode::InvalidRequest,
                    "The body is longer than its declared length",
                ));
            }
            if total > spec.max_len {
                return Err(S3Error::new(S3ErrorCode::EntityTooLarge)
                    .with("MaxSizeAllowed", spec.max_len.to_string()));
            }
            match sink.as_mut() {
                Some(s) => s.send(piece).await?,
                None => {
                    buffered.push(piece);
                    if total > spec.inline_max as u64 {
                        let h = hasher
                            .take()
                            .ok_or_else(|| S3Error::new(S3ErrorCode::InternalError))?;
                        let mut s = start_sink(store, h, new.id.clone(), key.take())?;
                        for b in buffered.drain(..) {
                            s.send(b).await?;
                        }
                        sink = Some(s);
                    }
                }
            }
        }
    }
    let trailers = match decoder.as_mut() {
        Some(d) => d.finish()?,
        None => Vec::new(),
    };
    if spec.declared_len.is_some_and(|d| d != total) {
        return Err(incomplete(total, spec.declared_len));
    }
    if total < spec.min_len {
        return Err(S3Error::msg(
            S3ErrorCode::EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed size",
        )
        .with("ProposedSize", total.to_string())
        .with("MinSizeAllowed", spec.min_len.to_string()));
    }

    let (writer, hasher, inline) = match sink {
        Some(s) => {
            let (w, h) = s.finish().await?;
            (Some(w), h, None)
        }
        None => {
            let mut h = hasher.ok_or_else(|| S3Error::new(S3ErrorCode::InternalError))?;
            let data = concat(buffered);
            h.update(&data);
            (None, h, Some(data))
        }
    };

    let md5_hex = hex::encode(hasher.md5.finalize());
    let crc32c = hasher.crc32c.finalize() as u32;
    if let Some(expected) = &spec.content_md5_hex {
        if *expected != md5_hex {
            return Err(S3Error::new(S3ErrorCode::BadDigest)
                .with("ExpectedDigest", expected.clone())
                .with("CalculatedDigest", md5_hex));
        }
    }
    if let (PayloadCheck::Sha256(expected), Some(sha)) = (&spec.payload, hasher.sha256) {
        let computed = hex::encode(sha.finalize());
        if *expected != computed {
            return Err(S3Error::new(S3ErrorCode::XAmzContentSHA256Mismatch)
                .with("ClientComputedContentSHA256", expected.clone())
                .with("S3ComputedContentSHA256", computed));
        }
    }
    let alg = spec.checksum.algorithm();
    let computed = hasher.checksum.finalize();
    let expected = match &spec.checksum {
        ChecksumSpec::Header(_, v) => Some(v.clone()),
        ChecksumSpec::Trailer(a) => Some(
            trailers
                .iter()
                .find(|(k, _)| k == a.header_name())
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    S3Error::msg(
                        S3ErrorCode::InvalidRequest,
                        format!("Missing trailer {}", a.header_name()),
                    )
                })?,
        ),
        ChecksumSpec::Compute(_) => None,
    };
    if let Some(expected) = expected {
        if expected != computed {
            return Err(S3Error::msg(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    alg.name()
                ),
            ));
        }
    }

    let data = match (writer, inline) {
        (Some(w), _) => {
            let seg = tokio::task::spawn_blocking(move || w.finish())
                .await
                .map_err(|_| S3Error::new(S3ErrorCode::InternalError))??;
            IngestedData::Blob(seg)
        }
        (None, Some(d)) if d.is_empty() => IngestedData::Empty,
        (None, Some(d)) => IngestedData::Inline(inline_bytes(d, key)?),
        (None, None) => IngestedData::Empty,
    };
    Ok(Ingested {
        data,
        id: new.id,
        seal,
        size: total,
        md5_hex,
        crc32c,
        checksum: (alg, computed),
    })
}

fn concat(mut pieces: Vec<Bytes>) -> Bytes {
    match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().unwrap_or_default(),
        _ => {
            let mut b = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
            for p in pieces {
                b.extend_from_slice(&p);
            }
            b.freeze()
        }
    }
}

/// Why a copy failed: the store (a source released meanwhile, a full disk) or a key.
enum CopyFailure {
    Store(StoreError),
    S3(S3Error),
}

impl From<StoreError> for CopyFailure {
    fn from(e: StoreError) -> Self {
        CopyFailure::Store(e)
    }
}

impl From<std::io::Error> for CopyFailure {
    fn from(e: std::io::Error) -> Self {
        CopyFailure::Store(e.into())
    }
}

/// Copies `[start, start+len)` of an object's data (opened with `source`'s keys) into new
/// segment `new` (inline when small, sealed when it says so), computing MD5 and the
/// requested checksum on the way. Runs on a blocking thread.
#[allow(clippy::too_many_arguments)]
pub async fn copy_data(
    store: &Arc<Store>,
    segments: Vec<bascule_replication::records::Segment>,
    source: crate::crypt::Opener,
    start: u64,
    len: u64,
    alg: ChecksumAlgorithm,
    inline_max: usize,
    new: NewSegment,
) -> S3Result<Ingested> {
    let store = store.clone();
    let work = move || -> Result<Ingested, CopyFailure> {
        let pieces = crate::store::read::open_range(&store, &segments, start, len, |seg, seal| {
            source.key_of(seg, seal).map_err(CopyFailure::S3)
        })?;
        let (key, seal) = match new.sealing {
            Some((k, s)) => (Some(k), Some(s)),
            None => (None, None),
        };
        let mut hasher = BodyHasher {
            md5: Md5::new(),
            crc32c: crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi),
            sha256: None,
            checksum: Hasher::new(alg),
        };
        let data = if len == 0 {
            IngestedData::Empty
        } else if len <= inline_max as u64 {
            let mut buf = BytesMut::with_capacity(len as usize);
            crate::store::read::read_pieces(pieces, |chunk| {
                buf.extend_from_slice(&chunk);
                Ok(())
            })?;
            hasher.update(&buf);
            IngestedData::Inline(inline_bytes(buf.freeze(), key)?)
        } else {
            let sealer = key.map(crate::store::sealing::Sealer::new);
            let mut writer = store.blobs().create(new.id.clone(), sealer)?;
            crate::store::read::read_pieces(pieces, |chunk| {
                hasher.update(&chunk);
                writer.write(&chunk)
            })?;
            IngestedData::Blob(writer.finish()?)
        };
        Ok(Ingested {
            data,
            id: new.id,
            seal,
            size: len,
            md5_hex: hex::encode(hasher.md5.finalize()),
            crc32c: hasher.crc32c.finalize() as u32,
            checksum: (alg, hasher.checksum.finalize()),
        })
    };
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(i)) => Ok(i),
        Ok(Err(CopyFailure::Store(StoreError::Io(e))))
            if e.kind() == std::io::ErrorKind::NotFound =>
        {
            Err(S3Error::msg(
                S3ErrorCode::InternalError,
                "The copy source changed during the copy; retry",
            ))
        }
        Ok(Err(CopyFailure::Store(e))) => Err(e.into()),
        Ok(Err(CopyFailure::S3(e))) => Err(e),
        Err(_) => Err(S3Error::new(S3ErrorCode::InternalError)),
    }
}
