//! KIP-392: which replica a consumer should fetch from, as Kafka's
//! `replica.selector.class` plugins choose it. Gregor has no plugins; the
//! selectors Kafka ships are built in and named by their Java class.

/// Kafka's built-in `ReplicaSelector` implementations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaSelector {
    /// `LeaderReplicaSelector`: always the leader.
    Leader,
    /// `RackAwareReplicaSelector`: a replica in the client's rack.
    RackAware,
    /// `MostCaughtUpReplicaSelector`: the replica with the most data.
    MostCaughtUp,
}

const PACKAGE: &str = "org.apache.kafka.common.replica.";

impl ReplicaSelector {
    /// The selector `replica.selector.class` names: none when unset (the
    /// leader serves every consumer, Kafka's default); an error naming the
    /// class for anything Gregor does not have.
    pub fn from_class(class: &str) -> Result<Option<ReplicaSelector>, String> {
        let class = class.trim();
        if class.is_empty() {
            return Ok(None);
        }
        let simple = class.strip_prefix(PACKAGE).unwrap_or("");
        match simple {
            "LeaderReplicaSelector" => Ok(Some(ReplicaSelector::Leader)),
            "RackAwareReplicaSelector" => Ok(Some(ReplicaSelector::RackAware)),
            "MostCaughtUpReplicaSelector" => Ok(Some(ReplicaSelector::MostCaughtUp)),
            _ => Err(format!(
                "Class {class} cannot be found (Gregor has {PACKAGE}LeaderReplicaSelector, \
                 RackAwareReplicaSelector and MostCaughtUpReplicaSelector)"
            )),
        }
    }
}

/// A replica a consumer could read from, as Kafka's `ReplicaView`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    pub id: i32,
    pub rack: Option<String>,
    pub log_end_offset: i64,
    pub time_since_caught_up_ms: i64,
}

/// Kafka's `ReplicaView.comparator()`: more data first, then the most
/// recently caught up, then the higher broker id (deterministic ties).
fn most_caught_up<'a>(views: impl Iterator<Item = &'a ReplicaView>) -> Option<&'a ReplicaView> {
    views.max_by(|a, b| {
        a.log_end_offset
            .cmp(&b.log_end_offset)
            .then(b.time_since_caught_up_ms.cmp(&a.time_since_caught_up_ms))
            .then(a.id.cmp(&b.id))
    })
}

/// The replica the selector picks among `leader` and the `followers`
/// eligible to serve (in the ISR, holding the fetch offset). `None` means
/// the leader: Kafka never sends the leader as the preferred read replica.
pub fn select(
    selector: ReplicaSelector,
    client_rack: &str,
    leader: &ReplicaView,
    followers: &[ReplicaView],
) -> Option<i32> {
    let chosen = match selector {
        ReplicaSelector::Leader => leader,
        ReplicaSelector::MostCaughtUp => {
            most_caught_up(std::iter::once(leader).chain(followers)).unwrap_or(leader)
        }
        ReplicaSelector::RackAware => {
            let in_rack = |v: &&ReplicaView| {
                !client_rack.is_empty() && v.rack.as_deref() == Some(client_rack)
            };
            if client_rack.is_empty() || in_rack(&leader) {
                leader
            } else {
                most_caught_up(followers.iter().filter(in_rack)).unwrap_or(leader)
            }
        }
    };
    (chosen.id != leader.id).then_some(chosen.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: i32, rack: &str, leo: i64, since: i64) -> ReplicaView {
        ReplicaView {
            id,
            rack: (!rack.is_empty()).then(|| rack.to_string()),
            log_end_offset: leo,
            time_since_caught_up_ms: since,
        }
    }

    #[test]
    fn class_names() {
        assert_eq!(ReplicaSelector::from_class(""), Ok(None));
        assert_eq!(
            ReplicaSelector::from_class("org.apache.kafka.common.replica.RackAwareReplicaSelector"),
            Ok(Some(ReplicaSelector::RackAware))
        );
        assert_eq!(
            ReplicaSelector::from_class("org.apache.kafka.common.replica.LeaderReplicaSelector"),
            Ok(Some(ReplicaSelector::Leader))
        );
        assert!(ReplicaSelector::from_class("com.example.Mine").is_err());
        assert!(ReplicaSelector::from_class("RackAwareReplicaSelector").is_err());
    }

    #[test]
    fn rack_aware_prefers_the_leader_in_rack_then_the_most_caught_up_follower() {
        let leader = view(1, "a", 100, 0);
        let followers = [
            view(2, "b", 90, 0),
            view(3, "b", 100, 50),
            view(4, "c", 100, 0),
        ];
        let pick = |rack| select(ReplicaSelector::RackAware, rack, &leader, &followers);
        assert_eq!(pick("a"), None, "leader in the client's rack");
        assert_eq!(pick("b"), Some(3), "highest log end in rack b");
        assert_eq!(pick("c"), Some(4));
        assert_eq!(pick("z"), None, "no replica in the rack: the leader");
        assert_eq!(pick(""), None, "no client rack: the leader");
    }

    #[test]
    fn ties_go_to_the_most_recently_caught_up_then_the_higher_id() {
        let leader = view(1, "a", 100, 0);
        let followers = [
            view(2, "b", 100, 10),
            view(3, "b", 100, 5),
            view(4, "b", 100, 5),
        ];
        assert_eq!(
            select(ReplicaSelector::RackAware, "b", &leader, &followers),
            Some(4)
        );
    }

    #[test]
    fn leader_selector_and_most_caught_up() {
        let leader = view(1, "a", 100, 0);
        let followers = [view(2, "b", 100, 0)];
        assert_eq!(
            select(ReplicaSelector::Leader, "b", &leader, &followers),
            None
        );
        // Equal data and freshness: the higher id wins, as in Kafka.
        assert_eq!(
            select(ReplicaSelector::MostCaughtUp, "", &leader, &followers),
            Some(2)
        );
    }
}
