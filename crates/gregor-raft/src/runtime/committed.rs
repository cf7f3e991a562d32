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

pub struct CommittedStream {
    commands: mpsc::Sender<Command>,
    status: watch::Receiver<QuorumStatus>,
    next: u64,
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
            buffered: VecDeque::new(),
        }
    }

    /// The next committed Data entry, waiting for one if needed; None once
    /// the node stopped.
    pub async fn next(&mut self) -> Option<Committed> {
        loop {
            if let Some(item) = self.buffered.pop_front() {
                return Some(item);
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
