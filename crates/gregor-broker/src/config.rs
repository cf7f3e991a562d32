//! Broker configuration under Kafka's own names.
//!
//! Every setting Gregor knows is in [`BROKER_CONFIGS`] with its type and
//! Kafka's default; values come from a file and `--set` flags as strings and
//! are checked here, so a typo fails start-up with a one-line error naming
//! the key instead of being silently ignored.

pub mod authorizer;
mod consumer_groups;
pub mod dynamic;
pub mod group_resource;
pub mod listeners;
mod quorum;
pub mod sasl;
mod share_groups;
mod streams_groups;

pub use listeners::{Listener, ListenerSettings, SecurityProtocol};
pub use quorum::{QuorumSettings, Voter};

use crate::replica::selector::ReplicaSelector;
use gregor_metadata::topic_config::ConfigType;
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub default: &'static str,
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    doc: &'static str,
) -> BrokerConfigDef {
    BrokerConfigDef {
        name,
        kind,
        default,
        doc,
    }
}

use ConfigType::{Boolean, Int, List, Long, Password, String as Str};

/// The broker settings Gregor acts on, with Kafka's defaults (except where
/// Gregor's single-binary defaults differ: listeners and log.dirs).
pub const BROKER_CONFIGS: &[BrokerConfigDef] = &[
    def("node.id", Int, "1", "The id of this node."),
    def(
        "process.roles",
        List,
        "broker,controller",
        "Roles of this node; Gregor always runs both (KRaft combined mode).",
    ),
    def(
        "controller.quorum.voters",
        List,
        "",
        "Static quorum: id@host:port of every controller. Only this node may be listed so far.",
    ),
    def(
        "controller.quorum.bootstrap.servers",
        List,
        "",
        "Dynamic quorum: host:port of controllers to bootstrap from. At most one so far.",
    ),
    def(
        "controller.listener.names",
        List,
        "",
        "Listener names used by the controller; required for a controller when a quorum is configured.",
    ),
    def(
        "controller.quorum.election.timeout.ms",
        Int,
        "1000",
        "Maximum time without a leader before an election starts.",
    ),
    def(
        "controller.quorum.fetch.timeout.ms",
        Int,
        "2000",
        "Maximum time without a successful fetch from the leader before a voter becomes a candidate.",
    ),
    def(
        "broker.rack",
        Str,
        "",
        "The rack of this broker, for rack-aware replica placement.",
    ),
    def(
        "replica.selector.class",
        Str,
        "",
        "Which replica a consumer with a client.rack fetches from (KIP-392): org.apache.kafka.common.replica.RackAwareReplicaSelector, LeaderReplicaSelector or MostCaughtUpReplicaSelector; unset, the leader.",
    ),
    def(
        "broker.heartbeat.interval.ms",
        Int,
        "2000",
        "Time between broker heartbeats to the controller.",
    ),
    def(
        "broker.session.timeout.ms",
        Int,
        "9000",
        "Time a broker may go without heartbeating before it is fenced.",
    ),
    def(
        "inter.broker.listener.name",
        Str,
        "",
        "Listener brokers use to talk to each other; defaults to the one named after security.inter.broker.protocol.",
    ),
    def(
        "security.inter.broker.protocol",
        Str,
        "PLAINTEXT",
        "Security protocol brokers use between themselves when inter.broker.listener.name is not set.",
    ),
    def(
        "listener.security.protocol.map",
        Str,
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "Security protocol of each listener name.",
    ),
    // TLS (SSL and SASL_SSL listeners; see security/tls.rs). Each may be
    // set for one listener as listener.name.<lower-case name>.<config>.
    def(
        "ssl.keystore.type",
        Str,
        "PEM",
        "Format of the key store; Gregor reads PEM only (Kafka's default is JKS).",
    ),
    def(
        "ssl.keystore.location",
        Str,
        "",
        "PEM file holding the private key and the certificate chain.",
    ),
    def(
        "ssl.keystore.certificate.chain",
        Password,
        "",
        "The certificate chain in PEM, given inline instead of ssl.keystore.location.",
    ),
    def(
        "ssl.keystore.key",
        Password,
        "",
        "The private key in PEM (PKCS#8), given inline instead of ssl.keystore.location.",
    ),
    def(
        "ssl.keystore.password",
        Password,
        "",
        "Not used with PEM key stores (as in Kafka); setting it is an error.",
    ),
    def(
        "ssl.key.password",
        Password,
        "",
        "Password of an encrypted PKCS#8 private key (ENCRYPTED PRIVATE KEY, PBES2); set only with an encrypted key.",
    ),
    def(
        "ssl.truststore.type",
        Str,
        "PEM",
        "Format of the trust store; Gregor reads PEM only (Kafka's default is JKS).",
    ),
    def(
        "ssl.truststore.location",
        Str,
        "",
        "PEM file of the CA certificates that client (and peer broker) certificates are checked against.",
    ),
    def(
        "ssl.truststore.certificates",
        Password,
        "",
        "The trusted CA certificates in PEM, given inline instead of ssl.truststore.location.",
    ),
    def(
        "ssl.truststore.password",
        Password,
        "",
        "Not used with PEM trust stores (as in Kafka); setting it is an error.",
    ),
    def(
        "ssl.client.auth",
        Str,
        "none",
        "Client certificates: none, requested (checked when given) or required.",
    ),
    def(
        "ssl.enabled.protocols",
        List,
        "TLSv1.2,TLSv1.3",
        "TLS versions served.",
    ),
    def(
        "ssl.protocol",
        Str,
        "TLSv1.3",
        "The SSLContext protocol (TLS, TLSv1.2 or TLSv1.3); ssl.enabled.protocols decides what is served.",
    ),
    def(
        "ssl.cipher.suites",
        List,
        "",
        "Cipher suites by IANA name (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, ...); empty: all supported.",
    ),
    def(
        "ssl.endpoint.identification.algorithm",
        Str,
        "https",
        "https: brokers check a peer broker's certificate against its advertised host name; empty: they do not.",
    ),
    def(
        "ssl.principal.mapping.rules",
        Str,
        "DEFAULT",
        "Rules (RULE:pattern/replacement/[L|U], ..., DEFAULT) mapping a client certificate's subject to a user name.",
    ),
    def(
        "sasl.enabled.mechanisms",
        List,
        "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "SASL mechanisms SASL_PLAINTEXT/SASL_SSL listeners offer (Kafka's default, GSSAPI, is not implemented).",
    ),
    def(
        "connections.max.reauth.ms",
        Long,
        "0",
        "Lifetime of a SASL session (KIP-368); the client re-authenticates before it ends. 0: no expiry.",
    ),
    def(
        "connection.failed.authentication.delay.ms",
        Int,
        "100",
        "How long a connection stays open after a failed SASL authentication was answered, or a TLS handshake failed (slows password guessing).",
    ),
    def(
        "sasl.mechanism.inter.broker.protocol",
        Str,
        "GSSAPI",
        "SASL mechanism brokers use between themselves on a SASL inter-broker listener.",
    ),
    def(
        "sasl.mechanism.controller.protocol",
        Str,
        "GSSAPI",
        "SASL mechanism used to reach the controllers on a SASL controller listener.",
    ),
    def(
        "sasl.server.max.receive.size",
        Int,
        "524288",
        "Largest frame a SASL listener takes before authentication (and largest SASL token).",
    ),
    def(
        "sasl.bootstrap.scram",
        Str,
        "",
        "SCRAM users a new cluster starts with, ';'-separated, in kafka-storage --add-scram syntax.",
    ),
    def(
        "sasl.oauthbearer.jwks.endpoint.url",
        Str,
        "",
        "OAUTHBEARER: http:// or file:// URL of the JWKS whose keys sign the tokens.",
    ),
    def(
        "sasl.oauthbearer.jwks.endpoint.refresh.ms",
        Long,
        "3600000",
        "OAUTHBEARER: how often the JWKS is fetched again.",
    ),
    def(
        "sasl.oauthbearer.clock.skew.seconds",
        Int,
        "30",
        "OAUTHBEARER: clock difference allowed when checking exp, nbf and iat.",
    ),
    def(
        "sasl.oauthbearer.expected.issuer",
        Str,
        "",
        "OAUTHBEARER: the iss claim tokens must carry; empty: not checked.",
    ),
    def(
        "sasl.oauthbearer.expected.audience",
        List,
        "",
        "OAUTHBEARER: audiences of which a token's aud must name one; empty: not checked.",
    ),
    def(
        "sasl.oauthbearer.sub.claim.name",
        Str,
        "sub",
        "OAUTHBEARER: the claim naming the principal.",
    ),
    def(
        "sasl.oauthbearer.scope.claim.name",
        Str,
        "scope",
        "OAUTHBEARER: the claim holding the token's scope.",
    ),
    def(
        "gregor.sasl.oauthbearer.unsecured.enable",
        Boolean,
        "false",
        "DEVELOPMENT ONLY: OAUTHBEARER accepts unsigned (alg none) tokens.",
    ),
    def(
        "metadata.log.max.record.bytes.between.snapshots",
        Long,
        "20971520",
        "Bytes of metadata log applied since the last snapshot before the node snapshots its metadata image.",
    ),
    def(
        "metadata.log.max.snapshot.interval.ms",
        Long,
        "3600000",
        "Longest time between metadata snapshots while there are new metadata records; 0 turns it off.",
    ),
    def(
        "metadata.log.dir",
        Str,
        "",
        "Where the metadata log lives; defaults to the first log.dirs entry.",
    ),
    def(
        "listeners",
        List,
        "PLAINTEXT://127.0.0.1:9092",
        "NAME://host:port of every listener; all are bound.",
    ),
    def(
        "advertised.listeners",
        List,
        "",
        "Addresses given to clients; defaults to listeners. Controller listeners are never given to clients.",
    ),
    def(
        "log.dirs",
        List,
        "./gregor-data",
        "Where partition logs and metadata live.",
    ),
    def(
        "num.partitions",
        Int,
        "1",
        "Default partition count of new topics.",
    ),
    def(
        "default.replication.factor",
        Int,
        "1",
        "Default replication factor of new topics.",
    ),
    def(
        "replica.lag.time.max.ms",
        Long,
        "30000",
        "A follower that has not caught up with its leader for this long leaves the ISR.",
    ),
    def(
        "auto.create.topics.enable",
        Boolean,
        "true",
        "Create topics on first metadata request.",
    ),
    def(
        "log.segment.bytes",
        Int,
        "1073741824",
        "Maximum size of a segment file.",
    ),
    def(
        "log.roll.ms",
        Long,
        "",
        "Maximum age of a segment before it rolls; overrides log.roll.hours.",
    ),
    def(
        "log.roll.hours",
        Int,
        "168",
        "Maximum age of a segment before it rolls.",
    ),
    def(
        "log.retention.ms",
        Long,
        "",
        "How long to keep data; overrides minutes and hours. -1: forever.",
    ),
    def(
        "log.retention.minutes",
        Int,
        "",
        "How long to keep data; overrides hours.",
    ),
    def("log.retention.hours", Int, "168", "How long to keep data."),
    def(
        "log.retention.bytes",
        Long,
        "-1",
        "Maximum size of a partition before old segments are deleted.",
    ),
    def(
        "log.cleaner.enable",
        Boolean,
        "true",
        "Run the log cleaner (compaction of cleanup.policy=compact topics).",
    ),
    def("log.cleaner.threads", Int, "1", "Number of log cleaner threads."),
    def(
        "log.cleaner.backoff.ms",
        Long,
        "15000",
        "How long a cleaner sleeps when no log needs cleaning.",
    ),
    def(
        "log.cleaner.dedupe.buffer.size",
        Long,
        "134217728",
        "Memory for the key maps of all cleaner threads.",
    ),
    def(
        "log.cleaner.io.max.bytes.per.second",
        Str,
        "1.7976931348623157E308",
        "Average I/O rate the cleaner is throttled to.",
    ),
    def(
        "log.cleaner.io.buffer.size",
        Int,
        "524288",
        "Cleaner I/O buffer size (accepted; Gregor sizes its buffers itself).",
    ),
    def(
        "log.cleaner.io.buffer.load.factor",
        Str,
        "0.9",
        "Load factor of the cleaner's key map.",
    ),
    def(
        "log.cleaner.min.cleanable.ratio",
        Str,
        "0.5",
        "Default min.cleanable.dirty.ratio of topics.",
    ),
    def(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        "0",
        "Default min.compaction.lag.ms of topics.",
    ),
    def(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        "9223372036854775807",
        "Default max.compaction.lag.ms of topics.",
    ),
    def(
        "log.cleaner.delete.retention.ms",
        Long,
        "86400000",
        "Default delete.retention.ms of topics.",
    ),
    def(
        "log.retention.check.interval.ms",
        Long,
        "300000",
        "How often retention runs.",
    ),
    def(
        "log.index.interval.bytes",
        Int,
        "4096",
        "Bytes between offset index entries.",
    ),
    def(
        "log.index.size.max.bytes",
        Int,
        "10485760",
        "Maximum size of an offset index file.",
    ),
    def(
        "message.max.bytes",
        Int,
        "1048588",
        "Largest record batch accepted.",
    ),
    def(
        "socket.request.max.bytes",
        Int,
        "104857600",
        "Largest request accepted; larger ones close the connection.",
    ),
    def(
        "max.incremental.fetch.session.cache.slots",
        Int,
        "1000",
        "Most incremental fetch sessions (KIP-227) kept at once; 0 turns them off.",
    ),
    def(
        "log.flush.interval.messages",
        Long,
        "9223372036854775807",
        "fsync after this many messages.",
    ),
    def(
        "log.flush.interval.ms",
        Long,
        "",
        "fsync when data is this old; defaults to log.flush.scheduler.interval.ms.",
    ),
    def(
        "log.flush.scheduler.interval.ms",
        Long,
        "9223372036854775807",
        "How often to check for logs to flush.",
    ),
    def(
        "compression.type",
        Str,
        "producer",
        "Codec of stored batches: producer, uncompressed, gzip, snappy, lz4, zstd.",
    ),
    def(
        "log.message.timestamp.type",
        Str,
        "CreateTime",
        "CreateTime or LogAppendTime.",
    ),
    def(
        "log.cleanup.policy",
        List,
        "delete",
        "Default cleanup policy of topics.",
    ),
    def(
        "min.insync.replicas",
        Int,
        "1",
        "Default min.insync.replicas of topics.",
    ),
    def(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        "Default unclean.leader.election.enable of topics.",
    ),
    def(
        "unclean.leader.election.interval.ms",
        Long,
        "300000",
        "How often the active controller elects unclean leaders for leaderless partitions of topics that allow it.",
    ),
    def(
        "auto.leader.rebalance.enable",
        Boolean,
        "true",
        "Whether the active controller moves leadership back to preferred replicas.",
    ),
    def(
        "leader.imbalance.check.interval.seconds",
        Long,
        "300",
        "How often the active controller checks for partitions not led by their preferred replica.",
    ),
    def(
        "leader.imbalance.per.broker.percentage",
        Int,
        "10",
        "Accepted for compatibility; Kafka's KRaft controller (and Gregor) rebalances every imbalanced partition.",
    ),
    def(
        "group.initial.rebalance.delay.ms",
        Int,
        "3000",
        "How long a new group waits for more members before its first rebalance.",
    ),
    def(
        "group.min.session.timeout.ms",
        Int,
        "6000",
        "Smallest session timeout a consumer may ask for.",
    ),
    def(
        "group.max.session.timeout.ms",
        Int,
        "1800000",
        "Largest session timeout a consumer may ask for.",
    ),
    def(
        "offsets.topic.num.partitions",
        Int,
        "50",
        "Partitions of __consumer_offsets, created on first use.",
    ),
    def(
        "offsets.topic.replication.factor",
        Int,
        "3",
        "Replication factor of __consumer_offsets (1 in the embedded single-node mode). Creating it with fewer brokers fails: FindCoordinator answers COORDINATOR_NOT_AVAILABLE.",
    ),
    def(
        "offsets.commit.timeout.ms",
        Int,
        "5000",
        "How long a group coordinator write (an offset commit, a rebalance's group record) may wait to be committed on the replicas before the request fails.",
    ),
    def(
        "group.consumer.session.timeout.ms",
        Int,
        "45000",
        "How long a consumer-protocol (KIP-848) member may go without heartbeating before it is fenced.",
    ),
    def(
        "group.consumer.min.session.timeout.ms",
        Int,
        "45000",
        "Lower bound of group.consumer.session.timeout.ms.",
    ),
    def(
        "group.consumer.max.session.timeout.ms",
        Int,
        "60000",
        "Upper bound of group.consumer.session.timeout.ms.",
    ),
    def(
        "group.consumer.heartbeat.interval.ms",
        Int,
        "5000",
        "The heartbeat interval given to consumer-protocol members.",
    ),
    def(
        "group.consumer.min.heartbeat.interval.ms",
        Int,
        "5000",
        "Lower bound of group.consumer.heartbeat.interval.ms.",
    ),
    def(
        "group.consumer.max.heartbeat.interval.ms",
        Int,
        "15000",
        "Upper bound of group.consumer.heartbeat.interval.ms.",
    ),
    def(
        "group.consumer.max.size",
        Int,
        "2147483647",
        "Most members a consumer-protocol group may have.",
    ),
    def(
        "group.share.session.timeout.ms",
        Int,
        "45000",
        "How long a share-group (KIP-932) member may go without heartbeating before it is fenced.",
    ),
    def(
        "group.share.min.session.timeout.ms",
        Int,
        "45000",
        "Lower bound of group.share.session.timeout.ms.",
    ),
    def(
        "group.share.max.session.timeout.ms",
        Int,
        "60000",
        "Upper bound of group.share.session.timeout.ms.",
    ),
    def(
        "group.share.heartbeat.interval.ms",
        Int,
        "5000",
        "The heartbeat interval given to share-group members.",
    ),
    def(
        "group.share.min.heartbeat.interval.ms",
        Int,
        "5000",
        "Lower bound of group.share.heartbeat.interval.ms.",
    ),
    def(
        "group.share.max.heartbeat.interval.ms",
        Int,
        "15000",
        "Upper bound of group.share.heartbeat.interval.ms.",
    ),
    def(
        "group.share.max.size",
        Int,
        "200",
        "Most members a share group may have (1 to 1000).",
    ),
    def(
        "group.share.record.lock.duration.ms",
        Int,
        "30000",
        "How long a share-group consumer holds a delivered record before it becomes available again.",
    ),
    def(
        "group.share.min.record.lock.duration.ms",
        Int,
        "15000",
        "Lower bound of a group's share.record.lock.duration.ms.",
    ),
    def(
        "group.share.max.record.lock.duration.ms",
        Int,
        "60000",
        "Upper bound of a group's share.record.lock.duration.ms.",
    ),
    def(
        "group.share.delivery.count.limit",
        Int,
        "5",
        "Delivery attempts of a record to a share group before it is archived.",
    ),
    def(
        "group.share.min.delivery.count.limit",
        Int,
        "2",
        "Lower bound of a group's share.delivery.count.limit.",
    ),
    def(
        "group.share.max.delivery.count.limit",
        Int,
        "10",
        "Upper bound of a group's share.delivery.count.limit.",
    ),
    def(
        "group.share.partition.max.record.locks",
        Int,
        "2000",
        "Most records of a share-partition locked (in flight) at once.",
    ),
    def(
        "group.share.min.partition.max.record.locks",
        Int,
        "100",
        "Lower bound of a group's share.partition.max.record.locks.",
    ),
    def(
        "group.share.max.partition.max.record.locks",
        Int,
        "4000",
        "Upper bound of a group's share.partition.max.record.locks.",
    ),
    def(
        "group.share.max.share.sessions",
        Int,
        "2000",
        "Most share sessions per broker (at least group.share.max.size).",
    ),
    def(
        "group.streams.session.timeout.ms",
        Int,
        "45000",
        "How long a streams-group (KIP-1071) member may go without heartbeating before it is fenced.",
    ),
    def(
        "group.streams.min.session.timeout.ms",
        Int,
        "45000",
        "Lower bound of group.streams.session.timeout.ms.",
    ),
    def(
        "group.streams.max.session.timeout.ms",
        Int,
        "60000",
        "Upper bound of group.streams.session.timeout.ms.",
    ),
    def(
        "group.streams.heartbeat.interval.ms",
        Int,
        "5000",
        "The heartbeat interval given to streams-group members.",
    ),
    def(
        "group.streams.min.heartbeat.interval.ms",
        Int,
        "5000",
        "Lower bound of group.streams.heartbeat.interval.ms.",
    ),
    def(
        "group.streams.max.heartbeat.interval.ms",
        Int,
        "15000",
        "Upper bound of group.streams.heartbeat.interval.ms.",
    ),
    def(
        "group.streams.max.size",
        Int,
        "2147483647",
        "Most members a streams group may have.",
    ),
    def(
        "group.streams.num.standby.replicas",
        Int,
        "0",
        "Standby replicas of each stateful task of a streams group.",
    ),
    def(
        "group.streams.max.standby.replicas",
        Int,
        "2",
        "Upper bound of group.streams.num.standby.replicas.",
    ),
    def(
        "group.streams.topology.description.plugin.class",
        Str,
        "",
        "Where streams groups' topology descriptions (KIP-1331) are kept: empty for nowhere, or Kafka's org.apache.kafka.server.streams.InMemoryTopologyDescriptionPlugin (in memory).",
    ),
    def(
        "group.consumer.assignors",
        List,
        "uniform,range",
        "Server-side assignors members may ask for; the first is the default.",
    ),
    def(
        "group.consumer.migration.policy",
        Str,
        "bidirectional",
        "disabled, upgrade, downgrade or bidirectional; Gregor converts only empty groups between protocols.",
    ),
    def(
        "offsets.retention.minutes",
        Int,
        "10080",
        "How long committed offsets outlive an empty group (or, for a group that never joined, their commit).",
    ),
    def(
        "offsets.retention.check.interval.ms",
        Int,
        "600000",
        "How often expired committed offsets are removed.",
    ),
    def(
        "transaction.state.log.num.partitions",
        Int,
        "50",
        "Partitions of __transaction_state, created on first use.",
    ),
    def(
        "transaction.state.log.replication.factor",
        Int,
        "3",
        "Replication factor of __transaction_state (1 in the embedded single-node mode).",
    ),
    def(
        "transaction.state.log.min.isr",
        Int,
        "2",
        "min.insync.replicas of __transaction_state (1 in the embedded single-node mode).",
    ),
    def(
        "share.coordinator.state.topic.num.partitions",
        Int,
        "50",
        "Partitions of __share_group_state (share-partition delivery state), created on first use.",
    ),
    def(
        "share.coordinator.state.topic.replication.factor",
        Int,
        "3",
        "Replication factor of __share_group_state (1 in the embedded single-node mode).",
    ),
    def(
        "share.coordinator.state.topic.min.isr",
        Int,
        "2",
        "min.insync.replicas of __share_group_state (1 in the embedded single-node mode).",
    ),
    def(
        "share.coordinator.state.topic.segment.bytes",
        Int,
        "104857600",
        "segment.bytes of __share_group_state.",
    ),
    def(
        "share.coordinator.snapshot.update.records.per.snapshot",
        Int,
        "500",
        "ShareUpdate records a share-partition gets in __share_group_state before a full ShareSnapshot is written.",
    ),
    def(
        "share.coordinator.write.timeout.ms",
        Int,
        "5000",
        "How long a share state write waits to be replicated before the request fails.",
    ),
    def(
        "transaction.max.timeout.ms",
        Int,
        "900000",
        "Largest transaction.timeout.ms a transactional producer may ask for.",
    ),
    def(
        "transactional.id.expiration.ms",
        Int,
        "604800000",
        "How long an idle transactional id is kept before it expires.",
    ),
    def(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Int,
        "10000",
        "How often open transactions are checked against their timeout.",
    ),
    def(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Int,
        "3600000",
        "How often expired transactional ids are removed.",
    ),
    def(
        "producer.id.expiration.ms",
        Int,
        "86400000",
        "How long a partition keeps the state of an idle idempotent producer.",
    ),
    // Follower fetching (replica/fetcher.rs).
    def(
        "replica.fetch.wait.max.ms",
        Int,
        "500",
        "How long a follower's fetch may wait at the leader for data.",
    ),
    def(
        "replica.fetch.min.bytes",
        Int,
        "1",
        "Bytes a follower's fetch waits for at the leader.",
    ),
    def(
        "replica.fetch.max.bytes",
        Int,
        "1048576",
        "Bytes a follower fetches per partition (at least one batch).",
    ),
    def(
        "replica.fetch.response.max.bytes",
        Int,
        "10485760",
        "Bytes a follower's fetch answer may carry in all.",
    ),
    def(
        "replica.fetch.backoff.ms",
        Int,
        "1000",
        "How long a follower waits after a fetch error before fetching the partition again.",
    ),
    def(
        "replica.socket.timeout.ms",
        Int,
        "30000",
        "How long a follower waits for its leader's answer beyond the fetch wait.",
    ),
    def(
        "num.recovery.threads.per.data.dir",
        Int,
        "2",
        "Threads that open the partition logs at start-up (after an unclean stop, re-validating their unflushed segments).",
    ),
    def(
        "connections.max.idle.ms",
        Int,
        "600000",
        "A connection that sends nothing for this long, with no request of its own in progress, is closed; -1 never closes one.",
    ),
    def(
        "max.connections",
        Int,
        "2147483647",
        "Connections the broker holds at most on its client listeners (not counting the controller listeners, nor the inter-broker listener when there are others); a full listener accepts no more until one closes. Per listener: listener.name.<name>.max.connections.",
    ),
    def(
        "max.connections.per.ip",
        Int,
        "2147483647",
        "Connections at most from one address; one more is closed at once.",
    ),
    def(
        "max.connections.per.ip.overrides",
        Str,
        "",
        "Per-address exceptions to max.connections.per.ip: address:count,... (literal addresses).",
    ),
    def(
        "max.connection.creation.rate",
        Int,
        "2147483647",
        "New connections per second the broker takes on its client listeners; one over the rate is served after the throttle time. Per listener: listener.name.<name>.max.connection.creation.rate.",
    ),
    def(
        "quota.window.num",
        Int,
        "11",
        "Samples the client quotas measure their rates over.",
    ),
    def(
        "quota.window.size.seconds",
        Int,
        "1",
        "Length of each client quota sample.",
    ),
    def(
        "controller.quota.window.num",
        Int,
        "11",
        "Samples of the controller mutation quota: its token bucket holds this many windows of the rate.",
    ),
    def(
        "controller.quota.window.size.seconds",
        Int,
        "1",
        "Length of each controller mutation quota sample.",
    ),
    def(
        "replication.quota.window.num",
        Int,
        "11",
        "Samples the replication throttles measure their byte rate over.",
    ),
    def(
        "replication.quota.window.size.seconds",
        Int,
        "1",
        "Length of each replication throttle sample.",
    ),
    def(
        "replica.high.watermark.checkpoint.interval.ms",
        Long,
        "5000",
        "How often the high watermarks are written to replication-offset-checkpoint.",
    ),
    def(
        "authorizer.class.name",
        Str,
        "",
        "The authorizer: org.apache.kafka.metadata.authorizer.StandardAuthorizer (or gregor.StandardAuthorizer) turns ACL checks on; empty, every request is allowed and the ACL APIs answer SECURITY_DISABLED.",
    ),
    def(
        "super.users",
        Str,
        "",
        "Semicolon-separated principals (User:admin;User:broker) allowed everything whatever the ACLs.",
    ),
    def(
        "allow.everyone.if.no.acl.found",
        Boolean,
        "false",
        "Whether a resource with no ACL at all is open to everyone.",
    ),
    def(
        "gregor.authorizer.audit.allow",
        Boolean,
        "false",
        "Also record allowed decisions in the __gregor_authz_audit topic (denials always are).",
    ),
    def(
        "gregor.admin.listener",
        Str,
        "",
        "host:port of the admin HTTP endpoint (compacted-topic key lookups, compaction status); empty: off. No authentication: bind it to loopback or a management network.",
    ),
    def(
        "gregor.console.read.only",
        Boolean,
        "false",
        "The web console (under /console on the admin endpoint) only shows: every mutating action is hidden and refused.",
    ),
    def(
        "gregor.client.telemetry.metrics",
        Str,
        "",
        "Comma-separated metric name prefixes every client is asked to push (KIP-714; * for all), shown on the admin endpoint's /metrics; empty, or without gregor.admin.listener: client telemetry is off.",
    ),
    def(
        "gregor.client.telemetry.interval.ms",
        Int,
        "300000",
        "How often clients push their telemetry (100 to 3600000).",
    ),
    def(
        "telemetry.max.bytes",
        Int,
        "1048576",
        "The largest client telemetry payload accepted, compressed or decompressed.",
    ),
    def(
        "gregor.client.telemetry.max.clients",
        Int,
        "1000",
        "Client instances whose pushed metrics are kept; past it, the one silent longest is dropped.",
    ),
    def(
        "gregor.client.telemetry.max.series.per.client",
        Int,
        "1000",
        "Data points kept per client instance; the rest of a push is dropped.",
    ),
    def(
        "gregor.admin.key.index.bytes",
        Long,
        "67108864",
        "Memory for the key indexes of the admin endpoint's key lookups (24 bytes per key, all partitions together).",
    ),
    def(
        "queued.max.request.bytes",
        Long,
        "-1",
        "Bytes of requests read and not yet answered, all connections together; while none are left, connections wait before reading a request. -1: no bound. At least socket.request.max.bytes.",
    ),
    def(
        "gregor.log.open.files.max",
        Int,
        "0",
        "Segment files kept open at once, all partitions together; past it the least recently used are closed and reopened when next used. 0: half the process's open-file limit (which start-up raises to the hard limit).",
    ),
    def(
        "gregor.authorizer.audit.enable",
        Boolean,
        "true",
        "Write authorization decisions to the __gregor_authz_audit topic when an authorizer is configured.",
    ),
];

/// Settings Kafka operators commonly carry in server.properties that have no
/// effect in Gregor (thread pools, buffers, ZooKeeper-era or single-node
/// no-ops). Accepted so existing files work; listed in docs/configuration.md.
pub const ACCEPTED_WITHOUT_EFFECT: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    // No queue between network and handler threads (docs/configuration.md).
    "queued.max.requests",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    // Gregor's JWKS fetch has its own fixed retry (see security/jwks.rs).
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
];

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown configuration '{0}'")]
    Unknown(String),
    #[error("invalid value '{value}' for configuration '{key}': {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("malformed configuration line {line}: '{text}' (expected key=value)")]
    Malformed { line: usize, text: String },
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// The items of a comma-separated list value, trimmed, empty ones dropped.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The validated broker configuration.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Values explicitly set (file or flags), by Kafka name.
    explicit: BTreeMap<String, String>,
    pub node_id: i32,
    /// `broker.rack`, registered with the controller.
    pub rack: Option<String>,
    /// `replica.selector.class` (KIP-392): `None` lets only leaders serve
    /// consumers their records.
    pub replica_selector: Option<ReplicaSelector>,
    /// Every listener, bound and advertised (controller listeners flagged).
    pub listeners: ListenerSettings,
    /// The inter-broker listener as bound; this node's broker endpoint.
    pub listener: Listener,
    /// The inter-broker listener as advertised: what this broker registers
    /// and hands to clients.
    pub advertised: Listener,
    pub log_dir: PathBuf,
    /// Every `log.dirs` entry (Gregor stores data in the first) plus
    /// `metadata.log.dir`: all must carry one cluster's meta.properties.
    pub formatted_dirs: Vec<PathBuf>,
    pub quorum: QuorumSettings,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    /// `replica.lag.time.max.ms`: how long a follower may lag in the ISR.
    pub replica_lag_time_max_ms: i64,
    pub auto_create_topics: bool,
    pub retention_check_interval_ms: u64,
    pub flush_scheduler_interval_ms: u64,
    pub message_max_bytes: usize,
    pub socket_request_max_bytes: usize,
    /// `num.recovery.threads.per.data.dir`: logs opened at once at start-up.
    pub recovery_threads: usize,
    /// `connections.max.idle.ms`; `None` (-1) keeps idle connections open.
    pub connections_max_idle: Option<std::time::Duration>,
    pub fetch_session_cache_slots: usize,
    /// `queued.max.request.bytes`; `None` when not bounded (0 or negative).
    pub queued_max_request_bytes: Option<i64>,
    /// `gregor.log.open.files.max`; 0 leaves the choice to the open-file limit.
    pub max_open_segment_files: usize,
    pub offsets_topic_partitions: i32,
    /// `offsets.topic.replication.factor` (1 by default in the embedded
    /// single-node mode, as Kafka's config/server.properties sets it).
    pub offsets_topic_replication_factor: i16,
    /// `offsets.commit.timeout.ms`.
    pub offsets_commit_timeout_ms: u64,
    pub group_initial_rebalance_delay_ms: i32,
    pub offsets_retention_ms: i64,
    pub offsets_retention_check_interval_ms: u64,
    pub group_min_session_timeout_ms: i32,
    pub group_max_session_timeout_ms: i32,
    /// `group.consumer.*` (KIP-848 consumer groups).
    pub group_consumer: gregor_coordinator::group::consumer::ConsumerGroupConfig,
    pub group_streams: gregor_coordinator::group::streams::StreamsGroupConfig,
    /// `group.share.*` (KIP-932 share groups).
    pub group_share: gregor_coordinator::share::ShareGroupConfig,
    pub txn: TxnSettings,
    /// `share.coordinator.*`: the share coordinator's `__share_group_state`.
    pub share_coordinator: ShareCoordinatorSettings,
    /// `replica.fetch.*` and the high-watermark checkpoint interval.
    pub fetcher: FetcherSettings,
    /// `authorizer.class.name`, `super.users` and the audit switches.
    pub authorizer: authorizer::AuthorizerConfig,
}

