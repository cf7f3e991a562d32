//! The transaction coordinator (KIP-98, with KIP-890's fixes) as a pure
//! state machine: decoded inputs and the time in, the next
//! [`TxnMetadata`] of a transactional id (or an error code) out. No
//! sockets, clocks, logs or tasks here.
//!
//! The edge (`txn_service`) persists each returned metadata to
//! `__transaction_state` before [`TxnCoordinator::apply`]ing it, writes the
//! transaction markers to the partitions of a prepared transaction, then
//! applies [`TxnCoordinator::complete`]. Rules and error codes follow Kafka
//! 4's `TransactionCoordinator`.

pub mod metadata;
pub mod records;
pub mod state;

#[cfg(test)]
mod tests;

pub use metadata::TxnMetadata;
pub use records::Record;
pub use state::TxnState;

use gregor_protocol::error_codes;
use metadata::{is_epoch_exhausted, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use std::collections::BTreeMap;

/// The transaction version (the `transaction.version` feature level) this
/// broker runs at and advertises: 2 makes clients bump the epoch with every
/// transaction (KIP-890 part 2) and the coordinator fence with two bumps.
pub const TRANSACTION_VERSION: i16 = 2;

/// A Kafka error code.
pub type Code = i16;

/// The broker settings the coordinator decides with.
#[derive(Clone, Debug)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`
    pub max_timeout_ms: i32,
    /// The transaction version this broker runs at (the finalized
    /// `transaction.version` feature): 2 bumps epochs when it fences.
    pub server_version: i16,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            server_version: TRANSACTION_VERSION,
        }
    }
}

/// What InitProducerId with a transactional id must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitStep {
    /// Persist and apply; answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// A transaction is open: persist and apply this fenced PrepareAbort,
    /// write its markers, complete it, then answer CONCURRENT_TRANSACTIONS
    /// so the client retries (and gets a fresh epoch), as Kafka does.
    AbortFirst(TxnMetadata),
}

/// What EndTxn must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndStep {
    /// A retry of a transaction already ended the same way: answer NONE
    /// with these.
    AlreadyDone {
        producer_id: i64,
        producer_epoch: i16,
    },
    /// Persist and apply, write the markers, complete.
    Prepare(TxnMetadata),
}

/// An EndTxn request.
#[derive(Clone, Copy, Debug)]
pub struct EndRequest<'a> {
    pub transactional_id: &'a str,
    pub producer_id: i64,
    pub epoch: i16,
    pub commit: bool,
    /// 2 for EndTxn v5+, whose clients expect the epoch to be bumped by
    /// every EndTxn (KIP-890 part 2); 0 before.
    pub client_version: i16,
}

/// Source of fresh producer ids (the metadata log's block allocator).
pub type AllocateProducerId<'a> = &'a mut dyn FnMut() -> Result<i64, Code>;

#[derive(Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    txns: BTreeMap<String, TxnMetadata>,
}

impl TxnCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TxnCoordinator {
            config,
            txns: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Makes a persisted transition current.
    pub fn apply(&mut self, txn: TxnMetadata) {
        self.txns.insert(txn.transactional_id.clone(), txn);
    }

