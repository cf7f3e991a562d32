//! `/console/topics`: list, create, delete, and one topic's configs and
//! partitions. Every action is the Kafka request an admin client would
//! send (Metadata, CreateTopics, DeleteTopics, DescribeConfigs,
//! ListOffsets), run through the broker's handlers as the logged-in user,
//! so validation, ACLs and error codes are the Kafka API's.

use super::ctx::Ctx;
use super::error::ConsoleError;
use super::form::{Form, Path};
use super::overview::metadata;
use super::state::ConsoleState;
use axum::http::header::LOCATION;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, MetadataRequest,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/console/topics", get(list).post(create))
        .route("/console/topics/{name}", get(detail))
        .route("/console/topics/{name}/delete", post(delete))
}

fn text(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

async fn list(ctx: Ctx) -> Result<Response, ConsoleError> {
    let metadata = metadata(&ctx).await?;
    let mut topics: Vec<&MetadataResponseTopic> = metadata
        .topics
        .iter()
        .filter(|t| t.error_code == 0)
        .collect();
    topics.sort_by(|a, b| {
        a.name
            .as_ref()
            .map(|n| n.as_str())
            .cmp(&b.name.as_ref().map(|n| n.as_str()))
    });
    let body = html! {
        @if !ctx.state.read_only {
            details #create-topic {
                summary { "Create a topic" }
                form.inline method="post" action="/console/topics" {
                    label { "Name" input name="name" required; }
                    label { "Partitions" input name="partitions" type="number" placeholder="default"; }
                    label { "Replication factor" input name="replication_factor" type="number" placeholder="default"; }
                    label { "Configs (key=value per line)"
                        textarea name="configs" rows="2" cols="40" placeholder="cleanup.policy=compact" {} }
                    button type="submit" { "Create" }
                }
            }
        }
        table #topic-list {
            thead { tr {
                th { "Topic" } th.num { "Partitions" } th.num { "Replicas" }
                th.num { "Under-replicated" } th { "Internal" }
            } }
            tbody {
                @for t in &topics {
                    @let name = t.name.as_ref().map_or("", |n| n.as_str());
                    tr {
                        td { a href={ "/console/topics/" (name) } { (name) } }
                        td.num { (t.partitions.len()) }
                        td.num { (t.partitions.first().map_or(0, |p| p.replica_nodes.len())) }
                        td.num { (t.partitions.iter().filter(|p| p.isr_nodes.len() < p.replica_nodes.len()).count()) }
                        td { @if t.is_internal { "yes" } }
                    }
                }
            }
        }
        @if topics.is_empty() { p.muted { "No topics (or none you may describe)." } }
    };
    Ok(ctx.page("Topics", "Topics", body))
}

#[derive(Deserialize)]
struct NewTopic {
    name: String,
    #[serde(default)]
    partitions: String,
    #[serde(default)]
    replication_factor: String,
    #[serde(default)]
    configs: String,
}

/// An optional integer field: empty means the broker's default (-1).
fn optional_int(field: &str, value: &str) -> Result<i32, ConsoleError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(-1);
    }
    value.parse::<i32>().map_err(|_| {
        ConsoleError::bad_request(format!("{field} must be an integer, not '{value}'"))
    })
}

fn parse_configs(lines: &str) -> Result<Vec<CreatableTopicConfig>, ConsoleError> {
    lines
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (key, value) = line.split_once('=').ok_or_else(|| {
                ConsoleError::bad_request(format!("config line '{line}' is not key=value"))
            })?;
            Ok(CreatableTopicConfig::default()
                .with_name(text(key.trim()))
                .with_value(Some(text(value.trim()))))
        })
        .collect()
}

async fn create(ctx: Ctx, Form(form): Form<NewTopic>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let name = form.name.trim().to_string();
    let topic = CreatableTopic::default()
        .with_name(TopicName(text(&name)))
        .with_num_partitions(optional_int("partitions", &form.partitions)?)
        .with_replication_factor(
            optional_int("replication factor", &form.replication_factor)? as i16,
        )
        .with_configs(parse_configs(&form.configs)?);
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![topic]);
    let ResponseKind::CreateTopics(response) = ctx
        .kafka(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
        .await?
    else {
        return Err(ConsoleError::internal("unexpected answer to CreateTopics"));
    };
    let result = response
        .topics
        .first()
        .ok_or_else(|| ConsoleError::internal("CreateTopics answered no topic"))?;
    if result.error_code != 0 {
        return Err(ConsoleError::kafka(
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    // Post/redirect/get: the new topic's page.
    Ok((
        StatusCode::SEE_OTHER,
        [(LOCATION, format!("/console/topics/{name}"))],
    )
        .into_response())
}

async fn delete(ctx: Ctx, Path(name): Path<String>) -> Result<Response, ConsoleError> {
    ctx.require_writable()?;
    let request = DeleteTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![
            DeleteTopicState::default().with_name(Some(TopicName(text(&name))))
        ]);
    let ResponseKind::DeleteTopics(response) = ctx
        .kafka(ApiKey::DeleteTopics, 6, RequestKind::DeleteTopics(request))
        .await?
    else {
        return Err(ConsoleError::internal("unexpected answer to DeleteTopics"));
    };
    let result = response
        .responses
        .first()
        .ok_or_else(|| ConsoleError::internal("DeleteTopics answered no topic"))?;
    if result.error_code != 0 {
        return Err(ConsoleError::kafka(
            result.error_code,
            result.error_message.as_deref(),
        ));
    }
    Ok(ctx.fragment(html! {
        div.notice #deleted role="status" { "Topic " strong { (name) } " deleted. " a href="/console/topics" { "Back to topics" } }
    }))
}

/// Metadata of one topic, or the 403/404 its error code means.
async fn topic_metadata(ctx: &Ctx, name: &str) -> Result<MetadataResponseTopic, ConsoleError> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(text(name))))
        ]))
        .with_allow_auto_topic_creation(false);
    let ResponseKind::Metadata(response) = ctx
        .kafka(ApiKey::Metadata, 12, RequestKind::Metadata(request))
        .await?
    else {
        return Err(ConsoleError::internal("unexpected answer to Metadata"));
    };
    let topic = response
        .topics
        .into_iter()
        .next()
        .ok_or_else(|| ConsoleError::not_found(format!("unknown topic '{name}'")))?;
    if topic.error_code != 0 {
        return Err(ConsoleError::kafka(topic.error_code, Some(name)));
    }
    Ok(topic)
}