/// How followers fetch from their leaders (Kafka's `replica.*` settings).
#[derive(Debug, Clone, Default)]
pub struct FetcherSettings {
    pub wait_max_ms: i32,
    pub min_bytes: i32,
    pub max_bytes: i32,
    pub response_max_bytes: i32,
    pub backoff_ms: u64,
    pub socket_timeout_ms: u64,
    pub high_watermark_checkpoint_interval_ms: u64,
}

/// The `share.coordinator.*` settings (KIP-932's share coordinator).
#[derive(Debug, Clone)]
pub struct ShareCoordinatorSettings {
    /// `share.coordinator.state.topic.num.partitions`.
    pub partitions: i32,
    /// `share.coordinator.state.topic.replication.factor`.
    pub replication_factor: i16,
    /// `share.coordinator.state.topic.min.isr`.
    pub min_isr: i32,
    /// `share.coordinator.state.topic.segment.bytes`.
    pub segment_bytes: i32,
    /// `share.coordinator.snapshot.update.records.per.snapshot`.
    pub updates_per_snapshot: i32,
    /// `share.coordinator.write.timeout.ms`.
    pub write_timeout_ms: u64,
}

impl Default for ShareCoordinatorSettings {
    fn default() -> Self {
        ShareCoordinatorSettings {
            partitions: 50,
            replication_factor: 1,
            min_isr: 1,
            segment_bytes: 104_857_600,
            updates_per_snapshot: 500,
            write_timeout_ms: 5_000,
        }
    }
}

