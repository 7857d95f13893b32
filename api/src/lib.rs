//! The S3 wire protocol, with no I/O: SigV4, aws-chunked bodies, checksums, XML bodies,
//! error codes and the header grammar (Range, conditionals). Everything here is a pure
//! function of its input so that it can be unit-tested against AWS's fixtures and fuzzed.

pub mod checksum;
pub mod chunked;
pub mod encoding;
pub mod error;
pub mod headers;
pub mod names;
pub mod post_policy;
pub mod sigv2;
pub mod sigv4;
pub mod xml;
pub mod xml_exact;
pub mod xml_tree;

pub use error::{S3Error, S3ErrorCode, S3Result};
