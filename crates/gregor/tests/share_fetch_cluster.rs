//! ShareFetch / ShareAcknowledge to a broker that does not lead the
//! partition: NOT_LEADER_OR_FOLLOWER with the current leader and its
//! endpoint (KIP-951 fields), as Kafka answers, so the share consumer can
//! move at once. One dedicated controller (node 1), brokers 2 and 3.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes::{NONE, NOT_LEADER_OR_FOLLOWER};
use support::cluster::{
    controller_and_brokers_specs, create_topic_on, eventually, metadata, ProcessCluster,
};
use support::share::{self, ACCEPT};

#[test]
fn a_broker_that_does_not_lead_points_at_the_leader() {
    let cluster = ProcessCluster::start(
        controller_and_brokers_specs(2),
        &[
            "broker.session.timeout.ms=2000",
            "broker.heartbeat.interval.ms=200",
        ],
    );
    eventually(30, "both brokers registered", || {
        (metadata(&mut cluster.connect(1), None).brokers.len() == 2).then_some(())
    });
    let mut conn = cluster.connect(1); // broker 2
    let topic = create_topic_on(&mut conn, "share-led-by-3", 3);
    let leader_port = cluster.nodes[2].port;
    eventually(30, "broker 2 knows the topic", || {
        let m = metadata(&mut conn, Some(&["share-led-by-3"]));
        (m.topics.first()?.partitions.first()?.leader_id.0 == 3).then_some(())
    });

    let session = share::Session {
        group: "share-g",
        member: "member-a",
        epoch: 0,
    };
    let response = share::fetch(&mut conn, &session, topic, &[], 0);
    assert_eq!(response.error_code, NONE);
    let p = &response.responses[0].partitions[0];
    assert_eq!(p.error_code, NOT_LEADER_OR_FOLLOWER);
    assert_eq!(p.current_leader.leader_id, 3);
    assert!(p.current_leader.leader_epoch >= 0);
    let endpoints: Vec<(i32, i32)> = response
        .node_endpoints
        .iter()
        .map(|e| (e.node_id.0, e.port))
        .collect();
    assert_eq!(endpoints, vec![(3, i32::from(leader_port))]);

    let session = share::Session {
        epoch: 1,
        ..session
    };
    let response = share::acknowledge(&mut conn, &session, topic, &[(0, 0, ACCEPT)]);
    assert_eq!(response.error_code, NONE);
    let p = &response.responses[0].partitions[0];
    assert_eq!(
        (p.error_code, p.current_leader.leader_id),
        (NOT_LEADER_OR_FOLLOWER, 3)
    );
    assert_eq!(response.node_endpoints.len(), 1);
}