/// The `transaction.*` and producer-expiry settings.
#[derive(Debug, Clone, Default)]
pub struct TxnSettings {
    pub state_log_partitions: i32,
    /// `transaction.state.log.replication.factor`.
    pub state_log_replication_factor: i16,
    /// `transaction.state.log.min.isr`: the topic's `min.insync.replicas`.
    pub state_log_min_isr: i32,
    pub max_timeout_ms: i32,
    pub id_expiration_ms: i64,
    pub abort_check_interval_ms: u64,
    pub remove_expired_interval_ms: u64,
    pub producer_id_expiration_ms: i64,
}

impl BrokerConfig {
    /// Builds the configuration from explicit settings; everything else takes
    /// its default.
    pub fn from_settings(settings: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        for (key, value) in &settings {
            match find(key).or_else(|| listener_override(key).map(|(_, def)| def)) {
                Some(def) => check_type(def, value)?,
                None if ACCEPTED_WITHOUT_EFFECT.contains(&key.as_str()) => {}
                None if sasl::is_listener_setting(key) => {}
                None => return Err(ConfigError::Unknown(key.clone())),
            }
        }
        let placeholder = Listener {
            name: String::new(),
            host: String::new(),
            port: 0,
            protocol: SecurityProtocol::Plaintext,
            is_controller: false,
        };
        let mut config = BrokerConfig {
            explicit: settings,
            node_id: 0,
            rack: None,
            replica_selector: None,
            listeners: ListenerSettings::default(),
            listener: placeholder.clone(),
            advertised: placeholder,
            log_dir: PathBuf::new(),
            formatted_dirs: Vec::new(),
            quorum: QuorumSettings::default(),
            num_partitions: 0,
            default_replication_factor: 0,
            replica_lag_time_max_ms: 0,
            auto_create_topics: false,
            retention_check_interval_ms: 0,
            flush_scheduler_interval_ms: 0,
            message_max_bytes: 0,
            socket_request_max_bytes: 0,
            recovery_threads: 0,
            connections_max_idle: None,
            fetch_session_cache_slots: 0,
            max_open_segment_files: 0,
            queued_max_request_bytes: None,
            offsets_topic_partitions: 0,
            offsets_topic_replication_factor: 0,
            offsets_commit_timeout_ms: 0,
            group_initial_rebalance_delay_ms: 0,
            offsets_retention_ms: 0,
            offsets_retention_check_interval_ms: 0,
            group_min_session_timeout_ms: 0,
            group_max_session_timeout_ms: 0,
            group_consumer: Default::default(),
            group_streams: Default::default(),
            group_share: Default::default(),
            txn: TxnSettings::default(),
            share_coordinator: ShareCoordinatorSettings::default(),
            fetcher: FetcherSettings::default(),
            authorizer: Default::default(),
        };
        config.node_id = config.int("node.id")? as i32;
        let rack = config.value("broker.rack").trim().to_string();
        config.rack = (!rack.is_empty()).then_some(rack);
        let selector = config.value("replica.selector.class");
        config.replica_selector = ReplicaSelector::from_class(selector)
            .map_err(|reason| invalid("replica.selector.class", selector, reason))?;
        let (quorum, listeners) = quorum::settings(&config)?;
        quorum::check_supported(&config, &quorum)?;
        // A node with the broker role always has an advertised inter-broker
        // listener (quorum::settings checked it); a controller-only node's
        // own endpoint is its first controller listener.
        let inter_broker = |all: &[Listener]| {
            all.iter()
                .find(|l| l.name == listeners.inter_broker)
                .cloned()
        };
        let own = if quorum.broker {
            (
                inter_broker(&listeners.bound),
                inter_broker(&listeners.advertised),
            )
        } else {
            (
                listeners.bound.iter().find(|l| l.is_controller).cloned(),
                listeners.advertised_controllers.first().cloned(),
            )
        };
        let (Some(listener), Some(advertised)) = own else {
            return Err(invalid(
                listeners::INTER_BROKER,
                &listeners.inter_broker,
                "is not a listener of this node",
            ));
        };
        config.listener = listener;
        config.advertised = advertised;
        config.quorum = quorum;
        config.listeners = listeners;
        let log_dirs = config.value("log.dirs").to_string();
        config.formatted_dirs = log_dirs
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect();
        config.log_dir = config
            .formatted_dirs
            .first()
            .cloned()
            .ok_or_else(|| invalid("log.dirs", &log_dirs, "no directory given"))?;
        let metadata_dir = config.value("metadata.log.dir").trim().to_string();
        if !metadata_dir.is_empty() {
            let metadata_dir = PathBuf::from(metadata_dir);
            if !config.formatted_dirs.contains(&metadata_dir) {
                config.formatted_dirs.push(metadata_dir);
            }
        }
        config.num_partitions = config.positive("num.partitions")? as i32;
        config.default_replication_factor = config.positive("default.replication.factor")? as i16;
        config.replica_lag_time_max_ms = config.positive("replica.lag.time.max.ms")?;
        config.auto_create_topics = config.value("auto.create.topics.enable") == "true";
        config.retention_check_interval_ms =
            config.positive("log.retention.check.interval.ms")? as u64;
        config.flush_scheduler_interval_ms =
            config.positive("log.flush.scheduler.interval.ms")? as u64;
        config.message_max_bytes = config.positive("message.max.bytes")? as usize;
        config.socket_request_max_bytes = config.positive("socket.request.max.bytes")? as usize;
        let queued = "queued.max.request.bytes";
        let queued_bytes = config.int(queued)?;
        if queued_bytes > 0 && queued_bytes < config.socket_request_max_bytes as i64 {
            // Kafka's own check: one request must fit.
            return Err(invalid(
                queued,
                config.value(queued),
                "queued.max.request.bytes must be larger or equal to socket.request.max.bytes",
            ));
        }
        config.queued_max_request_bytes = (queued_bytes > 0).then_some(queued_bytes);
        config.recovery_threads = config.positive("num.recovery.threads.per.data.dir")? as usize;
        // Kafka's Selector keeps idle connections forever when this is negative.
        let idle_ms = config.int("connections.max.idle.ms")?;
        config.connections_max_idle = u64::try_from(idle_ms)
            .ok()
            .map(std::time::Duration::from_millis);
        let slots = "max.incremental.fetch.session.cache.slots";
        config.fetch_session_cache_slots = usize::try_from(config.int(slots)?)
            .map_err(|_| invalid(slots, config.value(slots), "must be at least 0"))?;
        let open_files = "gregor.log.open.files.max";
        config.max_open_segment_files = usize::try_from(config.int(open_files)?)
            .map_err(|_| invalid(open_files, config.value(open_files), "must be at least 0"))?;
        config.positive("log.segment.bytes")?;
        config.offsets_topic_partitions = config.positive("offsets.topic.num.partitions")? as i32;
        config.offsets_topic_replication_factor =
            config.internal_topic_setting("offsets.topic.replication.factor")? as i16;
        config.offsets_commit_timeout_ms = config.positive("offsets.commit.timeout.ms")? as u64;
        config.group_initial_rebalance_delay_ms =
            config.int("group.initial.rebalance.delay.ms")?.max(0) as i32;
        config.offsets_retention_ms = config
            .positive("offsets.retention.minutes")?
            .saturating_mul(60_000);
        config.offsets_retention_check_interval_ms =
            config.positive("offsets.retention.check.interval.ms")? as u64;
        config.group_min_session_timeout_ms =
            config.positive("group.min.session.timeout.ms")? as i32;
        config.group_max_session_timeout_ms =
            config.positive("group.max.session.timeout.ms")? as i32;
        config.group_consumer = consumer_groups::settings(&config)?;
        config.group_streams = streams_groups::settings(&config)?;
        config.group_share = share_groups::settings(&config)?;
        config.txn = TxnSettings {
            state_log_partitions: config.positive("transaction.state.log.num.partitions")? as i32,
            state_log_replication_factor: config
                .internal_topic_setting("transaction.state.log.replication.factor")?
                as i16,
            state_log_min_isr: config.internal_topic_setting("transaction.state.log.min.isr")?
                as i32,
            max_timeout_ms: config.positive("transaction.max.timeout.ms")? as i32,
            id_expiration_ms: config.positive("transactional.id.expiration.ms")?,
            abort_check_interval_ms: config
                .positive("transaction.abort.timed.out.transaction.cleanup.interval.ms")?
                as u64,
            remove_expired_interval_ms: config
                .positive("transaction.remove.expired.transaction.cleanup.interval.ms")?
                as u64,
            producer_id_expiration_ms: config.positive("producer.id.expiration.ms")?,
        };
        config.share_coordinator = ShareCoordinatorSettings {
            partitions: config.positive("share.coordinator.state.topic.num.partitions")? as i32,
            replication_factor: config
                .internal_topic_setting("share.coordinator.state.topic.replication.factor")?
                as i16,
            min_isr: config.internal_topic_setting("share.coordinator.state.topic.min.isr")? as i32,
            segment_bytes: config.positive("share.coordinator.state.topic.segment.bytes")? as i32,
            updates_per_snapshot: config
                .int("share.coordinator.snapshot.update.records.per.snapshot")?
                .clamp(0, i64::from(i32::MAX)) as i32,
            write_timeout_ms: config.positive("share.coordinator.write.timeout.ms")? as u64,
        };
        config.leadership()?;
        config.authorizer = authorizer::settings(&config)?;
        config.fetcher = FetcherSettings {
            wait_max_ms: config
                .int("replica.fetch.wait.max.ms")?
                .clamp(0, i64::from(i32::MAX)) as i32,
            min_bytes: config
                .int("replica.fetch.min.bytes")?
                .clamp(0, i64::from(i32::MAX)) as i32,
            max_bytes: config
                .positive("replica.fetch.max.bytes")?
                .min(i64::from(i32::MAX)) as i32,
            response_max_bytes: config
                .positive("replica.fetch.response.max.bytes")?
                .min(i64::from(i32::MAX)) as i32,
            backoff_ms: config.int("replica.fetch.backoff.ms")?.max(0) as u64,
            socket_timeout_ms: config.positive("replica.socket.timeout.ms")? as u64,
            high_watermark_checkpoint_interval_ms: config
                .positive("replica.high.watermark.checkpoint.interval.ms")?
                as u64,
        };
        let compression = config.value("compression.type").to_string();
        gregor_metadata::topic_config::validate("compression.type", &compression)
            .map_err(|reason| invalid("compression.type", &compression, reason))?;
        let ts = config.value("log.message.timestamp.type").to_string();
        if ts != "CreateTime" && ts != "LogAppendTime" {
            return Err(invalid(
                "log.message.timestamp.type",
                &ts,
                "expected CreateTime or LogAppendTime",
            ));
        }
        sasl::check(&config)?;
        Ok(config)
    }

