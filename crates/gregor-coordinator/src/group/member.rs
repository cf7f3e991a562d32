//! One member of a classic group: who it is, what it supports, what it was
//! assigned, and which of its requests are parked waiting for the group.

use bytes::Bytes;

/// A request that gets its answer later: the caller's id for it and the API
/// version it arrived with (some answers depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parked {
    pub request_id: u64,
    pub api_version: i16,
}

/// One entry of the member's JoinGroup protocol list, in preference order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    pub awaiting_join: Option<Parked>,
    pub awaiting_sync: Option<Parked>,
    /// Joined but has not been through a completed join phase yet; such a
    /// member cannot heartbeat, so its join itself is on a timer.
    pub is_new: bool,
    /// When the session (or new-member join) timer fires; `None` once fired
    /// while the member was excused (awaiting join or sync).
    pub heartbeat_deadline: Option<i64>,
    /// Join order, so "the first remaining member" is well defined.
    pub seq: u64,
}

impl Member {
    /// The metadata the member sent for `protocol`, empty if it has none.
    pub fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|name| self.protocols.iter().find(|p| p.name == name))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    /// Same protocols with the same metadata in the same order: a rejoin that
    /// changes nothing the leader would assign from.
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub fn vote<'a>(&'a self, candidates: &[&str]) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Whether an expired session timer may be ignored: members parked in a
    /// rebalance cannot heartbeat and are excused, except brand-new ones whose
    /// join itself timed out.
    pub fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }

    pub fn reschedule_heartbeat(&mut self, now_ms: i64) {
        self.heartbeat_deadline = Some(now_ms + i64::from(self.session_timeout_ms));
    }
}
