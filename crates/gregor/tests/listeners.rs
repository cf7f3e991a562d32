//! Several named listeners on one real `gregor server`: every listener is
//! bound and serves, and a controller listener answers only Kafka's
//! controller-scope APIs (ApiVersions lists just those; anything else closes
//! the connection, as Kafka's SocketServer does), with KIP-919
//! DescribeCluster listing controllers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use gregor_protocol::error_codes;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::net::TcpStream;
use support::{free_port, topic_name, Connection, TestBroker};

struct Node {
    broker: TestBroker,
    controller: u16,
    internal: u16,
}

/// A combined node with Kafka's quorum settings and three listeners:
/// PLAINTEXT (clients), INTERNAL (inter-broker) and CONTROLLER; a static
/// quorum (`controller.quorum.voters`) or, with `dynamic`, Kafka 4's stock
/// `controller.quorum.bootstrap.servers`.
fn start_node_with(dynamic: bool) -> Node {
    let (client, internal, controller) = (free_port(), free_port(), free_port());
    let settings = [
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},\
             CONTROLLER://127.0.0.1:{controller}"
        ),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            .to_string(),
        "inter.broker.listener.name=INTERNAL".to_string(),
        "controller.listener.names=CONTROLLER".to_string(),
        // One broker: as in Kafka's config/server.properties.
        "offsets.topic.replication.factor=1".to_string(),
        if dynamic {
            format!("controller.quorum.bootstrap.servers=127.0.0.1:{controller}")
        } else {
            format!("controller.quorum.voters=1@127.0.0.1:{controller}")
        },
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let broker = TestBroker::start_on(client, &settings);
    Node {
        broker,
        controller,
        internal,
    }
}

fn start_node() -> Node {
    start_node_with(false)
}

fn connect(port: u16) -> Connection {
    Connection::new(TcpStream::connect(("127.0.0.1", port)).unwrap())
}

fn api_keys(conn: &mut Connection) -> Vec<i16> {
    let ResponseKind::ApiVersions(response) = conn.request(
        ApiKey::ApiVersions,
        3,
        RequestKind::ApiVersions(ApiVersionsRequest::default()),
    ) else {
        panic!("not an ApiVersions response")
    };
    assert_eq!(response.error_code, 0);
    // Feature levels are the same on both kinds of listener.
    assert!(!response.finalized_features.is_empty());
    response.api_keys.iter().map(|k| k.api_key).collect()
}

fn describe_cluster(conn: &mut Connection, endpoint_type: i8) -> DescribeClusterResponse {
    let ResponseKind::DescribeCluster(response) = conn.request(
        ApiKey::DescribeCluster,
        1,
        RequestKind::DescribeCluster(
            DescribeClusterRequest::default().with_endpoint_type(endpoint_type),
        ),
    ) else {
        panic!("not a DescribeCluster response")
    };
    response
}

