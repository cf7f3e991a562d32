//! The console in a real 3-node combined cluster: from ONE node's admin
//! endpoint, the message browser shows the records of every partition,
//! those led by the other nodes included (Fetch to their leaders), and a
//! group coordinated by another node is listed, shows its lag and is
//! reset there.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use support::cluster::{
    combined_specs_with_admin, create_topic_eventually, eventually, known_coordinator,
    partition_leaders, produce_once_led, ProcessCluster, GROUP_KEY,
};
use support::http::{get, request};
use support::{free_port, produce_values, topic_name, Connection};

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// A simple consumer's commit (no member), as the tools make one: the
/// first error code, or 0.
fn commit(conn: &mut Connection, group: &str, topic: &str, offsets: &[(i32, i64)]) -> i16 {
    support::simple_commit(conn, group, topic, offsets)
}

/// The group's committed offsets as a Kafka client reads them.
fn committed(conn: &mut Connection, group: &str) -> Vec<(i32, i64)> {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None)]);
    let ResponseKind::OffsetFetch(r) =
        conn.request(ApiKey::OffsetFetch, 9, RequestKind::OffsetFetch(request))
    else {
        panic!()
    };
    assert_eq!(r.groups[0].error_code, 0);
    let mut out: Vec<_> = r.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.committed_offset))
        })
        .collect();
    out.sort();
    out
}

/// A transactional batch of producer 777 without a transactional id (as
/// pre-KIP-890 clients could send): no coordinator knows the transaction
/// it opens, so it hangs.
fn hang(conn: &mut Connection, topic: &str, partition: i32) {
    use gregor_protocol::compression::Compression;
    use gregor_protocol::records::BatchBuilder;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    let mut batch = BatchBuilder::new(Compression::None)
        .producer(777, 3, 0)
        .transactional(true);
    batch.push(
        1_000,
        None,
        Some(bytes::Bytes::from_static(b"stuck")),
        Vec::new(),
    );
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.build().unwrap().freeze()))])]);
    let ResponseKind::Produce(r) = conn.request(ApiKey::Produce, 9, RequestKind::Produce(request))
    else {
        panic!()
    };
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

