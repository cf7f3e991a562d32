//! The replica manager's and the logs' state when scraped, under the names
//! the JMX exporter gives Kafka's MBeans (`kafka.server:type=ReplicaManager`,
//! `kafka.cluster:type=Partition`, `kafka.log:type=Log`,
//! `kafka.log:type=LogManager`): counts over the partitions hosted here.

use super::gauges::{counter, family, gauge, labels, set};
use crate::replica_manager::ReplicaManager;
use prometheus_client::registry::Registry;

/// What one hosted partition contributes.
struct PartitionState {
    leads: bool,
    replicas: usize,
    isr: usize,
    min_isr: usize,
}

impl PartitionState {
    /// Only a leader knows its ISR is short, as in Kafka.
    fn under_replicated(&self) -> bool {
        self.leads && self.isr < self.replicas
    }

    fn under_min_isr(&self) -> bool {
        self.leads && self.isr < self.min_isr
    }

    fn at_min_isr(&self) -> bool {
        self.leads && self.isr == self.min_isr
    }
}

/// A registry of the ReplicaManager, Partition, Log and LogManager families.
pub fn registry(replicas: &ReplicaManager) -> Registry {
    let mut registry = Registry::default();
    let node_id = replicas.node_id();
    let cluster = |r: &mut Registry, name: &str, help: &str| {
        family(r, &format!("kafka_cluster_partition_{name}"), help)
    };
    let urp = cluster(
        &mut registry,
        "underreplicated",
        "1 while this broker leads the partition and its ISR is short of its replicas",
    );
    let under_min = cluster(
        &mut registry,
        "underminisr",
        "1 while this broker leads the partition and its ISR is below min.insync.replicas",
    );
    let at_min = cluster(
        &mut registry,
        "atminisr",
        "1 while this broker leads the partition and its ISR is at min.insync.replicas",
    );
    let replicas_count = cluster(
        &mut registry,
        "replicascount",
        "The partition's replica count (0 where this broker does not lead it)",
    );
    let isr_count = cluster(
        &mut registry,
        "insyncreplicascount",
        "The partition's ISR size (0 where this broker does not lead it)",
    );
    let log = |r: &mut Registry, name: &str, help: &str| {
        family(r, &format!("kafka_log_log_{name}"), help)
    };
    let size = log(
        &mut registry,
        "size",
        "Bytes of the partition's log segments",
    );
    let segments = log(
        &mut registry,
        "numlogsegments",
        "Segments in the partition's log",
    );
    let end = log(
        &mut registry,
        "logendoffset",
        "The partition's log end offset",
    );
    let start = log(
        &mut registry,
        "logstartoffset",
        "The partition's log start offset",
    );

    let (mut hosted, mut leaders, mut urp_total, mut under_min_total, mut at_min_total) =
        (0, 0, 0, 0, 0);
    for partition in replicas.all_partitions() {
        let leadership = partition.leadership();
        let state = PartitionState {
            leads: leadership.leader == node_id,
            replicas: leadership.replicas.len(),
            isr: partition.isr_size(),
            min_isr: partition.effective_min_insync_replicas(),
        };
        let index = partition.index.to_string();
        let series = || labels([("topic", &partition.topic), ("partition", &index)]);
        hosted += 1;
        leaders += i64::from(state.leads);
        urp_total += i64::from(state.under_replicated());
        under_min_total += i64::from(state.under_min_isr());
        at_min_total += i64::from(state.at_min_isr());
        set(&urp, series(), i64::from(state.under_replicated()));
        set(&under_min, series(), i64::from(state.under_min_isr()));
        set(&at_min, series(), i64::from(state.at_min_isr()));
        let (replica_count, isr) = match state.leads {
            true => (state.replicas as i64, state.isr as i64),
            false => (0, 0),
        };
        set(&replicas_count, series(), replica_count);
        set(&isr_count, series(), isr);
        // A partition closed between the listing and here (deleted) has
        // no log series.
        if let (Ok(bytes), Ok(count), Ok((log_start, log_end))) = (
            partition.size_bytes(),
            partition.segment_count(),
            partition.log_bounds(),
        ) {
            set(&size, series(), i64::try_from(bytes).unwrap_or(i64::MAX));
            set(&segments, series(), count as i64);
            set(&start, series(), log_start);
            set(&end, series(), log_end);
        }
    }
    let rm = |name: &str| format!("kafka_server_replicamanager_{name}");
    let r = &mut registry;
    gauge(
        r,
        &rm("partitioncount"),
        "Partitions hosted on this broker",
        hosted,
    );
    gauge(
        r,
        &rm("leadercount"),
        "Partitions this broker leads",
        leaders,
    );
    gauge(
        r,
        &rm("underreplicatedpartitions"),
        "Partitions led here whose ISR is short of their replicas",
        urp_total,
    );
    gauge(
        r,
        &rm("underminisrpartitioncount"),
        "Partitions led here whose ISR is below min.insync.replicas",
        under_min_total,
    );
    gauge(
        r,
        &rm("atminisrpartitioncount"),
        "Partitions led here whose ISR is at min.insync.replicas",
        at_min_total,
    );
    // Gregor has no per-directory failure handling that takes single
    // replicas offline (Kafka's JBOD), so this is always 0.
    gauge(
        r,
        &rm("offlinereplicacount"),
        "Replicas hosted here whose log directory is offline",
        0,
    );
    let churn = replicas.isr_churn();
    counter(
        r,
        &rm("isrshrinks"),
        "ISR shrinks of partitions led here, as the controller accepted them",
        churn.shrinks(),
    );
    counter(
        r,
        &rm("isrexpands"),
        "ISR expansions of partitions led here, as the controller accepted them",
        churn.expands(),
    );
    let offline_dirs = i64::from(!replicas.log_dir().is_dir());
    gauge(
        r,
        "kafka_log_logmanager_offlinelogdirectorycount",
        "Log directories that cannot be used (Gregor has one)",
        offline_dirs,
    );
    registry
}
