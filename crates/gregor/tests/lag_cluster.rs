//! Consumer lag of partitions whose only replica is on another node than
//! the group's coordinator, in a real 3-node cluster: the coordinator's
//! `/metrics` and any node's console read the timestamps from the
//! partition's leader, the lag in seconds grows while the group stays
//! idle and producers go on, and a leader out of reach (paused, then
//! killed) leaves its series out (not stale) without holding up the scrape.

// An integration test: unwrapping is how a failed step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::cluster::produce_once_led;
use support::cluster::{
    combined_specs_with_admin, create_topic_eventually, eventually, known_coordinator,
    partition_leaders, ProcessCluster, GROUP_KEY,
};
use support::http::get;
use support::scrape::sample;

fn produce(conn: &mut support::Connection, topic: &str, partition: i32, ts: i64, values: &[&str]) {
    let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    produce_once_led(conn, topic, partition, ts, &values);
}

/// `GET /metrics` of a node: its body, and how long it took.
fn scrape(port: u16) -> (String, Duration) {
    let started = Instant::now();
    let answer = get(port, "/metrics");
    assert_eq!(answer.status, 200, "{}", answer.body);
    (answer.body, started.elapsed())
}

/// A group partition's (committed offset, lag, lag in seconds) samples in
/// a scrape; `None` where the series is left out.
fn lag_samples(body: &str, series: &[(&str, &str)]) -> (Option<f64>, Option<f64>, Option<f64>) {
    (
        sample(body, "kafka_consumergroup_current_offset", series),
        sample(body, "kafka_consumergroup_lag", series),
        sample(body, "gregor_consumergroup_lag_seconds", series),
    )
}

#[test]
fn lag_in_seconds_comes_from_the_leader_when_the_coordinator_has_no_replica() {
    let (specs, admins) = combined_specs_with_admin(3);
    // One replica per offsets partition: groups spread over the nodes.
    let cluster = ProcessCluster::start(
        specs,
        &[
            "offsets.topic.num.partitions=3",
            "offsets.topic.replication.factor=1",
        ],
    );
    let topic = "far";
    create_topic_eventually(|| cluster.connect(0), topic, 6);
    // Partition -> index of the node leading it.
    let leaders = partition_leaders(|| cluster.connect(0), topic, 6);
    // A group and a partition whose one replica is on another node than
    // the group's coordinator.
    let (group, coordinator, partition, leader) = (0..100)
        .map(|n| format!("far-group-{n}"))
        .find_map(|g| {
            let c = known_coordinator(&cluster, 0, GROUP_KEY, &g) as usize - 1;
            let (p, l) = leaders.iter().find(|(_, l)| *l != c)?;
            Some((g, c, *p, *l))
        })
        .expect("a partition led away from some group's coordinator");
    let p = partition.to_string();
    let series = [
        ("consumergroup", group.as_str()),
        ("topic", topic),
        ("partition", p.as_str()),
    ];

    // Records at 10 s, 11 s and 12.5 s; the group committed offset 1.
    let mut at_leader = cluster.connect(leader);
    produce(&mut at_leader, topic, partition, 10_000, &["a"]);
    produce(&mut at_leader, topic, partition, 11_000, &["b"]);
    produce(&mut at_leader, topic, partition, 12_500, &["c"]);
    let mut at_coordinator = cluster.connect(coordinator);
    eventually(30, "the offset committed", || {
        let code = support::simple_commit(&mut at_coordinator, &group, topic, &[(partition, 1)]);
        assert!(code == 0 || code == 14 || code == 16, "commit: {code}");
        (code == 0).then_some(())
    });

    let (body, _) = scrape(admins[coordinator]);
    assert_eq!(
        lag_samples(&body, &series),
        (Some(1.0), Some(2.0), Some(1.5)),
        "{body}"
    );

    // The group stays idle while records keep coming: the lag in seconds
    // grows with the newest record's timestamp.
    produce(&mut at_leader, topic, partition, 20_000, &["d", "e"]);
    let (body, _) = scrape(admins[coordinator]);
    let (_, lag, seconds) = lag_samples(&body, &series);
    assert_eq!((lag, seconds), (Some(4.0), Some(9.0)), "{body}");

    // The console shows it too, from a node that is neither coordinator
    // nor leader when there is one, else from the coordinator.
    let console = (0..3)
        .find(|n| *n != coordinator && *n != leader)
        .unwrap_or(coordinator);
    let page = get(admins[console], &format!("/console/groups/{group}"));
    assert_eq!(page.status, 200, "{}", page.body);
    let start = page
        .body
        .find(&format!(r#"data-partition="{topic}-{partition}""#))
        .unwrap_or_else(|| panic!("no row in {}", page.body));
    let row = &page.body[start..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    assert!(
        row.contains(r#"<td class="num lag-seconds">9.0</td>"#),
        "{row}"
    );

    // The leader paused (it accepts connections but answers nothing): the
    // scrape waits no longer than the remote reads' bound, and leaves the
    // partition's lag out rather than showing the last value.
    cluster.signal(leader, "STOP");
    let (body, took) = scrape(admins[coordinator]);
    cluster.signal(leader, "CONT");
    assert!(took < Duration::from_secs(5), "scrape took {took:?}");
    let (_, lag, seconds) = lag_samples(&body, &series);
    assert_eq!((lag, seconds), (None, None), "{body}");
    // Resumed: the series are back.
    eventually(20, "the lag back after the leader resumed", || {
        let (body, _) = scrape(admins[coordinator]);
        (sample(&body, "gregor_consumergroup_lag_seconds", &series) == Some(9.0)).then_some(())
    });

    // The leader gone: its partition's series leave the coordinator's
    // scrape at once (no stale value), within the remote read's bound.
    let mut cluster = cluster;
    cluster.kill(leader);
    let (body, took) = scrape(admins[coordinator]);
    assert!(took < Duration::from_secs(5), "scrape took {took:?}");
    assert_eq!(
        lag_samples(&body, &series),
        (Some(1.0), None, None),
        "{body}"
    );
}