fn cell(class: &str, value: impl std::fmt::Display) -> String {
    format!(r#"<td class="num {class}">{value}</td>"#)
}

/// The markup of one partition's row, up to the next row.
fn row<'a>(body: &'a str, partition: &str) -> &'a str {
    let start = body
        .find(&format!(r#"data-partition="{partition}""#))
        .unwrap_or_else(|| panic!("no row for {partition} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

#[test]
fn browser_reads_partitions_led_by_other_nodes() {
    let (specs, admins) = combined_specs_with_admin(3);
    // Few offsets partitions, one replica each: groups spread over nodes.
    let cluster = ProcessCluster::start(
        specs,
        &[
            "offsets.topic.num.partitions=3",
            "offsets.topic.replication.factor=1",
        ],
    );
    let topic = "spread";
    create_topic_eventually(|| cluster.connect(0), topic, 6);
    // Partition -> index of the node leading it, once node 0 knows them all.
    let leaders = partition_leaders(|| cluster.connect(0), topic, 6);
    let nodes: BTreeSet<usize> = leaders.iter().map(|(_, n)| *n).collect();
    assert!(
        nodes.iter().any(|n| *n != 0),
        "some partition must be led by another node: {leaders:?}"
    );
    for (p, node) in &leaders {
        let values: Vec<String> = (0..3).map(|i| format!("value-p{p}-{i}")).collect();
        produce_once_led(
            &mut cluster.connect(*node),
            topic,
            *p,
            1_000 + *p as i64,
            &values,
        );
    }

    // Every partition from node 0's console, oldest first.
    let all = get(
        admins[0],
        &format!("/console/messages/results?topic={topic}&partition=all&from=oldest&limit=100"),
    );
    assert_eq!(all.status, 200, "{}", all.body);
    for (p, _) in &leaders {
        for i in 0..3 {
            assert!(
                all.body.contains(&format!("value-p{p}-{i}")),
                "partition {p} record {i} missing: {}",
                all.body
            );
        }
    }
    assert!(all.body.contains("18 records shown"), "{}", all.body);

    // One partition led elsewhere, from an offset, and the newest record.
    let (remote, _) = *leaders.iter().find(|(_, n)| *n != 0).unwrap();
    let one = get(
        admins[0],
        &format!("/console/messages/results?topic={topic}&partition={remote}&from=offset&offset=1"),
    );
    assert_eq!(one.status, 200, "{}", one.body);
    assert!(
        !one.body.contains(&format!("value-p{remote}-0")),
        "{}",
        one.body
    );
    assert!(
        one.body.contains(&format!("value-p{remote}-1")),
        "{}",
        one.body
    );
    assert!(
        one.body.contains(&format!("value-p{remote}-2")),
        "{}",
        one.body
    );
    let newest = get(
        admins[0],
        &format!("/console/messages/results?topic={topic}&partition={remote}&from=newest&limit=1"),
    );
    assert_eq!(newest.status, 200, "{}", newest.body);
    assert!(newest.body.contains("1 records shown"), "{}", newest.body);
    assert!(
        newest.body.contains(&format!("value-p{remote}-2")),
        "{}",
        newest.body
    );
    // A filter runs on the records read from the leader too.
    let filtered = get(
        admins[0],
        &format!(
            "/console/messages/results?topic={topic}&partition=all&from=oldest&filter={}",
            support::http::encode(&format!("value == \"value-p{remote}-1\""))
        ),
    );
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert!(
        filtered.body.contains("1 records shown"),
        "{}",
        filtered.body
    );

    // A group coordinated by another node than the console's.
    let (group, coordinator) = (0..100)
        .map(|n| format!("grp-{n}"))
        .map(|g| {
            let c = known_coordinator(&cluster, 0, GROUP_KEY, &g);
            (g, c)
        })
        .find(|(_, c)| *c != 1)
        .expect("a group coordinated by node 2 or 3");
    let mut at_coordinator = cluster.connect(coordinator as usize - 1);
    let offsets: Vec<(i32, i64)> = (0..6).map(|p| (p, 1)).collect();
    // The coordinator may learn it coordinates a moment after others do.
    eventually(30, "the offsets committed", || {
        let code = commit(&mut at_coordinator, &group, topic, &offsets);
        assert!(code == 0 || code == 14 || code == 16, "commit: {code}");
        (code == 0).then_some(())
    });

    let list = get(admins[0], "/console/groups");
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(list.body.contains(&group), "{}", list.body);
    let page = get(admins[0], &format!("/console/groups/{group}"));
    assert_eq!(page.status, 200, "{}", page.body);
    for (p, _) in &leaders {
        let r = row(&page.body, &format!("{topic}-{p}"));
        assert!(r.contains(&cell("committed", 1)), "{r}");
        assert!(r.contains(&cell("log-end", 3)), "{r}");
        assert!(r.contains(&cell("lag", 2)), "{r}");
    }

    // Reset through the coordinator, read back there by a client.
    let done = request(
        admins[0],
        "POST",
        &format!("/console/groups/{group}/reset"),
        &[],
        &format!("topic={topic}&to=earliest&action=execute"),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Offsets committed"), "{}", done.body);
    let reset: Vec<(i32, i64)> = (0..6).map(|p| (p, 0)).collect();
    assert_eq!(committed(&mut at_coordinator, &group), reset);

    // Watermarks of every partition, from their leaders.
    let page = get(admins[0], &format!("/console/topics/{topic}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body.matches(r#"<td class="num hw">3</td>"#).count(),
        6,
        "{}",
        page.body
    );

    // A hanging transaction on a partition led elsewhere: found with
    // DescribeProducers and aborted with WriteTxnMarkers at its leader;
    // then the browser (READ_COMMITTED over Fetch) skips its record.
    let (remote, node) = *leaders.iter().find(|(_, n)| *n != 0).unwrap();
    hang(&mut cluster.connect(node), topic, remote);
    produce_values(&mut cluster.connect(node), topic, remote, 2_000, ["after"]);
    let page = get(admins[0], "/console/transactions");
    assert_eq!(page.status, 200, "{}", page.body);
    let hanging = &page.body[page.body.find(r#"id="hanging""#).unwrap()..];
    assert!(
        hanging.contains(&format!(
            "<td>{topic}-{remote}</td><td class=\"num\">777</td>"
        )),
        "{hanging}"
    );
    let aborted = request(
        admins[0],
        "POST",
        "/console/transactions/abort",
        &[],
        &format!("topic={topic}&partition={remote}&start_offset=3"),
    );
    assert_eq!(aborted.status, 200, "{}", aborted.body);
    let read = get(
        admins[0],
        &format!("/console/messages/results?topic={topic}&partition={remote}&from=oldest"),
    );
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(read.body.contains("after"), "{}", read.body);
    assert!(!read.body.contains("stuck"), "{}", read.body);
    assert!(read.body.contains("4 records shown"), "{}", read.body);

    // A leader out of reach costs its partitions, not the page.
    let gone = leaders.iter().find(|(_, n)| *n != 0).unwrap().1;
    let mut cluster = cluster;
    cluster.kill(gone);
    let after = get(
        admins[0],
        &format!("/console/messages/results?topic={topic}&partition=all&from=oldest&limit=100"),
    );
    assert_eq!(after.status, 200, "{}", after.body);
    for (p, node) in &leaders {
        if *node == 0 {
            assert!(
                after.body.contains(&format!("value-p{p}-0")),
                "{}",
                after.body
            );
        } else if *node == gone {
            assert!(
                !after.body.contains(&format!("value-p{p}-0")),
                "{}",
                after.body
            );
            assert!(
                after.body.contains(&format!("Partition {p} not read"))
                    || after.body.contains("Partitions without a leader"),
                "{}",
                after.body
            );
        }
    }
}

/// 3 combined nodes whose first client listener CLIENT is SASL_PLAINTEXT
/// with SCRAM-SHA-512 only (user alice, a bootstrap SCRAM user); brokers
/// and controllers talk over PLAINTEXT listeners. (node specs, PLAINTEXT
/// INTERNAL ports, admin ports)
fn sasl_specs() -> (Vec<support::cluster::NodeSpec>, Vec<u16>, Vec<u16>) {
    let ports: Vec<[u16; 4]> = (0..3)
        .map(|_| [free_port(), free_port(), free_port(), free_port()])
        .collect();
    let voters = ports
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}@127.0.0.1:{}", i + 1, p[2]))
        .collect::<Vec<_>>()
        .join(",");
    let specs = ports
        .iter()
        .map(|[client, internal, controller, admin]| support::cluster::NodeSpec {
            port: *client,
            properties: format!(
                "process.roles=broker,controller\ncontroller.quorum.voters={voters}\n\
                 listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=CLIENT://127.0.0.1:{client},INTERNAL://127.0.0.1:{internal}\n\
                 controller.listener.names=CONTROLLER\ninter.broker.listener.name=INTERNAL\n\
                 listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512\n\
                 sasl.bootstrap.scram=SCRAM-SHA-512=[name=alice,password=alice-secret]\n\
                 gregor.admin.listener=127.0.0.1:{admin}\n"
            ),
            is_controller_only: false,
        })
        .collect();
    (
        specs,
        ports.iter().map(|p| p[1]).collect(),
        ports.iter().map(|p| p[3]).collect(),
    )
}

#[test]
fn the_console_logs_in_on_other_brokers_as_its_user() {
    let (specs, internal, admins) = sasl_specs();
    let _cluster = ProcessCluster::start(specs, &[]);
    let plain = |i: usize| support::security::connect_to(internal[i]);
    let topic = "guarded";
    create_topic_eventually(|| plain(0), topic, 6);
    let leaders = partition_leaders(|| plain(0), topic, 6);
    assert!(leaders.iter().any(|(_, n)| *n != 0), "{leaders:?}");
    for (p, node) in &leaders {
        produce_once_led(
            &mut plain(*node),
            topic,
            *p,
            1_000,
            &[format!("secret-p{p}")],
        );
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("alice:alice-secret")
    );
    let path = format!("/console/messages/results?topic={topic}&partition=all&from=oldest");
    let all = request(admins[0], "GET", &path, &[("Authorization", &auth)], "");
    assert_eq!(all.status, 200, "{}", all.body);
    for (p, _) in &leaders {
        assert!(
            all.body.contains(&format!("secret-p{p}")),
            "partition {p}: {}",
            all.body
        );
    }
    assert!(!all.body.contains("not read"), "{}", all.body);
    // Without the login nothing is read.
    assert_eq!(get(admins[0], &path).status, 401);
}

/// An authorizer but no SASL on the console's listener (PLAINTEXT): the
/// console logs its users in, acts as them on its own broker, and never
/// calls another broker, which would see `User:ANONYMOUS` (here a super
/// user, as inter-broker traffic over PLAINTEXT needs). What works is what
/// this broker answers or forwards to the controller; the rest says why.
#[test]
fn without_sasl_the_console_keeps_to_its_own_broker() {
    let (specs, admins) = combined_specs_with_admin(3);
    let cluster = ProcessCluster::start(
        specs,
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:ANONYMOUS;User:admin",
            "sasl.bootstrap.scram=SCRAM-SHA-256=[name=admin,password=admin-pw]",
        ],
    );
    let topic = "local-only";
    create_topic_eventually(|| cluster.connect(0), topic, 6);
    let leaders = partition_leaders(|| cluster.connect(0), topic, 6);
    assert!(leaders.iter().any(|(_, n)| *n != 0), "{leaders:?}");
    for (p, node) in &leaders {
        produce_once_led(
            &mut cluster.connect(*node),
            topic,
            *p,
            1_000,
            &[format!("value-p{p}")],
        );
    }
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:admin-pw")
    );
    let as_admin = |path: &str| request(admins[0], "GET", path, &[("Authorization", &auth)], "");
    assert_eq!(get(admins[0], "/console").status, 401);

    // Answered by this broker (or forwarded by it to the controller).
    for path in [
        "/console",
        "/console/topics",
        "/console/acls",
        "/console/users",
    ] {
        let page = as_admin(path);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
    }
    assert!(as_admin("/console/topics").body.contains(topic));
    // The browser reads the partitions led here, lists the others as not
    // read, with the reason.
    let all = as_admin(&format!(
        "/console/messages/results?topic={topic}&partition=all&from=oldest"
    ));
    assert_eq!(all.status, 200, "{}", all.body);
    for (p, node) in &leaders {
        let shown = all.body.contains(&format!("value-p{p}"));
        assert_eq!(
            shown,
            *node == 0,
            "partition {p} on node {node}: {}",
            all.body
        );
    }
    assert!(all.body.contains("no SASL login"), "{}", all.body);
    // Pages that need another broker answer 503 naming it and why.
    for path in [
        format!("/console/topics/{topic}"),
        "/console/groups".to_string(),
        "/console/transactions".to_string(),
    ] {
        let page = as_admin(&path);
        assert_eq!(page.status, 503, "{path}: {}", page.body);
        assert!(page.body.contains("no SASL login"), "{path}: {}", page.body);
    }
}