#[test]
fn controller_listener_serves_only_controller_apis() {
    let node = start_node();
    let mut controller = connect(node.controller);
    let keys = api_keys(&mut controller);
    let mut expected: Vec<i16> = [
        ApiKey::ApiVersions,
        ApiKey::CreateTopics,
        ApiKey::DeleteTopics,
        ApiKey::DescribeConfigs,
        ApiKey::AlterConfigs,
        ApiKey::CreatePartitions,
        ApiKey::IncrementalAlterConfigs,
        ApiKey::DescribeQuorum,
        ApiKey::UpdateFeatures,
        ApiKey::DescribeCluster,
        ApiKey::ElectLeaders,
        ApiKey::AlterPartitionReassignments,
        ApiKey::ListPartitionReassignments,
        // SASL (answered on SASL_* controller listeners) and SCRAM users.
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
        ApiKey::AlterUserScramCredentials,
        ApiKey::AlterClientQuotas,
        ApiKey::CreateAcls,
        ApiKey::DeleteAcls,
        ApiKey::DescribeAcls,
        // The KRaft RPCs and what brokers ask the active controller.
        ApiKey::Fetch,
        ApiKey::Vote,
        ApiKey::BeginQuorumEpoch,
        ApiKey::EndQuorumEpoch,
        ApiKey::FetchSnapshot,
        ApiKey::BrokerRegistration,
        ApiKey::BrokerHeartbeat,
        ApiKey::AllocateProducerIds,
        ApiKey::ControllerRegistration,
        ApiKey::AlterPartition,
    ]
    .iter()
    .map(|k| *k as i16)
    .collect();
    expected.sort();
    assert_eq!(keys, expected);

    // The quorum and the cluster's controllers are served there.
    let ResponseKind::DescribeQuorum(quorum) = controller.request(
        ApiKey::DescribeQuorum,
        2,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![PartitionData::default()]),
        ])),
    ) else {
        panic!("not a DescribeQuorum response")
    };
    assert_eq!(quorum.topics[0].partitions[0].error_code, 0);
    assert_eq!(quorum.topics[0].partitions[0].leader_id.0, 1);
    // A voter is reached on its controller listener (KIP-853).
    let endpoints: Vec<(String, u16)> = quorum.nodes[0]
        .listeners
        .iter()
        .map(|l| (l.name.to_string(), l.port))
        .collect();
    assert_eq!(endpoints, [("CONTROLLER".to_string(), node.controller)]);
    let cluster = describe_cluster(&mut controller, 2);
    assert_eq!(cluster.error_code, 0);
    assert_eq!(cluster.endpoint_type, 2);
    assert_eq!(cluster.controller_id.0, 1);
    let nodes: Vec<(i32, String, i32)> = cluster
        .brokers
        .iter()
        .map(|b| (b.broker_id.0, b.host.to_string(), b.port))
        .collect();
    assert_eq!(
        nodes,
        [(1, "127.0.0.1".to_string(), node.controller as i32)]
    );
    // Brokers are asked of a broker listener (KIP-919).
    let mismatched = describe_cluster(&mut controller, 1);
    assert_eq!(mismatched.error_code, error_codes::MISMATCHED_ENDPOINT_TYPE);
    let unknown = describe_cluster(&mut controller, 7);
    assert_eq!(unknown.error_code, error_codes::UNSUPPORTED_ENDPOINT_TYPE);

    // An API outside the controller scope closes the connection, as Kafka's
    // SocketServer does.
    let frame = controller.encode(
        ApiKey::Metadata,
        12,
        &RequestKind::Metadata(MetadataRequest::default()),
    );
    controller.send_raw(&frame);
    assert!(controller.read_frame().is_none());
    assert!(controller.is_closed());
    // A Fetch there is the metadata quorum's: a consumer's fetch of a topic
    // is refused, never served from the topic's log.
    let mut controller = connect(node.controller);
    let ResponseKind::Fetch(answer) = controller.request(
        ApiKey::Fetch,
        12,
        RequestKind::Fetch(FetchRequest::default()),
    ) else {
        panic!("wrong response type")
    };
    assert_ne!(answer.error_code, 0, "{answer:?}");
}

#[test]
fn every_client_listener_serves_clients() {
    let node = start_node_with(true);
    for port in [node.broker.addr.port(), node.internal] {
        let mut conn = connect(port);
        let keys = api_keys(&mut conn);
        for key in [ApiKey::Produce, ApiKey::Fetch, ApiKey::Metadata] {
            assert!(keys.contains(&(key as i16)), "{key:?} on {port}");
        }
        let cluster = describe_cluster(&mut conn, 1);
        assert_eq!(cluster.error_code, 0);
        // A client is told the endpoints of the listener it is using, as
        // Kafka does.
        assert_eq!(cluster.brokers[0].port, port as i32);
        let controllers = describe_cluster(&mut conn, 2);
        assert_eq!(
            controllers.error_code,
            error_codes::MISMATCHED_ENDPOINT_TYPE
        );
        let ResponseKind::Metadata(metadata) = conn.request(
            ApiKey::Metadata,
            12,
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![]))),
        ) else {
            panic!("not a Metadata response")
        };
        assert_eq!(metadata.brokers.len(), 1);
        assert_eq!(metadata.brokers[0].port, port as i32);
        let ResponseKind::FindCoordinator(coordinator) = conn.request(
            ApiKey::FindCoordinator,
            3,
            RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g")),
            ),
        ) else {
            panic!("not a FindCoordinator response")
        };
        assert_eq!(coordinator.error_code, 0);
        assert_eq!(coordinator.port, port as i32);
    }
    // A client creating a topic through the controller listener, as
    // kafka-topics --bootstrap-controller does.
    let mut controller = connect(node.controller);
    let ResponseKind::CreateTopics(created) = controller.request(
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![
            create_topics_request::CreatableTopic::default()
                .with_name(topic_name("via-controller"))
                .with_num_partitions(2)
                .with_replication_factor(1),
        ])),
    ) else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(created.topics[0].error_code, 0);
}

