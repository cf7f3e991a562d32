//! What a follower does with its leader's answer for one partition, as
//! Kafka's AbstractFetcherThread / ReplicaFetcherThread decide it. Pure
//! functions of the answer and the local log's offsets, so the replica
//! simulator and the unit tests drive exactly the code the fetcher runs.

use gregor_protocol::error_codes;

/// The local log as the follower sees it when a fetch answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalOffsets {
    pub log_start: i64,
    pub log_end: i64,
}

/// The parts of a partition's fetch answer the follower decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderAnswer {
    pub error_code: i16,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// KIP-320's diverging epoch: (epoch, end offset) when the leader found
    /// that our last fetched epoch ends earlier in its log than our log end.
    pub diverging_epoch: Option<(i32, i64)>,
}

/// What to do next for the partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowerAction {
    /// Append the answer's batches (they start at our log end), then take
    /// the high watermark and log start offset from the leader.
    Append {
        high_watermark: i64,
        leader_log_start: i64,
    },
    /// Our log diverged: find the truncation offset with [`diverging_truncation`].
    Diverged { epoch: i32, end_offset: i64 },
    /// Our fetch offset is outside the leader's log: ask the leader for its
    /// log start and end offsets and decide with [`out_of_range`].
    OutOfRange,
    /// Stop fetching the partition for `replica.fetch.backoff.ms`; if the
    /// error says our metadata is stale, until the metadata image changes.
    Backoff { until_metadata_change: bool },
}

/// Decides what to do with the leader's answer for one partition.
pub fn on_answer(answer: &LeaderAnswer) -> FollowerAction {
    match answer.error_code {
        error_codes::NONE => match answer.diverging_epoch {
            Some((epoch, end_offset)) if epoch >= 0 && end_offset >= 0 => {
                FollowerAction::Diverged { epoch, end_offset }
            }
            _ => FollowerAction::Append {
                high_watermark: answer.high_watermark,
                leader_log_start: answer.log_start_offset,
            },
        },
        error_codes::OFFSET_OUT_OF_RANGE => FollowerAction::OutOfRange,
        // The leader moved on (or we did not catch up with the image yet):
        // wait for the metadata that says who leads now.
        error_codes::FENCED_LEADER_EPOCH
        | error_codes::NOT_LEADER_OR_FOLLOWER
        | error_codes::UNKNOWN_TOPIC_OR_PARTITION
        | error_codes::UNKNOWN_TOPIC_ID => FollowerAction::Backoff {
            until_metadata_change: true,
        },
        // UNKNOWN_LEADER_EPOCH (the leader is behind on metadata) and
        // everything else: retry after the back-off.
        _ => FollowerAction::Backoff {
            until_metadata_change: false,
        },
    }
}

/// Kafka's `getOffsetTruncationState` for a diverging epoch: the leader
/// says its epoch `leader_epoch` ends at `leader_end_offset`; `local` is
/// our own `endOffsetForEpoch(leader_epoch)` (the largest epoch at or below
/// it we know and where it ends), `None` when we know no such epoch.
///
/// When we do not know the leader's epoch itself, truncating to the end of
/// our own largest older epoch is only an intermediate step: the next fetch
/// carries an older last fetched epoch and the leader answers again.
pub fn diverging_truncation(
    leader_epoch: i32,
    leader_end_offset: i64,
    local: Option<(i32, i64)>,
    log_end: i64,
) -> i64 {
    match local {
        Some((local_epoch, local_end)) if local_epoch != leader_epoch => local_end.min(log_end),
        Some((_, local_end)) => local_end.min(leader_end_offset).min(log_end),
        None => leader_end_offset.min(log_end),
    }
}

/// How an out-of-range fetch offset is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRangeFix {
    /// The leader's log ends below ours (an unclean election): drop our
    /// records from this offset.
    TruncateTo(i64),
    /// The leader's log starts after ours ends: throw our log away and
    /// start empty at the leader's log start.
    StartAt(i64),
    /// Our log end is inside the leader's log after all (it moved between
    /// the fetch and the offset request): fetch again.
    Retry,
}

/// Kafka's `fetchOffsetAndTruncate` for OFFSET_OUT_OF_RANGE.
pub fn out_of_range(local: LocalOffsets, leader_start: i64, leader_end: i64) -> OutOfRangeFix {
    if leader_end < local.log_end {
        OutOfRangeFix::TruncateTo(leader_end.max(0))
    } else if leader_start > local.log_end {
        OutOfRangeFix::StartAt(leader_start)
    } else {
        OutOfRangeFix::Retry
    }
}

/// A follower's high watermark: the leader's, never past our own log end.
pub fn follower_high_watermark(leader_high_watermark: i64, log_end: i64) -> i64 {
    leader_high_watermark.min(log_end).max(0)
}

/// A follower's high watermark after a fetch answer: the leader's, bounded
/// by our log end. Kafka's follower takes the leader's as it is; a new
/// leader may not know its predecessor's yet, and what was committed stays
/// committed, so ours never goes back here (only a truncation, which never
/// goes below it, caps it).
pub fn next_high_watermark(previous: i64, leader_high_watermark: i64, log_end: i64) -> i64 {
    follower_high_watermark(leader_high_watermark, log_end).max(previous.min(log_end))
}

