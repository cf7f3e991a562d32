//! The generated types against bytes Kafka 4.4's own classes wrote
//! (tests/data/streams_group_kafka44.txt, from
//! schemas/kafka-4.4-layout/EncodeVectors.java), plus round trips.

use super::streams_group_describe_request::StreamsGroupDescribeRequest;
use super::streams_group_describe_response::StreamsGroupDescribeResponse;
use super::streams_group_heartbeat_request::{self as hbreq, StreamsGroupHeartbeatRequest};
use super::streams_group_heartbeat_response::{self as hbresp, StreamsGroupHeartbeatResponse};
use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion};
use std::collections::BTreeMap;

fn vectors() -> BTreeMap<String, Vec<u8>> {
    let text = include_str!("../../tests/data/streams_group_kafka44.txt");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let bytes = (0..v.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&v[i..i + 2], 16).unwrap())
                .collect();
            (k.to_string(), bytes)
        })
        .collect()
}

/// Decodes Kafka's bytes, checks nothing is left over, and re-encodes them
/// to exactly the same bytes.
fn kafka_bytes<T: Decodable + Encodable + std::fmt::Debug>(name: &str, version: i16) -> T {
    let raw = vectors().remove(name).unwrap();
    let mut buf = Bytes::from(raw.clone());
    let msg = T::decode(&mut buf, version).unwrap();
    assert!(buf.is_empty(), "{name}: {} bytes left", buf.len());
    let mut out = BytesMut::new();
    msg.encode(&mut out, version).unwrap();
    assert_eq!(out.to_vec(), raw, "{name} re-encoded differently");
    assert_eq!(msg.compute_size(version).unwrap(), raw.len());
    msg
}

#[test]
fn heartbeat_request_from_kafka() {
    for v in 0..=1 {
        let req: StreamsGroupHeartbeatRequest = kafka_bytes(&format!("hb_req_v{v}"), v);
        assert_eq!(req.group_id, "wordcount");
        assert_eq!(req.member_epoch, 0);
        assert_eq!(req.rack_id, None);
        assert_eq!(req.rebalance_timeout_ms, 300_000);
        let topology = req.topology.unwrap();
        assert_eq!(topology.epoch, 1);
        let sub = &topology.subtopologies[0];
        assert_eq!(sub.source_topics, vec!["input".to_string()]);
        assert_eq!(
            sub.repartition_sink_topics,
            vec!["wc-repartition".to_string()]
        );
        assert_eq!(sub.state_changelog_topics[0].name, "wc-changelog");
        assert_eq!(
            sub.state_changelog_topics[0].topic_configs[0].value,
            "compact"
        );
        assert_eq!(sub.copartition_groups[0].source_topics, vec![0]);
        let active = req.active_tasks.unwrap();
        assert_eq!(active[0].partitions, vec![0, 1]);
        assert_eq!(req.warmup_tasks, Some(vec![]));
        assert_eq!(req.task_offsets, None);
        let endpoint = req.user_endpoint.unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("localhost", 8080));
        assert_eq!(req.process_id.as_deref(), Some("p-1"));
    }
}

#[test]
fn heartbeat_response_from_kafka() {
    let v0: StreamsGroupHeartbeatResponse = kafka_bytes("hb_resp_v0", 0);
    assert_eq!(v0.acceptable_recovery_lag_legacy, 10_000);
    assert_eq!(v0.acceptable_recovery_lag, -1, "v0 has no int64 lag");
    let v1: StreamsGroupHeartbeatResponse = kafka_bytes("hb_resp_v1", 1);
    assert_eq!(v1.acceptable_recovery_lag, 10_000);
    for r in [&v0, &v1] {
        assert_eq!(r.member_epoch, 3);
        assert_eq!(r.heartbeat_interval_ms, 5000);
        assert_eq!(r.task_offset_interval_ms, 60_000);
        let status = r.status.as_ref().unwrap();
        assert_eq!(
            (status[0].status_code, status[0].status_detail.as_str()),
            (3, "missing")
        );
        assert_eq!(r.active_tasks.as_ref().unwrap()[0].partitions, vec![2]);
        assert_eq!(r.standby_tasks, Some(vec![]));
        assert_eq!(r.warmup_tasks, None);
        assert_eq!(r.endpoint_information_epoch, 2);
    }
}

