//! Share groups (KIP-932) as an operator sees them: members with their
//! assignments (ShareGroupDescribe) and, per share-partition, where
//! delivery starts and how many records are not yet acknowledged
//! (DescribeShareGroupOffsets v1), asked of the group's coordinator.

use crate::client::Client;
use crate::error::check;
use crate::groups::{is_coordinator_retriable, retrying, COORDINATOR_RETRY_BACKOFF};
use crate::groups::{GroupDescription, GroupMember};
use anyhow::bail;
use gregor_protocol::generated::describe_share_group_offsets_request::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsRequestGroup,
};
use gregor_protocol::generated::describe_share_group_offsets_response::DescribeShareGroupOffsetsResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::time::Instant;

/// One share-partition of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartitionOffsets {
    pub topic: String,
    pub partition: i32,
    /// The share-partition start offset: every record before it is done.
    pub start_offset: i64,
    /// Records from the start offset to the log end not yet acknowledged
    /// (in flight or not yet delivered); `None` when the broker cannot say.
    pub lag: Option<i64>,
}

impl Client {
    /// A share group's state and members (ShareGroupDescribe).
    pub async fn describe_share_group(&mut self, group: &str) -> anyhow::Result<GroupDescription> {
        retrying!(self, self.describe_share_group_once(group))
    }

    /// Every initialized share-partition of a share group.
    pub async fn share_group_offsets(
        &mut self,
        group: &str,
    ) -> anyhow::Result<Vec<SharePartitionOffsets>> {
        retrying!(self, self.share_group_offsets_once(group))
    }

    async fn describe_share_group_once(&mut self, group: &str) -> anyhow::Result<GroupDescription> {
        let mut coordinator = self.coordinator(group).await?;
        let request = ShareGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]);
        let (response, _) = coordinator
            .send(
                ApiKey::ShareGroupDescribe,
                1,
                RequestKind::ShareGroupDescribe(request),
            )
            .await?;
        let ResponseKind::ShareGroupDescribe(response) = response else {
            bail!("unexpected answer to ShareGroupDescribe")
        };
        let Some(described) = response.groups.into_iter().next() else {
            bail!("empty ShareGroupDescribe answer")
        };
        check(described.error_code, || {
            format!("cannot describe share group '{group}'")
        })?;
        let members = described
            .members
            .into_iter()
            .map(|m| GroupMember {
                member_id: m.member_id.to_string(),
                client_id: m.client_id.to_string(),
                host: m.client_host.to_string(),
                assignment: m
                    .assignment
                    .topic_partitions
                    .into_iter()
                    .flat_map(|t| {
                        let topic = t.topic_name.to_string();
                        t.partitions.into_iter().map(move |p| (topic.clone(), p))
                    })
                    .collect(),
            })
            .collect();
        Ok(GroupDescription {
            group_id: group.to_string(),
            state: described.group_state.to_string(),
            members,
        })
    }

    async fn share_group_offsets_once(
        &mut self,
        group: &str,
    ) -> anyhow::Result<Vec<SharePartitionOffsets>> {
        let mut coordinator = self.coordinator(group).await?;
        // Topics None: every share-partition the group has state for.
        let request = DescribeShareGroupOffsetsRequest {
            groups: vec![DescribeShareGroupOffsetsRequestGroup {
                group_id: group.to_string(),
                topics: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let (response, version): (DescribeShareGroupOffsetsResponse, i16) = coordinator
            .send_message(ApiKey::DescribeShareGroupOffsets, 1, &request)
            .await?;
        let Some(described) = response.groups.into_iter().next() else {
            bail!("empty DescribeShareGroupOffsets answer")
        };
        check(described.error_code, || {
            format!("cannot describe offsets of share group '{group}'")
        })?;
        let mut offsets: Vec<SharePartitionOffsets> = described
            .topics
            .into_iter()
            .flat_map(|t| {
                let topic = t.topic_name;
                t.partitions
                    .into_iter()
                    .filter(|p| p.error_code == 0)
                    .map(move |p| SharePartitionOffsets {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        start_offset: p.start_offset,
                        // v0 has no lag; v1 says -1 when it cannot tell.
                        lag: (version >= 1 && p.lag >= 0).then_some(p.lag),
                    })
            })
            .collect();
        offsets.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(offsets)
    }
}
