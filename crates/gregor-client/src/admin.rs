//! Topic administration: create, delete, add partitions, describe configs.
//! All go to the bootstrap broker (KRaft brokers forward to the controller).

use crate::client::{name, text, Client};
use crate::error::check;
use anyhow::{anyhow, bail};
use gregor_protocol::error_codes::UNKNOWN_TOPIC_OR_PARTITION;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;

/// ConfigResource type of a topic in DescribeConfigs.
const RESOURCE_TOPIC: i8 = 2;
/// ConfigResource type of a broker.
const RESOURCE_BROKER: i8 = 4;
/// ConfigSource DEFAULT_CONFIG: the value nobody set.
const SOURCE_DEFAULT: i8 = 5;

/// A topic to create. -1 counts leave the choice to the broker
/// (`num.partitions`, `default.replication.factor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i16,
    pub configs: Vec<(String, String)>,
}

/// A topic's configs: name -> (value, whether it is the default).
pub type TopicConfigs = BTreeMap<String, (String, bool)>;

impl Client {
    /// Sends a DescribeConfigs request to the bootstrap broker.
    pub(crate) async fn describe_configs(
        &mut self,
        request: DescribeConfigsRequest,
    ) -> anyhow::Result<DescribeConfigsResponse> {
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::DescribeConfigs,
                4,
                RequestKind::DescribeConfigs(request),
            )
            .await?;
        let ResponseKind::DescribeConfigs(response) = response else {
            bail!("unexpected answer to DescribeConfigs")
        };
        Ok(response)
    }

    /// Creates a topic. With `validate_only` the broker checks the request
    /// (name, counts, configs) and creates nothing.
    pub async fn create_topic_with(
        &mut self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> anyhow::Result<()> {
        let configs = topic
            .configs
            .iter()
            .map(|(k, v)| {
                CreatableTopicConfig::default()
                    .with_name(text(k))
                    .with_value(Some(text(v)))
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_validate_only(validate_only)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(&topic.name))
                .with_num_partitions(topic.partitions)
                .with_replication_factor(topic.replication_factor)
                .with_configs(configs)]);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
            .await?;
        let ResponseKind::CreateTopics(response) = response else {
            bail!("unexpected answer to CreateTopics")
        };
        let result = first(&response.topics, "CreateTopics")?;
        let detail = detail(&result.error_message);
        check(result.error_code, || {
            format!("cannot create topic '{}'{detail}", topic.name)
        })?;
        Ok(())
    }

    /// Creates a topic (see `create_topic_with`).
    pub async fn create_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
    ) -> anyhow::Result<()> {
        let spec = NewTopic {
            name: topic.to_string(),
            partitions,
            replication_factor,
            configs: configs.to_vec(),
        };
        self.create_topic_with(&spec, false).await
    }

    pub async fn delete_topic(&mut self, topic: &str) -> anyhow::Result<()> {
        let timeout_ms = self.timeout_ms();
        let bootstrap = self.bootstrap().await?;
        let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
        // v6 names topics in a struct (to allow ids); older versions by name.
        let request = if bootstrap.version_for(ApiKey::DeleteTopics, 6)? >= 6 {
            request.with_topics(vec![
                DeleteTopicState::default().with_name(Some(name(topic)))
            ])
        } else {
            request.with_topic_names(vec![name(topic)])
        };
        let (response, _) = bootstrap
            .send(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(request))
            .await?;
        let ResponseKind::DeleteTopics(response) = response else {
            bail!("unexpected answer to DeleteTopics")
        };
        let result = first(&response.responses, "DeleteTopics")?;
        check(result.error_code, || {
            describe_failure(
                "cannot delete topic",
                topic,
                result.error_code,
                &result.error_message,
            )
        })?;
        Ok(())
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(&mut self, topic: &str, count: i32) -> anyhow::Result<()> {
        let request = CreatePartitionsRequest::default()
            .with_timeout_ms(self.timeout_ms())
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(name(topic))
                .with_count(count)
                .with_assignments(None)]);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::CreatePartitions,
                3,
                RequestKind::CreatePartitions(request),
            )
            .await?;
        let ResponseKind::CreatePartitions(response) = response else {
            bail!("unexpected answer to CreatePartitions")
        };
        let result = first(&response.results, "CreatePartitions")?;
        check(result.error_code, || {
            describe_failure(
                "cannot change partitions of",
                topic,
                result.error_code,
                &result.error_message,
            )
        })?;
        Ok(())
    }

    /// One topic's configs.
    pub async fn topic_configs(&mut self, topic: &str) -> anyhow::Result<TopicConfigs> {
        let mut all = self.topics_configs(&[topic]).await?;
        all.remove(topic)
            .ok_or_else(|| anyhow!("DescribeConfigs did not answer for '{topic}'"))?
    }

    /// Several topics' configs in one request; each topic has its own result.
    pub async fn topics_configs(
        &mut self,
        topics: &[&str],
    ) -> anyhow::Result<BTreeMap<String, anyhow::Result<TopicConfigs>>> {
        let resources = topics
            .iter()
            .map(|t| {
                DescribeConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(text(t))
                    .with_configuration_keys(None)
            })
            .collect();
        let request = DescribeConfigsRequest::default().with_resources(resources);
        let response = self.describe_configs(request).await?;
        let mut out = BTreeMap::new();
        for result in response.results {
            let topic = result.resource_name.to_string();
            let detail = detail(&result.error_message);
            let configs = check(result.error_code, || {
                format!("cannot describe configs of '{topic}'{detail}")
            })
            .map_err(anyhow::Error::from)
            .map(|()| {
                result
                    .configs
                    .iter()
                    .map(|c| {
                        let value = c.value.as_deref().unwrap_or("").to_string();
                        (
                            c.name.to_string(),
                            (value, c.config_source == SOURCE_DEFAULT),
                        )
                    })
                    .collect()
            });
            out.insert(topic, configs);
        }
        Ok(out)
    }
}