/// Offsets by partition for `timestamp` (-2 earliest, -1 latest) from
/// ListOffsets to each partition's leader; partitions it refuses (no
/// leader, not authorized) are missing.
async fn list_offsets(
    ctx: &Ctx,
    name: &str,
    partitions: &[i32],
    timestamp: i64,
) -> Result<HashMap<i32, i64>, ConsoleError> {
    let wanted: Vec<(String, i32)> = partitions.iter().map(|&p| (name.to_string(), p)).collect();
    Ok(super::groups::offsets::list(ctx, &wanted, timestamp)
        .await?
        .into_iter()
        .filter_map(|((_, p), offset)| Some((p, offset.ok()??)))
        .collect())
}

async fn topic_configs(
    ctx: &Ctx,
    name: &str,
) -> Result<Option<DescribeConfigsResult>, ConsoleError> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(name))
            .with_configuration_keys(None)]);
    let ResponseKind::DescribeConfigs(response) = ctx
        .kafka(
            ApiKey::DescribeConfigs,
            4,
            RequestKind::DescribeConfigs(request),
        )
        .await?
    else {
        return Err(ConsoleError::internal(
            "unexpected answer to DescribeConfigs",
        ));
    };
    // A user who may describe the topic but not its configs still sees
    // its partitions; the configs section says why it is empty.
    Ok(response
        .results
        .into_iter()
        .next()
        .filter(|r| r.error_code == 0))
}

/// Kafka's config sources (DescribeConfigs `config_source`).
fn source_name(source: i8) -> &'static str {
    match source {
        1 => "topic",
        2 => "broker (dynamic)",
        3 => "cluster default (dynamic)",
        4 => "broker (static)",
        5 => "default",
        _ => "other",
    }
}

fn nodes(ids: &[kafka_protocol::messages::BrokerId]) -> String {
    ids.iter()
        .map(|b| b.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

async fn detail(ctx: Ctx, Path(name): Path<String>) -> Result<Response, ConsoleError> {
    let topic = topic_metadata(&ctx, &name).await?;
    let mut partitions = topic.partitions.clone();
    partitions.sort_by_key(|p| p.partition_index);
    let indexes: Vec<i32> = partitions.iter().map(|p| p.partition_index).collect();
    let earliest = list_offsets(&ctx, &name, &indexes, -2).await?;
    let latest = list_offsets(&ctx, &name, &indexes, -1).await?;
    let configs = topic_configs(&ctx, &name).await?;
    let body = html! {
        p.muted {
            "Id " code { (topic.topic_id) } " · "
            a href={ "/console/messages?topic=" (name) } { "Browse messages" }
        }
        h2 { "Partitions" }
        table #partitions {
            thead { tr {
                th.num { "Partition" } th.num { "Log start" } th.num { "High watermark" }
                th.num { "Leader" } th { "Replicas" } th { "ISR" }
            } }
            tbody {
                @for p in &partitions {
                    tr {
                        td.num { (p.partition_index) }
                        td.num { (offset_cell(earliest.get(&p.partition_index))) }
                        td.num.hw { (offset_cell(latest.get(&p.partition_index))) }
                        td.num { @if p.leader_id.0 < 0 { "none" } @else { (p.leader_id.0) } }
                        td { (nodes(&p.replica_nodes)) }
                        td { (nodes(&p.isr_nodes)) }
                    }
                }
            }
        }
        h2 { "Configs" }
        @match &configs {
            None => { p.muted { "Not authorized to describe this topic's configs." } }
            Some(result) => {
                table #configs {
                    thead { tr { th { "Name" } th { "Value" } th { "Source" } } }
                    tbody {
                        @for c in &result.configs {
                            // AdminClient's ConfigEntry.isDefault(): only a
                            // DEFAULT_CONFIG source is the default.
                            @let changed = c.config_source != 5;
                            tr class=[changed.then_some("changed")] {
                                td { (c.name.as_str()) @if changed { " " span.changed title="changed from the default" { "●" } } }
                                td { @if c.is_sensitive { span.muted { "(sensitive)" } } @else { (c.value.as_deref().unwrap_or("")) } }
                                td { (source_name(c.config_source)) }
                            }
                        }
                    }
                }
            }
        }
        @if !ctx.state.read_only {
            h2 { "Delete" }
            div #delete-result {
                button.danger #delete-topic
                    hx-post={ "/console/topics/" (name) "/delete" }
                    hx-target="#delete-result"
                    hx-confirm={ "Delete topic " (name) " and all its records?" }
                    { "Delete topic" }
            }
        }
    };
    Ok(ctx.page(&format!("Topic {name}"), "Topics", body))
}

fn offset_cell(offset: Option<&i64>) -> Markup {
    html! {
        @match offset { Some(o) => { (o) }, None => { span.muted title="no leader answered" { "-" } } }
    }
}
