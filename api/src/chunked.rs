//! Decoding of `Content-Encoding: aws-chunked` bodies, fed incrementally.
//!
//! Wire format, one chunk after another:
//! `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`, ending with a zero-size chunk, then
//! optional trailer lines `name:value\r\n` (checksums, `x-amz-trailer-signature`) and `\r\n`.
//! Signed chunks chain: each signature covers the previous one and the chunk's SHA-256.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::sigv4::{signatures_match, SigningKey, EMPTY_SHA256};
use bytes::{Buf, Bytes, BytesMut};
use sha2::{Digest, Sha256};

/// A chunk header line longer than this is not a header: reject instead of buffering.
const MAX_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16;

/// What is needed to verify chunk and trailer signatures.
#[derive(Debug, Clone)]
pub struct ChunkSigning {
    pub key: SigningKey,
    pub amz_date: String,
    pub scope: String,
    /// Starts as the request's seed signature (from the Authorization header).
    pub prev_signature: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data,
    DataEnd,
    Trailer,
    Done,
}

pub struct ChunkedDecoder {
    signing: Option<ChunkSigning>,
    state: State,
    buf: BytesMut,
    remaining: u64,
    chunk_signature: Option<String>,
    chunk_hash: Sha256,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    decoded_len: u64,
}

fn malformed(msg: &str) -> S3Error {
    S3Error::msg(
        S3ErrorCode::IncompleteBody,
        format!("Malformed aws-chunked body: {msg}"),
    )
}

impl ChunkedDecoder {
    /// `signing` is `Some` for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`.
    pub fn new(signing: Option<ChunkSigning>) -> Self {
        ChunkedDecoder {
            signing,
            state: State::Header,
            buf: BytesMut::new(),
            remaining: 0,
            chunk_signature: None,
            chunk_hash: Sha256::new(),
            trailers: Vec::new(),
            trailer_signature: None,
            decoded_len: 0,
        }
    }