    /// Loads a record read back from `__transaction_state`.
    pub fn replay(&mut self, record: Record) {
        match record.value {
            Some(txn) => self.apply(txn),
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }

    /// InitProducerId with a transactional id (KIP-98, KIP-360's
    /// `expected` producer id and epoch for a producer recovering).
    pub fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
        allocate: AllocateProducerId,
    ) -> Result<InitStep, Code> {
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(error_codes::INVALID_TRANSACTION_TIMEOUT);
        }
        let txn = match self.txns.get(transactional_id) {
            Some(txn) => txn.clone(),
            None => TxnMetadata::new(transactional_id, allocate()?, timeout_ms, now_ms),
        };
        if let Some((producer_id, epoch)) = expected {
            // Fence unless the id was just created, the producer id is the
            // current one (its epoch is checked below), or this retries an
            // InitProducerId that rotated the producer id.
            let valid = txn.producer_epoch == NO_PRODUCER_EPOCH
                || producer_id == txn.producer_id
                || (producer_id == txn.previous_producer_id && is_epoch_exhausted(epoch));
            if !valid {
                return Err(error_codes::PRODUCER_FENCED);
            }
        }
        match txn.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(error_codes::CONCURRENT_TRANSACTIONS)
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = txn.epoch_exhausted()
                    && expected.is_none_or(|(_, epoch)| epoch == txn.producer_epoch);
                if rotate {
                    let last = if expected.is_some() {
                        txn.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                    let next = txn.rotated(allocate()?, last, timeout_ms, now_ms);
                    return Ok(InitStep::Ready(next));
                }
                let bumped = txn.producer_epoch + 1;
                let (epoch, last) = match expected {
                    None => (bumped, NO_PRODUCER_EPOCH),
                    Some((_, e))
                        if txn.producer_epoch == NO_PRODUCER_EPOCH || e == txn.producer_epoch =>
                    {
                        (bumped, txn.producer_epoch)
                    }
                    // A retry of an InitProducerId that already bumped.
                    Some((_, e)) if e == txn.last_producer_epoch => {
                        (txn.producer_epoch, txn.last_producer_epoch)
                    }
                    Some(_) => return Err(error_codes::PRODUCER_FENCED),
                };
                Ok(InitStep::Ready(
                    txn.with_epoch(epoch, last, timeout_ms, now_ms),
                ))
            }
            TxnState::Ongoing => txn
                .fenced(self.config.server_version, now_ms)
                .map(InitStep::AbortFirst)
                .ok_or(error_codes::CONCURRENT_TRANSACTIONS),
            TxnState::Dead | TxnState::PrepareEpochFence => {
                Err(error_codes::CONCURRENT_TRANSACTIONS)
            }
        }
    }

    /// The current metadata of a transaction the request claims, checked
    /// as AddPartitionsToTxn and AddOffsetsToTxn check it.
    fn owned(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&TxnMetadata, Code> {
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        let txn = self
            .txns
            .get(transactional_id)
            .ok_or(error_codes::INVALID_PRODUCER_ID_MAPPING)?;
        if txn.producer_id != producer_id {
            return Err(error_codes::INVALID_PRODUCER_ID_MAPPING);
        }
        if txn.producer_epoch != epoch {
            return Err(error_codes::PRODUCER_FENCED);
        }
        if txn.state.is_prepare() {
            return Err(error_codes::CONCURRENT_TRANSACTIONS);
        }
        Ok(txn)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn with the group's offsets
    /// partition). `None`: the partitions are already in the open
    /// transaction, nothing to persist.
    pub fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, Code> {
        let txn = self.owned(transactional_id, producer_id, epoch)?;
        match txn.state {
            TxnState::Ongoing if partitions.iter().all(|p| txn.partitions.contains(p)) => Ok(None),
            TxnState::Empty
            | TxnState::Ongoing
            | TxnState::CompleteCommit
            | TxnState::CompleteAbort => Ok(Some(txn.with_partitions(partitions, now_ms))),
            _ => Err(error_codes::INVALID_TXN_STATE),
        }
    }

    /// AddPartitionsToTxn v4+ with `verify_only`, and the check a partition
    /// leader makes before appending transactional records (KIP-890 part
    /// 1): each partition is NONE if it is in the open transaction,
    /// TRANSACTION_ABORTABLE if not.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Code>, Code> {
        let txn = self.owned(transactional_id, producer_id, epoch)?;
        Ok(partitions
            .iter()
            .map(|p| {
                if txn.state == TxnState::Ongoing && txn.partitions.contains(p) {
                    error_codes::NONE
                } else {
                    error_codes::TRANSACTION_ABORTABLE
                }
            })
            .collect())
    }

    /// EndTxn from a client.
    pub fn end_txn(
        &self,
        request: &EndRequest,
        now_ms: i64,
        allocate: AllocateProducerId,
    ) -> Result<EndStep, Code> {
        let EndRequest {
            transactional_id,
            producer_id,
            epoch,
            commit,
            client_version,
        } = *request;
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        let txn = self
            .txns
            .get(transactional_id)
            .ok_or(error_codes::INVALID_PRODUCER_ID_MAPPING)?;
        // Transaction version 2 is the client's: EndTxn v5+ (Kafka decides by
        // the request, not by what the previous transaction used).
        let bumping = client_version >= metadata::EPOCH_BUMP_VERSION;
        // A retried EndTxn whose first attempt bumped the epoch (and maybe
        // rotated the producer id because the epoch ran out).
        let retry_on_bump = bumping && i32::from(txn.producer_epoch) == i32::from(epoch) + 1;
        let retry_on_overflow = bumping
            && txn.previous_producer_id == producer_id
            && epoch == i16::MAX - 1
            && txn.producer_epoch == 0;
        let is_retry = retry_on_bump || retry_on_overflow;
        let current = epoch == txn.producer_epoch;
        let valid_epoch = if bumping {
            match txn.state {
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
                // A completed transaction hears either the retry of its own
                // EndTxn or the next transaction's (at the bumped epoch).
                TxnState::CompleteCommit | TxnState::CompleteAbort => is_retry || current,
                _ => current,
            }
        } else {
            current
        };
        if txn.producer_id != producer_id && !retry_on_overflow {
            return Err(error_codes::INVALID_PRODUCER_ID_MAPPING);
        }
        if !valid_epoch {
            return Err(error_codes::PRODUCER_FENCED);
        }
        let done = EndStep::AlreadyDone {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
        };
        let mut prepare = |commit: bool| -> Result<EndStep, Code> {
            let next_producer_id = if bumping && txn.epoch_exhausted() {
                allocate()?
            } else {
                NO_PRODUCER_ID
            };
            Ok(EndStep::Prepare(txn.prepared(
                commit,
                client_version,
                next_producer_id,
                now_ms,
            )))
        };
        // Kafka's table for Empty / CompleteCommit / CompleteAbort (its
        // TransactionCoordinator): with transaction version 1 only the
        // retry of the same outcome is accepted. With version 2 a client
        // that cannot know whether a Produce registered a partition (KIP-890
        // part 2: the Produce itself adds it) aborts a transaction that may
        // be empty; that abort is legal in every idle state and bumps the
        // epoch, so nothing late can join the next transaction.
        match (txn.state, commit) {
            (TxnState::Ongoing, _) => prepare(commit),
            (TxnState::Empty, false) if bumping => prepare(false),
            (TxnState::CompleteCommit | TxnState::CompleteAbort, false) if bumping && !is_retry => {
                prepare(false)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false)
                if !bumping || is_retry =>
            {
                Ok(done)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(error_codes::CONCURRENT_TRANSACTIONS)
            }
            _ => Err(error_codes::INVALID_TXN_STATE),
        }
    }

    /// After the markers of a prepared transaction are written.
    pub fn complete(&self, transactional_id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let txn = self.txns.get(transactional_id)?;
        txn.state.is_prepare().then(|| txn.completed(now_ms))
    }

    /// Open transactions past their timeout (Kafka: start + timeout < now).
    pub fn timed_out(&self, now_ms: i64) -> Vec<String> {
        self.txns
            .values()
            .filter(|t| {
                t.state == TxnState::Ongoing
                    && t.start_ms.saturating_add(i64::from(t.timeout_ms)) < now_ms
            })
            .map(|t| t.transactional_id.clone())
            .collect()
    }

    /// The broker aborts a timed-out transaction: the producer is fenced
    /// (epoch bump) so nothing it still sends can join a later transaction.
    pub fn abort_timed_out(&self, transactional_id: &str, now_ms: i64) -> Option<TxnMetadata> {
        let txn = self.txns.get(transactional_id)?;
        if txn.state != TxnState::Ongoing {
            return None;
        }
        txn.fenced(self.config.server_version, now_ms)
    }

    /// Prepared transactions whose markers may not all be written (found
    /// after a restart).
    pub fn prepared(&self) -> Vec<TxnMetadata> {
        self.txns
            .values()
            .filter(|t| t.state.is_prepare())
            .cloned()
            .collect()
    }

    /// Ids idle for `expiration_ms` (`transactional.id.expiration.ms`).
    pub fn expired(&self, now_ms: i64, expiration_ms: i64) -> Vec<String> {
        self.txns
            .values()
            .filter(|t| {
                t.state.may_expire() && t.last_update_ms.saturating_add(expiration_ms) <= now_ms
            })
            .map(|t| t.transactional_id.clone())
            .collect()
    }

    /// DescribeTransactions for one id.
    pub fn describe(&self, transactional_id: &str) -> Result<&TxnMetadata, Code> {
        if transactional_id.is_empty() {
            return Err(error_codes::INVALID_REQUEST);
        }
        match self.txns.get(transactional_id) {
            Some(txn) if txn.state != TxnState::Dead => Ok(txn),
            _ => Err(error_codes::TRANSACTIONAL_ID_NOT_FOUND),
        }
    }

    /// ListTransactions: empty filters match everything; `min_duration_ms`
    /// (-1 for none) keeps transactions that started longer ago than that
    /// (Kafka compares with the start time even when none is open).
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
        now_ms: i64,
    ) -> Vec<&TxnMetadata> {
        self.txns
            .values()
            .filter(|t| t.state != TxnState::Dead)
            .filter(|t| states.is_empty() || states.contains(&t.state))
            .filter(|t| producer_ids.is_empty() || producer_ids.contains(&t.producer_id))
            .filter(|t| min_duration_ms < 0 || now_ms.saturating_sub(t.start_ms) > min_duration_ms)
            .collect()
    }
}
