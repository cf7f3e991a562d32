//! Gregor's coordinators as pure state machines: decoded requests and the
//! time in; state changes, records to persist and responses out. No sockets,
//! clocks, logs or tasks here: the broker's `group_service` and `txn_service`
//! persist the records to `__consumer_offsets` / `__transaction_state`, run
//! the timers and send the answers.
//!
//! - [`group`]: the group coordinator (classic and KIP-848 consumer groups,
//!   committed offsets, transactional offset commits).
//! - [`txn`]: the transaction coordinator (KIP-98 with KIP-890's fixes).
//! - [`coordinator_codec`]: the wire primitives of the records both keep.
//! - [`record_frame`]: the type/version framing of the records whose key and
//!   value are generated schema structs (share and streams groups, share state).
//! - [`runtime`]: the shards (one per internal-topic partition led here)
//!   and the plan that loads and unloads them as leadership moves.

pub mod coordinator_codec;
pub mod group;
pub mod record_frame;
pub mod runtime;
pub mod share;
#[cfg(test)]
mod sim_rng;
pub mod txn;