    /// Completes the advertised endpoints once every listener is bound
    /// (see [`ListenerSettings::resolve`]).
    pub fn resolve_listeners(&mut self, bound: &[(String, std::net::SocketAddr)], hostname: &str) {
        self.listeners.resolve(bound, hostname);
        let own = if self.quorum.broker {
            &self.listeners.inter_broker
        } else {
            &self.listener.name
        };
        if let Some(advertised) = self
            .listeners
            .advertised
            .iter()
            .chain(self.listeners.advertised_controllers.iter())
            .find(|l| &l.name == own)
        {
            self.advertised = advertised.clone();
        }
    }

    /// This node's advertised endpoint on the listener named `name`, as a
    /// client connected there must be told (Kafka answers with the
    /// connection's listener); the inter-broker one when that listener is
    /// not advertised.
    pub fn advertised_on(&self, name: &str) -> &Listener {
        self.listeners
            .advertised
            .iter()
            .find(|l| l.name == name)
            .unwrap_or(&self.advertised)
    }

    /// The effective value of a broker config (explicit or default).
    pub fn value(&self, key: &str) -> &str {
        if let Some(v) = self.explicit.get(key) {
            return v;
        }
        find(key).map(|d| d.default).unwrap_or("")
    }

    /// The value of `key` for one listener: Kafka's per-listener override
    /// `listener.name.<lower-case listener>.<key>` when set, else `key`.
    /// Returns the name the value came from too, for error messages.
    pub fn listener_value(&self, listener: &str, key: &str) -> (String, &str) {
        let prefixed = listener_key(listener, key);
        if let Some(v) = self.explicit.get(&prefixed) {
            return (prefixed, v);
        }
        (key.to_string(), self.value(key))
    }

