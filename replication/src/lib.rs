//! Zone replication for Bascule. For now: the durable record types and the journal entry
//! format that every mutation appends; the pull loop and zone roles build on these.

pub mod journal;
pub mod records;

pub use journal::{Entry, JournalError, Op};