#[test]
fn describe_from_kafka() {
    for v in 0..=1 {
        let req: StreamsGroupDescribeRequest = kafka_bytes(&format!("desc_req_v{v}"), v);
        assert_eq!(req.group_ids, vec!["wordcount".to_string()]);
        assert!(req.include_authorized_operations);
        let resp: StreamsGroupDescribeResponse = kafka_bytes(&format!("desc_resp_v{v}"), v);
        let g = &resp.groups[0];
        assert_eq!((g.group_state.as_str(), g.group_epoch), ("Stable", 4));
        assert_eq!(g.authorized_operations, i32::MIN);
        let topology = g.topology.as_ref().unwrap();
        assert_eq!(
            topology.subtopologies.as_ref().unwrap()[0].source_topics,
            vec!["input".to_string()]
        );
        let m = &g.members[0];
        assert_eq!(
            (m.member_id.as_str(), m.client_host.as_str()),
            ("m-1", "/127.0.0.1")
        );
        assert_eq!(m.user_endpoint, None);
        assert_eq!(m.assignment.active_tasks[0].partitions, vec![0]);
        assert!(g.topology_description.is_none());
    }
}

#[test]
fn field_absent_from_a_version_is_refused_unless_ignorable() {
    // IncludeTopologyDescription is v1+ and not ignorable: Kafka refuses to
    // write it at v0 (UnsupportedVersionException); so do we.
    let req = StreamsGroupDescribeRequest {
        include_topology_description: true,
        ..Default::default()
    };
    assert!(req.encode(&mut BytesMut::new(), 0).is_err());
    assert!(req.encode(&mut BytesMut::new(), 1).is_ok());
    // AcceptableRecoveryLag is v1+ but ignorable: dropped at v0.
    let resp = StreamsGroupHeartbeatResponse {
        acceptable_recovery_lag: 5,
        ..Default::default()
    };
    assert!(resp.encode(&mut BytesMut::new(), 0).is_ok());
    // Outside the valid versions.
    assert!(resp.encode(&mut BytesMut::new(), 2).is_err());
}

#[test]
fn null_where_not_nullable_is_refused() {
    // A null (0) compact string for GroupId.
    let mut buf = Bytes::from_static(&[0x00]);
    assert!(StreamsGroupHeartbeatRequest::decode(&mut buf, 0).is_err());
}

#[test]
fn truncated_and_forged_lengths_are_errors_not_panics() {
    let raw = vectors().remove("hb_req_v1").unwrap();
    for cut in 0..raw.len() {
        let mut buf = Bytes::copy_from_slice(&raw[..cut]);
        assert!(
            StreamsGroupHeartbeatRequest::decode(&mut buf, 1).is_err(),
            "cut at {cut}"
        );
    }
    // A describe request claiming 2^28 group ids in 3 bytes.
    let mut buf = Bytes::from_static(&[0x80, 0x80, 0x80, 0x01, 0x00]);
    assert!(StreamsGroupDescribeRequest::decode(&mut buf, 0).is_err());
}

#[test]
fn unknown_tagged_fields_survive_a_round_trip() {
    let mut resp = StreamsGroupHeartbeatResponse::default();
    resp.unknown_tagged_fields
        .insert(7, Bytes::from_static(b"xyz"));
    let mut task = hbresp::TaskIds::default();
    task.unknown_tagged_fields
        .insert(1, Bytes::from_static(b"a"));
    resp.active_tasks = Some(vec![task]);
    let mut out = BytesMut::new();
    resp.encode(&mut out, 1).unwrap();
    let back = StreamsGroupHeartbeatResponse::decode(&mut out.freeze(), 1).unwrap();
    assert_eq!(back, resp);
}

#[test]
fn header_versions_are_flexible() {
    assert_eq!(StreamsGroupHeartbeatRequest::header_version(0), 2);
    assert_eq!(StreamsGroupHeartbeatResponse::header_version(1), 1);
    assert_eq!(hbreq::API_KEY, 88);
    assert_eq!(super::streams_group_describe_request::API_KEY, 89);
}