    /// This configuration with some settings replaced (dynamic broker
    /// configs from the metadata log over the static ones).
    pub fn with_overrides<'a>(
        &self,
        overrides: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> BrokerConfig {
        let mut config = self.clone();
        for (key, value) in overrides {
            config.explicit.insert(key.clone(), value.clone());
        }
        config
    }

    /// The per-listener overrides set (`listener.name.<l>.ssl.*`), with the
    /// definition of the setting each overrides.
    pub fn listener_overrides(&self) -> Vec<(&String, &String, &'static BrokerConfigDef)> {
        self.explicit
            .iter()
            .filter_map(|(k, v)| listener_override(k).map(|(_, def)| (k, v, def)))
            .collect()
    }

    /// True when the operator set this key.
    pub fn is_explicit(&self, key: &str) -> bool {
        self.explicit.contains_key(key)
    }

    /// The broker-level default for a topic config, derived from its broker
    /// synonym when the operator set one (e.g. `retention.ms` from
    /// `log.retention.hours`). `None` when the topic default applies.
    pub fn topic_default(&self, topic_config: &str) -> Option<String> {
        topic_default_in(&self.explicit, topic_config)
    }

    /// Every known broker config with its effective value and whether it
    /// was set explicitly (DescribeConfigs for the broker resource).
    pub fn describe(&self) -> Vec<(&'static BrokerConfigDef, String, bool)> {
        BROKER_CONFIGS
            .iter()
            .map(|d| (d, self.value(d.name).to_string(), self.is_explicit(d.name)))
            .collect()
    }

