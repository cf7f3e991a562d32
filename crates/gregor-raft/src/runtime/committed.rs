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
/// never delivered, so only this says a reader has caught up with them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommittedEvent {
    Entry(Committed),
    Reached(u64),
}

pub struct CommittedStream {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<QuorumStatus>,
    next: u64,
    /// The last offset a `Reached` event was given for.
    reported: u64,
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
            buffered: VecDeque::new(),
        }
    }

    /// The next committed Data entry, waiting for one if needed; None once
    /// the node stopped.
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
                let ReadBatch { next, items } = answer.await.ok()?;
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