fn gregor_cli(args: &[&str]) -> String {
    let output = std::process::Command::new(support::gregor_bin())
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn cluster_cli_describes_brokers_controllers_and_the_quorum() {
    let node = start_node();
    let broker = node.broker.addr.to_string();
    let controller = format!("127.0.0.1:{}", node.controller);
    let cluster_id = {
        let mut conn = connect(node.controller);
        describe_cluster(&mut conn, 2).cluster_id.to_string()
    };
    assert_eq!(cluster_id.len(), 22);

    let brokers = gregor_cli(&["cluster", "describe", "--bootstrap-server", &broker]);
    assert_eq!(
        brokers,
        format!(
            "ClusterId:\t{cluster_id}\nControllerId:\t1\nBrokers:\nId\tHost:Port\tRack\n\
             1\t127.0.0.1:{}\t-\n",
            node.broker.addr.port()
        )
    );
    let controllers = gregor_cli(&["cluster", "describe", "--bootstrap-controller", &controller]);
    assert_eq!(
        controllers,
        format!(
            "ClusterId:\t{cluster_id}\nControllerId:\t1\nControllers:\nId\tHost:Port\tRack\n\
             1\t127.0.0.1:{}\t-\n",
            node.controller
        )
    );

    for args in [
        ["cluster", "quorum", "--bootstrap-controller", &controller],
        ["cluster", "quorum", "--bootstrap-server", &broker],
    ] {
        let quorum = gregor_cli(&args);
        let lines: Vec<&str> = quorum.lines().collect();
        assert_eq!(lines[0], format!("ClusterId:\t{cluster_id}"), "{quorum}");
        assert_eq!(lines[1], "LeaderId:\t1", "{quorum}");
        // A lone voter elects itself in the first epoch.
        assert_eq!(lines[2], "LeaderEpoch:\t1", "{quorum}");
        let hw: i64 = lines[3]
            .strip_prefix("HighWatermark:\t")
            .unwrap()
            .parse()
            .unwrap();
        assert!(hw >= 1, "{quorum}");
        assert_eq!(lines[4], "MaxFollowerLag:\t0", "{quorum}");
        assert_eq!(lines[6], "CurrentVoters:\t[1]", "{quorum}");
        assert_eq!(lines[7], "CurrentObservers:\t[]", "{quorum}");
        let row: Vec<&str> = lines[10].split('\t').collect();
        assert_eq!(row[0], "1", "{quorum}");
        // A static voter has no directory id: Kafka's zero uuid.
        assert_eq!(row[1], "AAAAAAAAAAAAAAAAAAAAAA", "{quorum}");
        assert_eq!(row[2], hw.to_string(), "{quorum}");
        assert_eq!(row[3], "0", "{quorum}");
        assert_eq!(row[6], "Leader", "{quorum}");
        assert_eq!(
            row[7],
            format!("CONTROLLER://127.0.0.1:{}", node.controller),
            "{quorum}"
        );
        assert_eq!(lines.len(), 11, "{quorum}");
    }

    // Brokers asked of a controller: Kafka's error, one line, non-zero exit.
    let output = std::process::Command::new(support::gregor_bin())
        .args(["cluster", "describe", "--bootstrap-server", &controller])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MISMATCHED_ENDPOINT_TYPE"), "{stderr}");
}

#[test]
fn a_port_zero_controller_listener_is_advertised_with_its_real_port() {
    let client = free_port();
    let broker = TestBroker::start_on(
        client,
        &[
            &format!("listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:0"),
            "controller.listener.names=CONTROLLER",
        ],
    );
    let mut conn = broker.connect();
    let ResponseKind::DescribeQuorum(quorum) = conn.request(
        ApiKey::DescribeQuorum,
        2,
        RequestKind::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
            TopicData::default()
                .with_topic_name(topic_name("__cluster_metadata"))
                .with_partitions(vec![PartitionData::default()]),
        ])),
    ) else {
        panic!("not a DescribeQuorum response")
    };
    let endpoint = &quorum.nodes[0].listeners[0];
    assert_eq!(endpoint.name.as_str(), "CONTROLLER");
    assert_ne!(endpoint.port, 0);
    // ... and that port is the controller listener.
    let mut controller = connect(endpoint.port);
    assert!(!api_keys(&mut controller).contains(&(ApiKey::Produce as i16)));
}
