//! Zone replication for Bascule: the durable record types, the journal entry format, the
//! zone state (role, epoch, peer), the zone-to-zone protocol and client, and the pull loop
//! that a secondary runs against a small trait the store implements.

pub mod encryption;
pub mod fetch;
pub mod journal;
pub mod lease;
pub mod peer;
pub mod port;
pub mod protocol;
pub mod puller;
pub mod records;
pub mod resync;
pub mod status;
pub mod verify;
pub mod zone;

pub use journal::{Entry, JournalError, Op, Removal};