    /// The controller's leadership timers and defaults.
    pub fn leadership(&self) -> Result<crate::controller::LeadershipSettings, ConfigError> {
        let percentage = "leader.imbalance.per.broker.percentage";
        if self.int(percentage)? < 0 {
            return Err(invalid(
                percentage,
                self.value(percentage),
                "must be at least 0",
            ));
        }
        let seconds = self.positive("leader.imbalance.check.interval.seconds")?;
        let unclean_ms = self.positive("unclean.leader.election.interval.ms")?;
        Ok(crate::controller::LeadershipSettings {
            auto_rebalance: self.value("auto.leader.rebalance.enable") == "true",
            rebalance_interval: std::time::Duration::from_secs(seconds as u64),
            unclean_default: self.value("unclean.leader.election.enable") == "true",
            unclean_interval: std::time::Duration::from_millis(unclean_ms as u64),
        })
    }

    fn int(&self, key: &str) -> Result<i64, ConfigError> {
        let value = self.value(key);
        value
            .parse::<i64>()
            .map_err(|_| invalid(key, value, "not a number"))
    }

    /// An internal topic's replication setting: Kafka's default, except in
    /// the embedded single-node mode (no quorum configured), where a single
    /// broker could never meet it and the default is 1 (as Kafka's own
    /// config/server.properties sets them).
    fn internal_topic_setting(&self, key: &str) -> Result<i64, ConfigError> {
        let embedded = self.quorum.voters.is_empty() && self.quorum.bootstrap_servers.is_empty();
        if embedded && !self.is_explicit(key) {
            return Ok(1);
        }
        let n = self.positive(key)?;
        if n > i64::from(i16::MAX) {
            return Err(invalid(key, self.value(key), "must be at most 32767"));
        }
        Ok(n)
    }

