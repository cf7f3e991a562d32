//! Reading committed entries as they commit: a subscriber pulls batches
//! from the node's task whenever the published high watermark is past it,
//! so a slow subscriber costs no memory in the node.

use super::driver::{Command, ReadBatch};
use super::QuorumStatus;
use bytes::Bytes;
use std::collections::VecDeque;
use tokio::sync::{mpsc, oneshot, watch};

/// A committed Data entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub offset: u64,
    pub data: Bytes,
}

/// What a subscriber learns: a Data entry, or that everything below an
/// offset has been delivered (control entries such as LeaderChange are
/// never delivered, so only this says a reader has caught up with them),
/// or a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommittedEvent {
    Entry(Committed),
    Reached(u64),
    /// The caller's state as of `end_offset`, as handed to
    /// `QuorumHandle::snapshot` (here or on the leader it was fetched
    /// from): it replaces whatever the subscriber built so far, and entries
    /// from `end_offset` on follow. Given when the read position is below
    /// the log start (a new subscriber, a restarted node, a follower that
    /// loaded the leader's snapshot).
    Snapshot {
        end_offset: u64,
        data: Bytes,
    },
}

pub struct CommittedStream {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<QuorumStatus>,
    next: u64,
    /// The last offset a `Reached` event was given for.
    reported: u64,
    snapshot: Option<(u64, Bytes)>,
    buffered: VecDeque<Committed>,
}

impl CommittedStream {
    pub(super) fn new(
        commands: mpsc::Sender<Command>,
        status: watch::Receiver<QuorumStatus>,
        from: u64,
    ) -> Self {
        CommittedStream {
            commands,
            status,
            next: from,
            reported: from,
            snapshot: None,
            buffered: VecDeque::new(),
        }
    }

    /// The next committed Data entry, waiting for one if needed; None once
    /// the node stopped. Snapshots are skipped: a reader of a log that may
    /// be compacted uses [`next_event`](Self::next_event).
    pub async fn next(&mut self) -> Option<Committed> {
        loop {
            if let CommittedEvent::Entry(item) = self.next_event().await? {
                return Some(item);
            }
        }
    }

    /// The next Data entry or, once every buffered entry was delivered and
    /// the read position moved, how far it got.
    pub async fn next_event(&mut self) -> Option<CommittedEvent> {
        loop {
            if let Some((end_offset, data)) = self.snapshot.take() {
                return Some(CommittedEvent::Snapshot { end_offset, data });
            }
            if let Some(item) = self.buffered.pop_front() {
                return Some(CommittedEvent::Entry(item));
            }
            if self.reported < self.next {
                self.reported = self.next;
                return Some(CommittedEvent::Reached(self.next));
            }
            let (high_watermark, running) = {
                let status = self.status.borrow_and_update();
                (status.high_watermark, status.running)
            };
            if !running {
                return None;
            }
            if high_watermark > self.next {
                let (reply, answer) = oneshot::channel();
                let command = Command::Read {
                    from: self.next,
                    reply,
                };
                self.commands.send(command).await.ok()?;
                let ReadBatch {
                    next,
                    items,
                    snapshot,
                } = answer.await.ok()?;
                match snapshot {
                    Some(Ok(snapshot)) => self.snapshot = Some(snapshot),
                    Some(Err(err)) => {
                        // Only a corrupt file gets here; the reader cannot
                        // go on without the state it holds.
                        tracing::error!(%err, "the metadata snapshot cannot be read");
                        return None;
                    }
                    None => {}
                }
                let progressed = next > self.next;
                self.next = next;
                self.buffered.extend(items);
                if progressed {
                    continue;
                }
            }
            self.status.changed().await.ok()?;
        }
    }

    /// The offset the next read starts from.
    pub fn position(&self) -> u64 {
        self.next
    }
}
