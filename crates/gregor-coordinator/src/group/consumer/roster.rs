//! The members a step decides for: the group's members as they will be once
//! the step's records are applied (one member updated, some removed), and
//! the topics they subscribe to.

use super::group::ConsumerGroup;
use super::member::ConsumerMember;
use super::records::TopicMetadata;
use super::regex::TopicRegex;
use super::topics::Topics;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) struct Roster<'a> {
    pub group: &'a ConsumerGroup,
    /// The member this step updates (or adds), and its regex when it just
    /// changed (not yet in the group's cache).
    pub updated: Option<(&'a ConsumerMember, Option<&'a TopicRegex>)>,
    /// Members this step removes.
    pub removed: Vec<&'a str>,
}

impl<'a> Roster<'a> {
    pub fn members(
        &self,
    ) -> impl Iterator<Item = (&'a ConsumerMember, Option<&'a TopicRegex>)> + '_ {
        let updated_id = self.updated.map(|(m, _)| m.id.as_str());
        self.group
            .members
            .values()
            .filter(move |m| {
                Some(m.id.as_str()) != updated_id && !self.removed.contains(&m.id.as_str())
            })
            .map(|m| (m, None))
            .chain(self.updated)
    }

    pub fn subscribes(
        &self,
        member: &ConsumerMember,
        regex: Option<&TopicRegex>,
        topic: &str,
    ) -> bool {
        self.group.subscribes(&member.meta, regex, topic)
    }

    /// The metadata of every existing topic some member subscribes to.
    pub fn subscription_metadata(&self, topics: &dyn Topics) -> BTreeMap<String, TopicMetadata> {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        let mut any_regex = false;
        for (member, _) in self.members() {
            names.extend(
                member
                    .meta
                    .subscribed_topic_names
                    .iter()
                    .map(String::as_str),
            );
            any_regex |= member.meta.subscribed_topic_regex.is_some();
        }
        let mut out = BTreeMap::new();
        let mut add = |name: &str| {
            if let Some((id, partitions)) = topics.by_name(name) {
                out.insert(
                    name.to_string(),
                    TopicMetadata {
                        id,
                        name: name.to_string(),
                        partitions,
                    },
                );
            }
        };
        for name in names {
            add(name);
        }
        if any_regex {
            for name in topics.names() {
                if self.members().any(|(m, re)| {
                    m.meta.subscribed_topic_regex.is_some() && self.subscribes(m, re, name)
                }) {
                    add(name);
                }
            }
        }
        out
    }

    /// The group's current subscription metadata without the topics nobody
    /// in the roster subscribes to any more. Enough when members only
    /// leave, and needs no metadata image (session expiry).
    pub fn remaining_metadata(&self) -> BTreeMap<String, TopicMetadata> {
        self.group
            .subscription
            .iter()
            .filter(|(name, _)| self.members().any(|(m, re)| self.subscribes(m, re, name)))
            .map(|(name, t)| (name.clone(), t.clone()))
            .collect()
    }
}