    fn positive(&self, key: &str) -> Result<i64, ConfigError> {
        let n = self.int(key)?;
        if n <= 0 {
            return Err(invalid(key, self.value(key), "must be positive"));
        }
        Ok(n)
    }
}

/// The default for a topic config that a set of broker settings (static,
/// or dynamic from the metadata log) implies through its broker synonym.
pub fn topic_default_in(settings: &BTreeMap<String, String>, topic_config: &str) -> Option<String> {
    let from_ms = |ms: i64| Some(ms.to_string());
    match topic_config {
        "retention.ms" => {
            if let Some(v) = settings.get("log.retention.ms") {
                return Some(v.clone());
            }
            if let Some(v) = settings.get("log.retention.minutes") {
                return v
                    .parse::<i64>()
                    .ok()
                    .and_then(|m| from_ms(m.saturating_mul(60_000)));
            }
            let hours = settings.get("log.retention.hours")?;
            hours
                .parse::<i64>()
                .ok()
                .and_then(|h| from_ms(h.saturating_mul(3_600_000)))
        }
        "segment.ms" => {
            if let Some(v) = settings.get("log.roll.ms") {
                return Some(v.clone());
            }
            let hours = settings.get("log.roll.hours")?;
            hours
                .parse::<i64>()
                .ok()
                .and_then(|h| from_ms(h.saturating_mul(3_600_000)))
        }
        "flush.ms" => settings.get("log.flush.interval.ms").cloned(),
        other => {
            let synonym = gregor_metadata::topic_config::find(other)?.broker_synonym?;
            settings.get(synonym).cloned()
        }
    }
}

/// `listener.name.<lower-case listener>.<key>`.
pub fn listener_key(listener: &str, key: &str) -> String {
    format!("listener.name.{}.{key}", listener.to_ascii_lowercase())
}

/// Splits a per-listener override `listener.name.<listener>.<config>` into
/// the listener name and the config it overrides; only the settings Kafka
/// lets a listener override that Gregor knows (`ssl.*` and the listener's
/// connection limits).
pub fn listener_override(key: &str) -> Option<(&str, &'static BrokerConfigDef)> {
    let rest = key.strip_prefix("listener.name.")?;
    let (listener, config) = rest.split_once('.')?;
    let def = find(config).filter(|d| {
        d.name.starts_with("ssl.")
            || d.name == "max.connections"
            || d.name == "max.connection.creation.rate"
    })?;
    (!listener.is_empty()).then_some((listener, def))
}

pub fn find(key: &str) -> Option<&'static BrokerConfigDef> {
    BROKER_CONFIGS.iter().find(|d| d.name == key)
}