    /// Feeds raw body bytes; returns the decoded payload bytes now available.
    pub fn push(&mut self, input: &[u8]) -> S3Result<Vec<Bytes>> {
        self.buf.extend_from_slice(input);
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else { break };
                    self.start_chunk(&line)?;
                }
                State::Data => {
                    if self.buf.is_empty() {
                        break;
                    }
                    let n = self.remaining.min(self.buf.len() as u64) as usize;
                    let data = self.buf.split_to(n).freeze();
                    if self.signing.is_some() {
                        self.chunk_hash.update(&data);
                    }
                    self.remaining -= n as u64;
                    self.decoded_len += n as u64;
                    out.push(data);
                    if self.remaining == 0 {
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        break;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(malformed("chunk data is not followed by CRLF"));
                    }
                    self.buf.advance(2);
                    let hash = hex::encode(std::mem::take(&mut self.chunk_hash).finalize());
                    self.verify_chunk(&hash)?;
                    self.state = State::Header;
                }
                State::Trailer => {
                    let Some(line) = self.take_line()? else { break };
                    if line.is_empty() {
                        self.finish_trailers()?;
                        self.state = State::Done;
                    } else {
                        self.add_trailer(&line)?;
                    }
                }
                State::Done => {
                    if !self.buf.is_empty() {
                        return Err(malformed("data after the final chunk"));
                    }
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Called at end of body: the stream must have ended cleanly. Returns the trailers.
    pub fn finish(&mut self) -> S3Result<Vec<(String, String)>> {
        // Some clients end the trailer section without the final blank line.
        if self.state == State::Trailer && self.buf.is_empty() {
            self.finish_trailers()?;
            self.state = State::Done;
        }
        if self.state != State::Done {
            return Err(S3Error::new(S3ErrorCode::IncompleteBody));
        }
        Ok(std::mem::take(&mut self.trailers))
    }

    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    fn take_line(&mut self) -> S3Result<Option<String>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = self.buf.split_to(pos);
                self.buf.advance(2);
                String::from_utf8(line.to_vec())
                    .map(Some)
                    .map_err(|_| malformed("non-UTF-8 header line"))
            }
            None if self.buf.len() > MAX_LINE => Err(malformed("chunk header too long")),
            None => Ok(None),
        }
    }

    fn start_chunk(&mut self, line: &str) -> S3Result<()> {
        let (size_hex, ext) = line.split_once(';').unwrap_or((line, ""));
        let size =
            u64::from_str_radix(size_hex.trim(), 16).map_err(|_| malformed("bad chunk size"))?;
        self.chunk_signature = ext
            .trim()
            .strip_prefix("chunk-signature=")
            .map(|s| s.to_ascii_lowercase());
        if self.signing.is_some() && self.chunk_signature.is_none() {
            return Err(malformed("missing chunk-signature"));
        }
        if size == 0 {
            self.verify_chunk(EMPTY_SHA256)?;
            self.state = State::Trailer;
        } else {
            self.remaining = size;
            self.state = State::Data;
        }
        Ok(())
    }

    fn verify_chunk(&mut self, payload_hash: &str) -> S3Result<()> {
        let Some(s) = self.signing.as_mut() else {
            return Ok(());
        };
        let provided = self.chunk_signature.take().unwrap_or_default();
        let sts = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{payload_hash}",
            s.amz_date, s.scope, s.prev_signature
        );
        let expected = s.key.sign(&sts);
        if !signatures_match(&expected, &provided) {
            return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
        }
        s.prev_signature = expected;
        Ok(())
    }

    fn add_trailer(&mut self, line: &str) -> S3Result<()> {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("bad trailer line"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
        if name == "x-amz-trailer-signature" {
            self.trailer_signature = Some(value.to_ascii_lowercase());
        } else if self.trailers.len() >= MAX_TRAILERS {
            return Err(malformed("too many trailers"));
        } else {
            self.trailers.push((name, value));
        }
        Ok(())
    }

    fn finish_trailers(&mut self) -> S3Result<()> {
        let Some(s) = self.signing.as_ref() else {
            return Ok(());
        };
        if self.trailers.is_empty() && self.trailer_signature.is_none() {
            return Ok(());
        }
        // Canonical trailer block: lowercase names, sorted, `name:value\n` each.
        let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
        sorted.sort();
        let mut block = String::new();
        for (k, v) in sorted {
            block.push_str(&format!("{k}:{v}\n"));
        }
        let sts = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            s.amz_date,
            s.scope,
            s.prev_signature,
            hex::encode(Sha256::digest(block.as_bytes()))
        );
        let expected = s.key.sign(&sts);
        match &self.trailer_signature {
            Some(provided) if signatures_match(&expected, provided) => Ok(()),
            _ => Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4::Scope;

    /// Decoded payload and trailers.
    type Decoded = (Vec<u8>, Vec<(String, String)>);

    fn decode_all(dec: &mut ChunkedDecoder, body: &[u8], step: usize) -> S3Result<Decoded> {
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            for b in dec.push(piece)? {
                out.extend_from_slice(&b);
            }
        }
        let trailers = dec.finish()?;
        Ok((out, trailers))
    }

    #[test]
    fn unsigned_with_trailer_in_any_split() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for step in [1, 2, 3, 7, 100] {
            let mut d = ChunkedDecoder::new(None);
            let (data, trailers) = decode_all(&mut d, body, step).unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(
                trailers,
                vec![("x-amz-checksum-crc32".to_string(), "DUoRhQ==".to_string())]
            );
        }
    }

    #[test]
    fn truncated_body_is_incomplete() {
        let mut d = ChunkedDecoder::new(None);
        let e = decode_all(&mut d, b"5\r\nhel", 4).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::IncompleteBody);
        let mut d = ChunkedDecoder::new(None);
        assert!(decode_all(&mut d, b"zz\r\n", 4).is_err());
    }

    /// AWS's documented example of a signed streaming upload (PUT examplebucket/chunkObject.txt,
    /// 66560 bytes of 'a' in 64 KiB + 1 KiB chunks).
    #[test]
    fn aws_documented_signed_chunks() {
        let scope = Scope {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            date: "20130524".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
        };
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &scope).unwrap();
        let signing = ChunkSigning {
            key,
            amz_date: "20130524T000000Z".into(),
            scope: scope.to_scope_string(),
            prev_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
                .into(),
        };
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend(std::iter::repeat_n(b'a', 65536));
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        let mut d = ChunkedDecoder::new(Some(signing.clone()));
        let (data, _) = decode_all(&mut d, &body, 8191).unwrap();
        assert_eq!(data.len(), 66560);

        let mut tampered = body.clone();
        tampered[100] = b'b';
        let mut d = ChunkedDecoder::new(Some(signing));
        let e = decode_all(&mut d, &tampered, 8191).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::SignatureDoesNotMatch);
    }
}