/// The log start offset a follower moves to after an append: the leader's
/// when it is ahead of ours and within what we hold below our high
/// watermark (Kafka refuses a log start past the high watermark).
pub fn follower_log_start(local_start: i64, leader_start: i64, high_watermark: i64) -> Option<i64> {
    (leader_start > local_start && leader_start <= high_watermark).then_some(leader_start)
}

/// The byte length of the whole batches at the front of `records`: a
/// leader may cut the last batch of a fetch answer short, and that tail is
/// fetched again next time rather than appended.
pub fn complete_batches_len(records: &[u8]) -> usize {
    // Batch header: base offset (8) and batch length (4), then `length` bytes.
    const LENGTH_END: usize = 12;
    let mut at = 0;
    while let Some(header) = records.get(at..at + LENGTH_END) {
        let mut length = [0u8; 4];
        length.copy_from_slice(&header[8..12]);
        let Ok(length) = usize::try_from(i32::from_be_bytes(length)) else {
            break;
        };
        let end = at + LENGTH_END + length;
        if end > records.len() {
            break;
        }
        at = end;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error_code: i16, diverging: Option<(i32, i64)>) -> LeaderAnswer {
        LeaderAnswer {
            error_code,
            high_watermark: 10,
            log_start_offset: 2,
            diverging_epoch: diverging,
        }
    }

    #[test]
    fn a_clean_answer_appends_and_takes_the_leaders_offsets() {
        assert_eq!(
            on_answer(&answer(error_codes::NONE, None)),
            FollowerAction::Append {
                high_watermark: 10,
                leader_log_start: 2
            }
        );
        // The wire's "no diverging epoch" is (-1, -1).
        assert_eq!(
            on_answer(&answer(error_codes::NONE, Some((-1, -1)))),
            FollowerAction::Append {
                high_watermark: 10,
                leader_log_start: 2
            }
        );
    }

    #[test]
    fn a_diverging_epoch_is_reported() {
        assert_eq!(
            on_answer(&answer(error_codes::NONE, Some((3, 40)))),
            FollowerAction::Diverged {
                epoch: 3,
                end_offset: 40
            }
        );
    }

    #[test]
    fn errors_back_off_and_stale_metadata_waits_for_the_image() {
        for code in [
            error_codes::FENCED_LEADER_EPOCH,
            error_codes::NOT_LEADER_OR_FOLLOWER,
            error_codes::UNKNOWN_TOPIC_OR_PARTITION,
        ] {
            assert_eq!(
                on_answer(&answer(code, None)),
                FollowerAction::Backoff {
                    until_metadata_change: true
                }
            );
        }
        assert_eq!(
            on_answer(&answer(error_codes::UNKNOWN_LEADER_EPOCH, None)),
            FollowerAction::Backoff {
                until_metadata_change: false
            }
        );
        assert_eq!(
            on_answer(&answer(error_codes::OFFSET_OUT_OF_RANGE, None)),
            FollowerAction::OutOfRange
        );
    }

    #[test]
    fn diverging_truncation_follows_kafka() {
        // We know the leader's epoch 3, it ends at 50 here and 40 there.
        assert_eq!(diverging_truncation(3, 40, Some((3, 50)), 60), 40);
        // It ends earlier here than there: keep ours.
        assert_eq!(diverging_truncation(3, 40, Some((3, 35)), 60), 35);
        // We lack epoch 3; our largest older one (2) ends at 30: step there.
        assert_eq!(diverging_truncation(3, 40, Some((2, 30)), 60), 30);
        // We know no epoch at or below it: the leader's end offset.
        assert_eq!(diverging_truncation(3, 40, None, 60), 40);
        // Never past our own log end.
        assert_eq!(diverging_truncation(3, 40, None, 20), 20);
    }

    #[test]
    fn out_of_range_resolution() {
        let local = LocalOffsets {
            log_start: 0,
            log_end: 100,
        };
        assert_eq!(out_of_range(local, 0, 80), OutOfRangeFix::TruncateTo(80));
        assert_eq!(out_of_range(local, 150, 200), OutOfRangeFix::StartAt(150));
        assert_eq!(out_of_range(local, 50, 200), OutOfRangeFix::Retry);
    }

    #[test]
    fn follower_offsets_are_bounded_by_the_local_log() {
        assert_eq!(follower_high_watermark(10, 7), 7);
        assert_eq!(follower_high_watermark(5, 7), 5);
        assert_eq!(follower_high_watermark(-1, 7), 0);
        assert_eq!(next_high_watermark(4, 3, 7), 4);
        assert_eq!(next_high_watermark(4, 9, 7), 7);
        assert_eq!(next_high_watermark(9, 3, 7), 7);
        assert_eq!(follower_log_start(0, 3, 5), Some(3));
        assert_eq!(follower_log_start(0, 6, 5), None);
        assert_eq!(follower_log_start(4, 3, 5), None);
    }

    #[test]
    fn a_cut_last_batch_is_left_out() {
        let mut records = Vec::new();
        for length in [20i32, 30] {
            records.extend_from_slice(&0i64.to_be_bytes());
            records.extend_from_slice(&length.to_be_bytes());
            records.extend(std::iter::repeat_n(0u8, length as usize));
        }
        assert_eq!(complete_batches_len(&records), 32 + 42);
        assert_eq!(complete_batches_len(&records[..50]), 32);
        assert_eq!(complete_batches_len(&records[..5]), 0);
        assert_eq!(complete_batches_len(&[]), 0);
    }
}