impl Client {
    /// One config of broker `broker_id`, asked of that broker (a broker
    /// only describes its own static configs, as in Kafka). `None` when
    /// the broker does not know the key.
    pub async fn broker_config(
        &mut self,
        broker_id: i32,
        key: &str,
    ) -> anyhow::Result<Option<String>> {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_BROKER)
            .with_resource_name(text(&broker_id.to_string()))
            .with_configuration_keys(Some(vec![text(key)]));
        let request = DescribeConfigsRequest::default().with_resources(vec![resource]);
        let (response, _) = self
            .broker(broker_id)
            .await?
            .send(
                ApiKey::DescribeConfigs,
                4,
                RequestKind::DescribeConfigs(request),
            )
            .await?;
        let ResponseKind::DescribeConfigs(response) = response else {
            bail!("unexpected answer to DescribeConfigs")
        };
        let result = first(&response.results, "DescribeConfigs")?;
        let detail = detail(&result.error_message);
        check(result.error_code, || {
            format!("cannot describe configs of broker {broker_id}{detail}")
        })?;
        Ok(result
            .configs
            .iter()
            .find(|c| c.name.as_str() == key)
            .map(|c| c.value.as_deref().unwrap_or("").to_string()))
    }
}

/// "topic 'x' does not exist" for an unknown topic (Kafka's own text says
/// "This server does not host this topic-partition"), else what failed with
/// the broker's message.
fn describe_failure(what: &str, topic: &str, code: i16, message: &Option<StrBytes>) -> String {
    if code == UNKNOWN_TOPIC_OR_PARTITION {
        format!("topic '{topic}' does not exist")
    } else {
        format!("{what} '{topic}'{}", detail(message))
    }
}

/// The broker's error message, as ": message" ready to append, or "".
pub(crate) fn detail(message: &Option<StrBytes>) -> String {
    match message.as_deref() {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

/// The single result a one-item request gets back.
pub(crate) fn first<'a, T>(items: &'a [T], api: &str) -> anyhow::Result<&'a T> {
    items.first().ok_or_else(|| anyhow!("empty {api} answer"))
}