fn check_type(def: &BrokerConfigDef, value: &str) -> Result<(), ConfigError> {
    let ok = match def.kind {
        Boolean => value == "true" || value == "false",
        Int => value.parse::<i32>().is_ok(),
        Long => value.parse::<i64>().is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        let expected = match def.kind {
            Boolean => "expected true or false",
            Int => "expected a 32-bit integer",
            _ => "expected a 64-bit integer",
        };
        Err(invalid(def.name, value, expected))
    }
}

/// Parses a Kafka `.properties` file: `key=value` or `key: value` lines,
/// `#`/`!` comments, blank lines. (Line continuations and escapes, rare in
/// server.properties, are not supported and are reported as malformed.)
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut settings = BTreeMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let malformed = || ConfigError::Malformed {
            line: index + 1,
            text: raw.to_string(),
        };
        if line.ends_with('\\') {
            return Err(malformed());
        }
        let split = line.find(['=', ':']).ok_or_else(malformed)?;
        let key = line[..split].trim();
        let value = line[split + 1..].trim();
        if key.is_empty() {
            return Err(malformed());
        }
        settings.insert(key.to_string(), value.to_string());
    }
    Ok(settings)
}

/// Parses one `--set key=value` flag.
pub fn parse_assignment(text: &str) -> Result<(String, String), ConfigError> {
    let (key, value) = text.split_once('=').ok_or_else(|| ConfigError::Malformed {
        line: 0,
        text: text.to_string(),
    })?;
    Ok((key.trim().to_string(), value.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_make_a_single_node_broker_on_9092() {
        let config = BrokerConfig::from_settings(BTreeMap::new()).unwrap();
        assert_eq!(config.listener.bind_address(), "127.0.0.1:9092");
        assert_eq!(config.advertised, config.listener);
        assert_eq!(config.log_dir, PathBuf::from("./gregor-data"));
        assert!(config.auto_create_topics);
        assert_eq!(config.message_max_bytes, 1048588);
    }

    #[test]
    fn internal_topics_replicate_as_kafka_except_in_the_embedded_mode() {
        let embedded = BrokerConfig::from_settings(BTreeMap::new()).unwrap();
        let replication = |c: &BrokerConfig| {
            (
                c.offsets_topic_replication_factor,
                c.txn.state_log_replication_factor,
                c.txn.state_log_min_isr,
            )
        };
        assert_eq!(replication(&embedded), (1, 1, 1));
        assert_eq!(embedded.offsets_commit_timeout_ms, 5000);
        let cluster = [
            ("process.roles", "broker,controller"),
            ("node.id", "1"),
            ("controller.quorum.voters", "1@127.0.0.1:9093"),
            (
                "listeners",
                "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
            ("inter.broker.listener.name", "PLAINTEXT"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            ),
        ];
        let kafka = BrokerConfig::from_settings(settings(&cluster)).unwrap();
        assert_eq!(replication(&kafka), (3, 3, 2));
        let mut set = cluster.to_vec();
        set.push(("offsets.topic.replication.factor", "2"));
        set.push(("transaction.state.log.min.isr", "1"));
        let chosen = BrokerConfig::from_settings(settings(&set)).unwrap();
        assert_eq!(replication(&chosen), (2, 3, 1));
        // Set explicitly, the embedded mode takes the value too.
        let explicit = BrokerConfig::from_settings(settings(&[(
            "transaction.state.log.replication.factor",
            "3",
        )]))
        .unwrap();
        assert_eq!(replication(&explicit), (1, 3, 1));
        let err =
            BrokerConfig::from_settings(settings(&[("offsets.topic.replication.factor", "0")]))
                .unwrap_err();
        assert!(err.to_string().contains("offsets.topic.replication.factor"));
    }

    #[test]
    fn unknown_and_malformed_settings_name_the_key() {
        let err =
            BrokerConfig::from_settings(settings(&[("log.retention.hourz", "1")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown configuration 'log.retention.hourz'"
        );
        let err = BrokerConfig::from_settings(settings(&[("num.partitions", "many")])).unwrap_err();
        assert!(err.to_string().contains("'num.partitions'"), "{err}");
        let err =
            BrokerConfig::from_settings(settings(&[("listeners", "127.0.0.1:9092")])).unwrap_err();
        assert!(err.to_string().contains("'listeners'"), "{err}");
        let err = BrokerConfig::from_settings(settings(&[("auto.create.topics.enable", "yes")]))
            .unwrap_err();
        assert!(
            err.to_string().contains("auto.create.topics.enable"),
            "{err}"
        );
    }

    #[test]
    fn queued_request_bytes_must_hold_one_request_as_in_kafka() {
        let config = BrokerConfig::from_settings(settings(&[])).unwrap();
        assert_eq!(config.queued_max_request_bytes, None);
        let config = BrokerConfig::from_settings(settings(&[
            ("socket.request.max.bytes", "1048576"),
            ("queued.max.request.bytes", "1048576"),
        ]))
        .unwrap();
        assert_eq!(config.queued_max_request_bytes, Some(1_048_576));
        let err = BrokerConfig::from_settings(settings(&[("queued.max.request.bytes", "1048576")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "queued.max.request.bytes must be larger or equal to socket.request.max.bytes"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_open_segment_file_budget_is_read_and_checked() {
        let config = BrokerConfig::from_settings(settings(&[])).unwrap();
        assert_eq!(config.max_open_segment_files, 0);
        let config =
            BrokerConfig::from_settings(settings(&[("gregor.log.open.files.max", "5000")]))
                .unwrap();
        assert_eq!(config.max_open_segment_files, 5000);
        for bad in ["-1", "many"] {
            let err = BrokerConfig::from_settings(settings(&[("gregor.log.open.files.max", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("gregor.log.open.files.max"), "{err}");
        }
    }

    #[test]
    fn connection_and_recovery_settings_are_read_and_checked() {
        let config = BrokerConfig::from_settings(settings(&[])).unwrap();
        assert_eq!(config.recovery_threads, 2);
        assert_eq!(
            config.connections_max_idle,
            Some(std::time::Duration::from_secs(600))
        );
        let config = BrokerConfig::from_settings(settings(&[
            ("connections.max.idle.ms", "-1"),
            ("num.recovery.threads.per.data.dir", "4"),
            // Kafka's request-queue bounds: accepted, no queue to bound.
            ("queued.max.requests", "10"),
        ]))
        .unwrap();
        assert_eq!(config.connections_max_idle, None);
        assert_eq!(config.recovery_threads, 4);
        let err =
            BrokerConfig::from_settings(settings(&[("num.recovery.threads.per.data.dir", "0")]))
                .unwrap_err();
        assert!(err.to_string().contains("must be positive"), "{err}");
    }

    #[test]
    fn retention_synonyms_follow_kafka_precedence() {
        let config =
            BrokerConfig::from_settings(settings(&[("log.retention.hours", "2")])).unwrap();
        assert_eq!(
            config.topic_default("retention.ms").as_deref(),
            Some("7200000")
        );
        let config = BrokerConfig::from_settings(settings(&[
            ("log.retention.hours", "2"),
            ("log.retention.ms", "5000"),
        ]))
        .unwrap();
        assert_eq!(
            config.topic_default("retention.ms").as_deref(),
            Some("5000")
        );
        assert_eq!(config.topic_default("segment.bytes"), None);
    }

    #[test]
    fn properties_files_parse_like_kafka_server_properties() {
        let text = "# comment\n! also comment\n\nnode.id=3\nlog.dirs = /tmp/x\nlisteners: PLAINTEXT://127.0.0.1:19092\n";
        let parsed = parse_properties(text).unwrap();
        assert_eq!(parsed["node.id"], "3");
        assert_eq!(parsed["log.dirs"], "/tmp/x");
        assert_eq!(parsed["listeners"], "PLAINTEXT://127.0.0.1:19092");
        assert!(matches!(
            parse_properties("just words\n"),
            Err(ConfigError::Malformed { line: 1, .. })
        ));
    }
}
