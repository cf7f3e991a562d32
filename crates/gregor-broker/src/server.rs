//! Broker start-up, the accept loop, background maintenance and clean shutdown.

use crate::clock::now_ms;
use crate::cluster::broker_channel::BrokerChannel;
use crate::cluster::controller_channel::ControllerChannel;
use crate::cluster::lifecycle::{self, Identity, Membership};
use crate::cluster::metadata_plane::{MetadataPlane, SnapshotPolicy};
use crate::config::{BrokerConfig, SecurityProtocol};
use crate::connection::{self, ConnectionListener};
use crate::controller::Controller;
use crate::fetch::session_cache::SessionCache;
use crate::group_service::{GroupService, GroupServiceSettings};
use crate::meta_properties;
use crate::quota::connection_limits::{Admission, ConnectionLimits, Limits};
use crate::replica::fetcher::{self, FetcherContext};
use crate::replica_manager::ReplicaManager;
use crate::security::scram_bootstrap;
use crate::security::tls::{client_tls, DynamicTls, TlsListener};
use crate::security::Session;
use crate::txn_service::TxnService;
use anyhow::Context;
use gregor_coordinator::group::GroupConfig;
use gregor_coordinator::txn::TxnConfig;
use gregor_metadata::controller::TopicDefaults;
use gregor_raft::runtime::RuntimeConfig;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Everything a request handler can reach.
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub controller: Arc<Controller>,
    pub groups: GroupService,
    pub replicas: Arc<ReplicaManager>,
    pub txns: TxnService,
    /// Transaction markers to other partition leaders.
    pub markers_channel: BrokerChannel,
    /// KIP-890 verification requests to other transaction coordinators.
    pub verify_channel: BrokerChannel,
    /// Where `/metrics` opens its per-scrape connections to partition
    /// leaders (consumer lag of partitions with no replica here); the share
    /// lag of DescribeShareGroupOffsets asks leaders over its cached ones.
    pub peer_reads: BrokerChannel,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: Mutex<SessionCache>,
    /// ACL checks (`authorizer.class.name`) and the audit trail.
    pub authorizer: Arc<crate::security::Authorizer>,
    /// Client quota rates (producer/consumer byte rate, request time).
    pub client_quotas: crate::quota::ClientQuotas,
    /// The families `/metrics` serves (admin HTTP endpoint).
    pub metrics: crate::metrics::Metrics,
    /// What clients push (KIP-714), for `/metrics`.
    pub telemetry: crate::telemetry::ClientTelemetry,
    /// `queued.max.request.bytes`, when set (its gauges on `/metrics`).
    pub request_memory: Option<Arc<crate::request_memory::RequestMemory>>,
    /// What `/ready` answers (admin HTTP endpoint).
    pub readiness: Arc<crate::admin_http::ready::Readiness>,
    /// Share-partition delivery state (KIP-932 share groups).
    pub share_persister: Arc<crate::share::Persister>,
    /// Share sessions and the share-partitions this broker leads.
    pub share_fetch: crate::share::ShareFetchService,
}

/// A started broker; dropping it without [`RunningBroker::shutdown`] is an
/// unclean stop.
pub struct RunningBroker {
    broker: Arc<Broker>,
    local_addr: SocketAddr,
    /// Every bound listener: its name and the address it got.
    bound: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    accept_tasks: Vec<JoinHandle<()>>,
    /// Log maintenance, group and transaction timers (broker role).
    timers: Vec<JoinHandle<()>>,
    /// Registration, heartbeats and the controlled shutdown (broker role).
    lifecycle_task: Option<JoinHandle<i64>>,
    /// ControllerRegistration (controller role).
    registration_task: Option<JoinHandle<()>>,
    /// Session expiry on the active controller (controller role).
    expiry_task: Option<JoinHandle<()>>,
    /// Stops the admin HTTP endpoint: after the controlled shutdown, so
    /// `/ready` answers 503 during it.
    admin_stop: watch::Sender<bool>,
}

/// What every connection can reach from the moment the node listens: the
/// controller side is there at once (the quorum needs its RPCs to elect a
/// leader), the broker side once the node has caught up with the metadata.
pub struct NodeContext {
    pub controller: Arc<Controller>,
    pub cluster_id: String,
    pub socket_request_max_bytes: usize,
    /// `queued.max.request.bytes`, when set.
    pub request_memory: Option<Arc<crate::request_memory::RequestMemory>>,
    /// `connections.max.idle.ms`: how long a connection may send nothing.
    pub connections_max_idle: Option<std::time::Duration>,
    /// The main runtime, where request handlers run.
    pub main: tokio::runtime::Handle,
    /// The node's one authorizer (and audit trail), shared by the broker
    /// side and the controller listeners, which authorize before the
    /// broker side is up.
    pub authorizer: Arc<crate::security::Authorizer>,
    /// Open connections and creation rates against `max.connections*`.
    pub connection_limits: Arc<ConnectionLimits>,
    /// `inter.broker.listener.name` when the broker has other client
    /// listeners: then it is not counted broker-wide (Kafka's protected
    /// listener).
    pub protected_listener: Option<String>,
    broker: watch::Sender<Option<Arc<Broker>>>,
}

/// How long a controller-listener request waits for the broker side.
const BROKER_WAIT: Duration = Duration::from_secs(30);

impl NodeContext {
    pub fn broker(&self) -> Option<Arc<Broker>> {
        self.broker.borrow().clone()
    }

    pub async fn wait_for_broker(&self) -> Option<Arc<Broker>> {
        let mut ready = self.broker.subscribe();
        let waited = tokio::time::timeout(BROKER_WAIT, ready.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(broker)) => broker.clone(),
            _ => None,
        }
    }
}

impl Broker {
    /// Opens the logs (recovering them after an unclean stop), joins the
    /// metadata quorum, catches up with the metadata, registers this broker
    /// with the active controller and, once unfenced, serves clients.
    pub async fn start(mut config: BrokerConfig) -> anyhow::Result<RunningBroker> {
        // Before any log is opened. The budget is the process's, like the
        // descriptor limit it protects. Logged once start-up succeeded, so a
        // misconfiguration stops it with one line.
        let segment_files = crate::fd_limit::segment_file_budget(config.max_open_segment_files);
        gregor_log::set_max_open_segment_files(segment_files);
        // Every listener is bound first, so a port in use stops start-up
        // before anything is opened, and port 0 listeners are advertised
        // (and registered) with the port they got.
        // They listen at once (so no other socket can take the port, as in
        // Kafka), but client connections are accepted only once the broker
        // is unfenced: until then they wait in the backlog.
        let mut sockets = Vec::new();
        for listener in &config.listeners.bound {
            let bind = listener.bind_address();
            let socket = bind_socket(&bind)
                .and_then(listen)
                .with_context(|| format!("cannot listen on {bind} (listener {})", listener.name))?;
            let context = Arc::new(ConnectionListener {
                name: listener.name.clone(),
                is_controller: listener.is_controller,
                protocol: listener.protocol,
                sasl: crate::config::sasl::settings(&config, listener)?.map(Arc::new),
                failed_auth_delay: crate::config::sasl::failed_auth_delay(&config)?,
            });
            start_oauthbearer(&context);
            let tls = match listener.protocol {
                SecurityProtocol::Ssl | SecurityProtocol::SaslSsl => Some(Arc::new(
                    TlsListener::load(&config, &listener.name, listener.protocol)?,
                )),
                SecurityProtocol::Plaintext | SecurityProtocol::SaslPlaintext => None,
            };
            sockets.push((context, (socket, tls)));
        }
        let dynamic_tls = Arc::new(DynamicTls::new(
            sockets
                .iter()
                .filter_map(|(_, (_, tls))| tls.clone())
                .collect(),
        ));
        let bound: Vec<(String, SocketAddr)> = sockets
            .iter()
            .map(|(l, (s, _))| Ok((l.name.clone(), s.local_addr()?)))
            .collect::<std::io::Result<_>>()?;
        let local_addr = bound
            .iter()
            .find(|(name, _)| *name == config.listener.name)
            .map(|(_, addr)| *addr)
            .context("the inter-broker listener is not bound")?;
        config.resolve_listeners(&bound, &local_hostname());
        // The admin endpoint next: it answers /health (and /ready 503)
        // through log recovery and metadata catch-up, which may take long.
        // A taken port stops start-up; the endpoint stops if start-up fails
        // (its stop sender is dropped).
        let readiness = Arc::new(crate::admin_http::ready::Readiness::new(i64::from(
            config.quorum.broker_session_timeout_ms,
        )));
        let admin_gate = Arc::new(crate::admin_http::AdminGate::new(readiness.clone()));
        let (admin_stop, admin_stop_rx) = watch::channel(false);
        let admin_task = match config.value("gregor.admin.listener").trim() {
            "" => None,
            address => {
                let listener = crate::admin_http::bind(address).await?;
                if let Ok(address) = listener.local_addr() {
                    tracing::info!(%address, "admin HTTP endpoint listening");
                }
                Some(tokio::spawn(crate::admin_http::serve(
                    listener,
                    admin_gate.clone(),
                    admin_stop_rx,
                )))
            }
        };
        // Voters are resolved before anything is written.
        let quorum = quorum_plan(&config, &bound).await?;
        let log_dir = config.log_dir.clone();
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("cannot create log dir {}", log_dir.display()))?;
        // Every formatted dir must belong to this cluster and node, as Kafka
        // checks before it opens anything.
        let formatted = meta_properties::verify(&config.formatted_dirs, config.node_id)
            .map_err(anyhow::Error::msg)?;
        // A dir holding nothing but meta.properties (`gregor storage format`)
        // is as fresh as an empty one, and has nothing to recover.
        let fresh = std::fs::read_dir(&log_dir)?
            .filter_map(Result::ok)
            .all(|e| {
                e.file_name() == "meta.properties"
                    || e.file_name() == scram_bootstrap::BOOTSTRAP_FILE
            });
        if let (true, Some(cluster_id)) = (fresh, &formatted) {
            // Another dir was formatted (e.g. metadata.log.dir): join its cluster.
            meta_properties::write(&log_dir, cluster_id, config.node_id)?;
        }
        let cluster_id = meta_properties::load_or_create(&log_dir, config.node_id)?;
        let recover = !fresh && !gregor_log::is_clean_shutdown(&log_dir);
        let previous_broker_epoch = gregor_log::clean_shutdown_broker_epoch(&log_dir);
        gregor_log::clear_clean_shutdown(&log_dir)?;
        if recover {
            tracing::info!(dir = %log_dir.display(), "previous shutdown was not clean: recovering logs");
            readiness.recovering_logs(true);
            recovery_test_delay().await;
        }

        // SCRAM users for a new cluster: from `storage format --add-scram`
        // and from `sasl.bootstrap.scram`.
        let metadata_dir = match config.value("metadata.log.dir").trim() {
            "" => log_dir.clone(),
            dir => std::path::PathBuf::from(dir),
        };
        let mut bootstrap = crate::config::sasl::bootstrap_records(&config)?;
        bootstrap.extend(scram_bootstrap::read_file(&metadata_dir)?);

        // How this node logs in to SASL inter-broker and controller listeners.
        let inter_broker_sasl = crate::config::sasl::inter_broker_credentials(&config)?;
        let controller_sasl = crate::config::sasl::controller_credentials(&config)?;

        let mut quorum = quorum;
        quorum.runtime.cluster_id = cluster_id.clone();
        // Raft peers and the controller channel reach the controller
        // listener (the first of controller.listener.names).
        let controller_tls = match config.quorum.controller_listener_names.first() {
            Some(name) => client_tls(&config, name)?,
            None => None,
        };
        let controller_connector = gregor_client::Connector::new(controller_tls, controller_sasl);
        quorum.runtime.connector = controller_connector.clone();
        let replicas = Arc::new(ReplicaManager::new(config.clone(), recover));
        let snapshots = SnapshotPolicy {
            max_bytes_between: config.quorum.snapshot_max_bytes_between.max(1) as u64,
            max_interval_ms: config.quorum.snapshot_max_interval_ms.max(0) as u64,
        };
        let plane = MetadataPlane::start(quorum.runtime, snapshots, replicas.clone())
            .context("cannot start the metadata quorum")?;
        // TLS towards other nodes' SSL listeners, one config per purpose.
        let inter_broker = gregor_client::Connector::new(
            client_tls(&config, &config.listeners.inter_broker)?,
            inter_broker_sasl,
        );
        // Before the fetcher, which counts replicated bytes into it.
        let metrics = crate::metrics::Metrics::new();
        let fetcher_context = Arc::new(FetcherContext {
            replicated_bytes_in: metrics.topics.replicated_in(),
            node_id: config.node_id,
            local_ip: quorum.local_ip,
            settings: config.fetcher.clone(),
            quotas: replicas.quotas().clone(),
            connector: inter_broker.clone(),
        });
        let channel = Arc::new(
            ControllerChannel::new(
                quorum.voter_addresses,
                quorum.local_ip,
                Duration::from_millis(CONTROLLER_REQUEST_TIMEOUT_MS),
                Some(plane.runtime().clone()),
                Some({
                    let plane = plane.clone();
                    Arc::new(move || plane.status().leader)
                }),
            )
            .with_connector(controller_connector),
        );
        let defaults = TopicDefaults {
            num_partitions: config.num_partitions,
            replication_factor: config.default_replication_factor,
        };
        let controller = Arc::new(
            Controller::new(
                plane.clone(),
                quorum.is_voter,
                defaults,
                i64::from(config.quorum.broker_session_timeout_ms),
                channel,
            )
            // Validated when the configuration was loaded.
            .with_leadership(config.leadership().unwrap_or_default())
            .with_bootstrap(bootstrap),
        );
        let (broker_ready, _) = watch::channel(None);
        let node = Arc::new(NodeContext {
            controller: controller.clone(),
            cluster_id: cluster_id.clone(),
            socket_request_max_bytes: config.socket_request_max_bytes,
            request_memory: config
                .queued_max_request_bytes
                .map(crate::request_memory::RequestMemory::new),
            connections_max_idle: config.connections_max_idle,
            main: tokio::runtime::Handle::current(),
            authorizer: Arc::new(crate::security::Authorizer::new(config.authorizer.clone())),
            connection_limits: ConnectionLimits::new(
                config.value("quota.window.num").parse().unwrap_or(11),
                config
                    .value("quota.window.size.seconds")
                    .parse::<i64>()
                    .unwrap_or(1)
                    .saturating_mul(1000),
            ),
            protected_listener: (config
                .listeners
                .bound
                .iter()
                .filter(|l| !l.is_controller)
                .count()
                > 1)
            .then(|| config.listeners.inter_broker.clone()),
            broker: broker_ready,
        });

        // Controller listeners serve at once: the quorum cannot elect a
        // leader (and so this node cannot catch up) without them. They run
        // on the metadata thread, so busy request handlers on the main
        // runtime never hold up the quorum's own traffic.
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (controller_sockets, client_sockets): (Vec<_>, Vec<_>) =
            sockets.into_iter().partition(|(l, _)| l.is_controller);
        let mut accept_tasks: Vec<JoinHandle<()>> = controller_sockets
            .into_iter()
            .map(|(context, (socket, tls))| {
                let accept = accept_loop(socket, context, tls, node.clone(), shutdown_rx.clone());
                Ok(plane.runtime().spawn(accept))
            })
            .collect::<std::io::Result<_>>()?;
        let expiry_task = quorum
            .is_voter
            .then(|| tokio::spawn(session_expiry_loop(controller.clone(), shutdown_rx.clone())));
        let is_voter = quorum.is_voter;

        // A dedicated controller waits too: it must not report itself
        // started (nor register) before it knows the quorum, and one
        // formatted for another cluster must stop rather than wait forever.
        wait_caught_up(&plane, &cluster_id).await?;
        // Every log the caught-up metadata names was opened (so recovered)
        // before the offset it was applied at counted as applied.
        readiness.recovering_logs(false);
        let group_config = GroupConfig {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            offsets_retention_ms: config.offsets_retention_ms,
            consumer: config.group_consumer.clone(),
            streams: config.group_streams.clone(),
            share: config.group_share.clone(),
            ..GroupConfig::default()
        };
        let groups = GroupService::new(
            group_config,
            controller.clone(),
            replicas.clone(),
            GroupServiceSettings {
                partitions: config.offsets_topic_partitions,
                replication_factor: config.offsets_topic_replication_factor,
                commit_timeout: Duration::from_millis(config.offsets_commit_timeout_ms),
                node_id: config.node_id,
            },
        );
        let txn_config = TxnConfig {
            max_timeout_ms: config.txn.max_timeout_ms,
            ..TxnConfig::default()
        };
        let txns = TxnService::load(
            txn_config,
            controller.clone(),
            replicas.clone(),
            config.txn.state_log_partitions,
            config.node_id,
        )
        .context("cannot load transaction state")?
        .with_replication(
            config.txn.state_log_replication_factor,
            config.txn.state_log_min_isr,
        );
        let fetch_session_slots = config.fetch_session_cache_slots;
        let identity = Identity {
            node_id: config.node_id,
            cluster_id: cluster_id.clone(),
            incarnation_id: Uuid::new_v4(),
            listeners: config
                .listeners
                .advertised
                .iter()
                .map(|l| {
                    (
                        l.name.clone(),
                        l.host.clone(),
                        l.port,
                        protocol_id(l.protocol),
                    )
                })
                .collect(),
            rack: config.rack.clone(),
            heartbeat_interval: Duration::from_millis(
                config.quorum.broker_heartbeat_interval_ms.max(1) as u64,
            ),
            previous_broker_epoch,
        };
        let is_broker = config.quorum.broker;
        let broker_channel = |purpose: &str| {
            BrokerChannel::new(
                config.listeners.inter_broker.clone(),
                quorum.local_ip,
                Duration::from_millis(INTER_BROKER_REQUEST_TIMEOUT_MS),
                format!("broker-{}-{purpose}", config.node_id),
            )
            .with_connector(inter_broker.clone())
        };
        let share_state = crate::share::state_service::ShareStateService::new(
            crate::share::state_service::ShareStateSettings {
                partitions: config.share_coordinator.partitions,
                replication_factor: config.share_coordinator.replication_factor,
                min_isr: config.share_coordinator.min_isr,
                segment_bytes: config.share_coordinator.segment_bytes,
                updates_per_snapshot: config.share_coordinator.updates_per_snapshot,
                write_timeout: Duration::from_millis(config.share_coordinator.write_timeout_ms),
                node_id: config.node_id,
            },
            controller.clone(),
            replicas.clone(),
        )
        .context("cannot start the share coordinator")?;
        let share_persister = Arc::new(crate::share::Persister::durable(
            Arc::new(share_state),
            controller.clone(),
            broker_channel("share-state"),
            config.node_id,
        ));
        let markers_channel = broker_channel("txn-markers");
        let verify_channel = broker_channel("txn-verification");
        let peer_reads = broker_channel("metrics-lag");
        let incarnation_id = identity.incarnation_id;
        let authorizer = node.authorizer.clone();
        let client_quotas = crate::quota::ClientQuotas::from_config(&config);
        let telemetry_config = crate::telemetry::config::TelemetryConfig::from_config(&config);
        let share_fetch =
            crate::share::ShareFetchService::new(config.group_share.max_share_sessions);
        let broker = Arc::new(Broker {
            client_quotas,
            config,
            authorizer,
            cluster_id,
            controller,
            replicas,
            groups,
            txns,
            markers_channel,
            verify_channel,
            peer_reads,
            fetch_sessions: Mutex::new(SessionCache::new(fetch_session_slots)),
            readiness,
            share_persister,
            share_fetch,
            metrics,
            telemetry: crate::telemetry::ClientTelemetry::new(telemetry_config),
            request_memory: node.request_memory.clone(),
        });
        node.broker.send_replace(Some(broker.clone()));
        let key_index_bytes = broker
            .config
            .value("gregor.admin.key.index.bytes")
            .trim()
            .parse()
            .unwrap_or(crate::admin_http::DEFAULT_KEY_INDEX_BYTES);
        admin_gate.install(broker.clone(), key_index_bytes);
        // Coordinator shards follow the leadership of their internal
        // partitions, image by image.
        let hooked = Arc::downgrade(&broker);
        plane.set_image_hook(Arc::new(move |image| {
            if let Some(broker) = hooked.upgrade() {
                broker.groups.on_image(image);
                // A deleted topic's BrokerTopicMetrics series go with it.
                broker.metrics.topics.retain(|t| image.topic(t).is_some());
                broker.txns.on_image(image);
                broker.share_persister.on_image(image);
                dynamic_tls.on_image(image, &broker.config);
            }
        }));

        let mut lifecycle_task = None;
        if is_broker {
            let (membership, mut membership_rx) = watch::channel(Membership {
                epoch: -1,
                fenced: true,
                should_shutdown: false,
            });
            lifecycle_task = Some(tokio::spawn(lifecycle::run(
                broker.clone(),
                identity,
                membership,
                shutdown_rx.clone(),
            )));
            // Kafka's broker serves clients once the controller unfenced it.
            tracing::info!("waiting to be unfenced by the active controller");
            let _ = membership_rx.wait_for(|m| !m.fenced).await;
            // Transactions a crash left prepared get their markers now.
            broker.txns.maintain(None).await;
        }
        for (context, (socket, tls)) in client_sockets {
            accept_tasks.push(tokio::spawn(accept_loop(
                socket,
                context,
                tls,
                node.clone(),
                shutdown_rx.clone(),
            )));
        }
        if is_broker {
            broker.readiness.serving();
        }
        let mut registration_task = None;
        if is_voter {
            // Every controller tells the active controller where it listens
            // (ControllerRegistration), for DescribeCluster.
            registration_task = Some(tokio::spawn(lifecycle::register_controller(
                broker.clone(),
                incarnation_id,
                shutdown_rx.clone(),
            )));
        }
        let mut timers = is_broker.then(|| {
            let cleaner = crate::log_cleaner::CleanerSettings::from_config(&broker.config);
            let mut timers =
                crate::log_cleaner::spawn(broker.replicas.clone(), cleaner, shutdown_rx.clone());
            timers.extend([
                tokio::spawn(maintenance_loop(broker.clone(), shutdown_rx.clone())),
                tokio::spawn(group_timer_loop(broker.clone(), shutdown_rx.clone())),
                tokio::spawn(txn_timer_loop(broker.clone(), shutdown_rx.clone())),
                tokio::spawn(high_watermark_checkpoint_loop(
                    broker.clone(),
                    shutdown_rx.clone(),
                )),
                tokio::spawn(fetcher::run(
                    fetcher_context,
                    broker.replicas.fetch_plan(),
                    shutdown_rx.clone(),
                )),
                tokio::spawn(isr_check_loop(broker.clone(), shutdown_rx.clone())),
                tokio::spawn(crate::replica::isr_sender::run(
                    broker.clone(),
                    shutdown_rx.clone(),
                )),
                tokio::spawn(crate::txn_markers::run(broker.clone(), shutdown_rx.clone())),
                tokio::spawn(crate::security::audit::run(
                    broker.clone(),
                    shutdown_rx.clone(),
                )),
            ]);
            timers
        });
        // A dedicated controller hosts no partitions, groups or
        // transactions: its Broker only serves admin requests, and its only
        // timer is the admin endpoint.
        if let Some(task) = admin_task {
            timers.get_or_insert_with(Vec::new).push(task);
        }
        for (name, address) in &bound {
            tracing::info!(listener = %name, %address, "listening");
        }
        if is_broker {
            tracing::info!(segment_files, "open segment file budget");
            tracing::info!(address = %local_addr, cluster_id = %broker.cluster_id, node_id = broker.config.node_id, "gregor broker started");
        } else {
            tracing::info!(address = %local_addr, cluster_id = %broker.cluster_id, node_id = broker.config.node_id, "gregor controller started");
        }
        Ok(RunningBroker {
            broker,
            local_addr,
            bound,
            shutdown,
            accept_tasks,
            timers: timers.unwrap_or_default(),
            lifecycle_task,
            registration_task,
            expiry_task,
            admin_stop,
        })
    }
}

/// Binds with SO_REUSEADDR, as a listener would.
fn bind_socket(address: &str) -> std::io::Result<TcpSocket> {
    use std::net::ToSocketAddrs;
    let address = address.to_socket_addrs()?.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
    })?;
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    Ok(socket)
}

fn listen(socket: TcpSocket) -> std::io::Result<TcpListener> {
    socket.listen(1024)
}

/// How long a request to the active controller may take.
const CONTROLLER_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Markers and verifications to other brokers: Kafka's
/// `request.timeout.ms` default for its inter-broker senders.
const INTER_BROKER_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// Kafka's SecurityProtocol ids, as brokers register their endpoints.
fn protocol_id(protocol: SecurityProtocol) -> i16 {
    match protocol {
        SecurityProtocol::Plaintext => 0,
        SecurityProtocol::Ssl => 1,
        SecurityProtocol::SaslPlaintext => 2,
        SecurityProtocol::SaslSsl => 3,
    }
}

/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often TLS listeners look at their PEM files' size and mtime.
const TLS_RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Where the quorum is and how this node takes part in it.
struct QuorumPlan {
    runtime: RuntimeConfig,
    voter_addresses: BTreeMap<i32, String>,
    local_ip: Option<IpAddr>,
    is_voter: bool,
}

/// The quorum from `controller.quorum.voters`; without voters (the
/// embedded default, or a lone `controller.quorum.bootstrap.servers`) this
/// node is the only voter.
async fn quorum_plan(
    config: &BrokerConfig,
    bound: &[(String, SocketAddr)],
) -> anyhow::Result<QuorumPlan> {
    let controller_listener = config
        .listeners
        .bound
        .iter()
        .find(|l| l.is_controller)
        .and_then(|l| {
            bound
                .iter()
                .find(|(name, _)| *name == l.name)
                .map(|(_, a)| *a)
        });
    let mut voters = Vec::new();
    let mut voter_addresses = BTreeMap::new();
    let mut voter_hosts = BTreeMap::new();
    let client_listener = bound
        .iter()
        .find(|(name, _)| *name == config.listener.name)
        .map(|(_, a)| *a);
    if config.quorum.voters.is_empty() {
        // A lone voter never connects to itself; without a controller
        // listener (the embedded default) DescribeQuorum names the client one.
        let address = controller_listener
            .or(client_listener)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        voters.push((config.node_id, address));
        voter_addresses.insert(config.node_id, address.to_string());
    } else {
        for voter in &config.quorum.voters {
            let text = format!("{}:{}", voter.host, voter.port);
            let address = tokio::net::lookup_host(&text)
                .await
                .ok()
                .and_then(|mut found| found.next())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "invalid value '{}' for configuration 'controller.quorum.voters': \
                         cannot resolve {text} (voter {})",
                        config.value("controller.quorum.voters"),
                        voter.id
                    )
                })?;
            voters.push((voter.id, address));
            voter_hosts.insert(voter.id, voter.host.clone());
            voter_addresses.insert(voter.id, text);
        }
    }
    let is_voter = voters.iter().any(|(id, _)| *id == config.node_id);
    // Outgoing connections leave from this node's own address, so firewall
    // rules can tell nodes apart on one machine.
    let local_ip = controller_listener
        .map(|a| a.ip())
        .or_else(|| Some(local_address(config)?.ip()))
        .filter(|ip| !ip.is_unspecified());
    // The cluster id is filled in once meta.properties is read.
    let mut runtime = RuntimeConfig::new(config.node_id, "", voters, &config.log_dir);
    runtime.local_ip = local_ip;
    runtime.voter_hosts = voter_hosts;
    runtime.election_timeout_ms = config.quorum.election_timeout_ms.max(1) as u64;
    runtime.fetch_timeout_ms = config.quorum.fetch_timeout_ms.max(1) as u64;
    runtime.listener_name = match (
        controller_listener,
        config.quorum.controller_listener_names.first(),
    ) {
        (Some(_), Some(name)) => name.to_ascii_uppercase(),
        _ => config.listener.name.clone(),
    };
    Ok(QuorumPlan {
        runtime,
        voter_addresses,
        local_ip,
        is_voter,
    })
}

/// The client listener's bound address, parsed.
fn local_address(config: &BrokerConfig) -> Option<SocketAddr> {
    config.listener.bind_address().parse().ok()
}

/// Waits until a leader is known and everything it committed is applied
/// here (a broker must not answer from an old image). A node whose cluster
/// id the other voters refuse never finds a leader: it stops with an error
/// instead of waiting forever.
async fn wait_caught_up(plane: &MetadataPlane, cluster_id: &str) -> anyhow::Result<()> {
    let mut status = plane.watch_status();
    let started = std::time::Instant::now();
    let mut last_report = started;
    loop {
        let target = {
            let current = status.borrow_and_update();
            current.leader.map(|_| current.high_watermark)
        };
        if let Some(target) = target {
            let applied = plane.applied();
            if applied >= target {
                tracing::info!(offset = applied, "caught up with the metadata log");
                return Ok(());
            }
        } else if plane.quorum().cluster_id_refused() && started.elapsed() > CLUSTER_ID_GRACE {
            anyhow::bail!(
                "the other controllers refuse this node's cluster id {cluster_id} \
                 (INCONSISTENT_CLUSTER_ID): its log dirs were formatted for another cluster; \
                 format them with the cluster's id (gregor storage format -t ID -c FILE)"
            );
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = std::time::Instant::now();
            tracing::info!("waiting for the metadata quorum");
        }
        let _ = tokio::time::timeout(Duration::from_millis(20), status.changed()).await;
    }
}

/// For tests of what answers during log recovery: stretches the recovery
/// phase by `GREGOR_TEST_RECOVERY_DELAY_MS` (unset in production), as a
/// large log would, without writing one.
async fn recovery_test_delay() {
    let delay = std::env::var("GREGOR_TEST_RECOVERY_DELAY_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(ms) = delay {
        tracing::warn!(ms, "GREGOR_TEST_RECOVERY_DELAY_MS: delaying log recovery");
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// How long a node refused for its cluster id keeps looking for a leader
/// before it gives up (another node's wrong id must not stop this one).
const CLUSTER_ID_GRACE: Duration = Duration::from_secs(5);

/// The active controller fences brokers whose sessions expired, and runs
/// its leadership timers (preferred-leader rebalance, unclean elections).
async fn session_expiry_loop(controller: Arc<Controller>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        if controller.is_active() {
            let controller = controller.clone();
            let _ = tokio::task::spawn_blocking(move || {
                controller.expire_sessions();
                controller.leadership_tick();
            })
            .await;
        }
    }
}

impl RunningBroker {
    /// The address of the inter-broker (client) listener.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every bound listener by name, in `listeners` order.
    pub fn listener_addrs(&self) -> &[(String, SocketAddr)] {
        &self.bound
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops accepting, closes connections, flushes and closes every log and
    /// marks the log dir clean so the next start skips recovery.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down");
        self.broker.readiness.shutting_down();
        let _ = self.shutdown.send(true);
        // The controlled shutdown moves this broker's leaderships away
        // while the controller listener still answers.
        let mut broker_epoch = -1;
        if let Some(task) = self.lifecycle_task {
            broker_epoch = task.await.unwrap_or(-1);
        }
        // Before the timers are awaited: the admin endpoint is one of them.
        let _ = self.admin_stop.send(true);
        for task in self.accept_tasks {
            let _ = task.await;
        }
        for task in self.timers {
            let _ = task.await;
        }
        if let Some(task) = self.registration_task {
            let _ = task.await;
        }
        if let Some(task) = self.expiry_task {
            let _ = task.await;
        }
        // The metadata thread stops first, so it cannot reopen partitions
        // the replica manager is closing.
        self.broker.controller.shutdown();
        self.broker.replicas.shutdown()?;
        gregor_log::mark_clean_shutdown(&self.broker.config.log_dir, broker_epoch)?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    context: Arc<ConnectionListener>,
    tls: Option<Arc<TlsListener>>,
    node: Arc<NodeContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    let mut reload_check = tokio::time::interval(TLS_RELOAD_CHECK);
    reload_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let limits = || connection_limits(&node, &context);
    // Out of file descriptors, accept fails every retry: warn once per run
    // of failures.
    let mut accept_failing = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            _ = reload_check.tick(), if tls.is_some() => {
                if let Some(tls) = tls.clone() {
                    // A stat per file, off the async threads.
                    let _ = tokio::task::spawn_blocking(move || tls.reload_if_changed()).await;
                }
            }
            // No accept while the broker or this listener is at its
            // max.connections: clients wait in the kernel's backlog.
            accepted = async {
                let slot = node.connection_limits.wait_for_slot(&context.name, limits).await;
                (slot, listener.accept().await)
            } => match accepted {
                (mut slot, Ok((stream, peer))) => {
                    accept_failing = false;
                    let limits = limits();
                    let delay = match node.connection_limits.admit(&mut slot, peer.ip(), &limits, crate::clock::now_ms()) {
                        Admission::TooManyFromAddress { limit, first } => {
                            // Kafka logs each refusal at INFO; once per
                            // episode keeps a reconnect loop from flooding.
                            if first {
                                tracing::info!(address = %peer.ip(), limit, "rejected connection: the address already has its max.connections.per.ip; further refusals of it are not logged until it is served again");
                            } else {
                                tracing::debug!(%peer, "over max.connections.per.ip; closed");
                            }
                            continue;
                        }
                        Admission::Serve => None,
                        Admission::ServeAfter(delay) => Some(delay),
                    };
                    if let Some(delay) = connection_throttle(&node, &context, peer) {
                        // Over its address's connection_creation_rate: not
                        // served, closed once the throttle time is over.
                        tracing::debug!(%peer, ?delay, "connection throttled; closing after the delay");
                        connections.spawn(async move {
                            tokio::time::sleep(delay).await;
                            drop((stream, slot));
                        });
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let served = {
                        let (context, node, shutdown, tls) = (context.clone(), node.clone(), shutdown.clone(), tls.clone());
                        async move {
                            if let Some(delay) = delay {
                                // Over the broker's or listener's creation
                                // rate: served once the throttle time is over.
                                tokio::time::sleep(delay).await;
                            }
                            match tls {
                                None => {
                                    let session = Session::anonymous(peer, context);
                                    connection::serve(stream, session, node, shutdown).await;
                                }
                                // Boxed: the TLS state would size every plaintext connection too.
                                Some(tls) => Box::pin(serve_tls(stream, peer, tls, context, node, shutdown)).await,
                            }
                            drop(slot);
                        }
                    };
                    connections.spawn(served);
                }
                (_, Err(err)) => {
                    // Out of file descriptors and the like: back off briefly.
                    if !accept_failing {
                        tracing::warn!(%err, "accept failed; retrying every 100 ms (not logged again until one succeeds)");
                    }
                    accept_failing = true;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// The connection limits of `context`'s listener now; none before the
/// broker side is up (only the controller listeners serve then).
fn connection_limits(node: &NodeContext, context: &ConnectionListener) -> Limits {
    let Some(broker) = node.broker() else {
        return Limits::unlimited();
    };
    let broker_wide =
        !context.is_controller && node.protected_listener.as_deref() != Some(&context.name);
    Limits::of(
        &broker.config,
        &broker.controller.image(),
        &context.name,
        broker_wide,
    )
}

/// The delay before closing a new connection from `peer` that goes over its
/// address's `connection_creation_rate`, `None` when it may be served.
/// Controller listeners are not limited (their peers are the cluster's).
fn connection_throttle(
    node: &NodeContext,
    context: &ConnectionListener,
    peer: SocketAddr,
) -> Option<Duration> {
    if context.is_controller {
        return None;
    }
    let broker = node.broker()?;
    let image = broker.controller.image();
    if image.client_quotas.is_empty() {
        return None;
    }
    let throttle = broker.client_quotas.record_connection(
        &image.client_quotas,
        peer.ip(),
        crate::clock::now_ms(),
    );
    (throttle > 0).then(|| Duration::from_millis(throttle))
}

/// The TLS handshake (bounded in time), the principal it gives, then the
/// connection. A client that does not speak TLS, or fails the handshake or
/// the certificate check, is closed without a word, as Kafka does.
async fn serve_tls(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Arc<TlsListener>,
    context: Arc<ConnectionListener>,
    node: Arc<NodeContext>,
    shutdown: watch::Receiver<bool>,
) {
    let Some(acceptor) = tls.acceptor() else {
        return;
    };
    let handshake = acceptor.accept(stream).into_fallible();
    let stream = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err((err, stream))) => {
            // As Kafka logs it: "Failed authentication with ... (SSL handshake failed)".
            tracing::info!(%peer, listener = %context.name, %err, "failed authentication: TLS handshake failed");
            // As Kafka: the close waits connection.failed.authentication.delay.ms
            // (nothing more is read meanwhile), unless the broker stops.
            let mut shutdown = shutdown;
            tokio::select! {
                _ = tokio::time::sleep(context.failed_auth_delay) => {}
                _ = shutdown.changed() => {}
            }
            drop(stream);
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, listener = %context.name, "TLS handshake timed out; closing connection");
            return;
        }
    };
    let principal = tls.principal(stream.get_ref().1.peer_certificates());
    let Some(principal) = principal else {
        tracing::warn!(%peer, listener = %context.name, "no ssl.principal.mapping.rules rule matches the client certificate; closing connection");
        return;
    };
    tracing::debug!(%peer, listener = %context.name, %principal, "TLS connection established");
    let session = Session {
        peer,
        listener: context,
        principal,
    };
    connection::serve(stream, session, node, shutdown).await;
}

/// Segment rolls by time, flush.ms and retention, on the configured intervals.
async fn maintenance_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let tick = Duration::from_millis(broker.config.retention_check_interval_ms.clamp(100, 1000));
    let retention_every = broker.config.retention_check_interval_ms as i64;
    let mut last_retention = now_ms();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = now_ms();
        let retention_due = now - last_retention >= retention_every;
        if retention_due {
            last_retention = now;
        }
        let replicas = broker.replicas.clone();
        let _ = tokio::task::spawn_blocking(move || replicas.maintain(now, retention_due)).await;
    }
}

/// Writes `replication-offset-checkpoint` every
/// `replica.high.watermark.checkpoint.interval.ms` (and at shutdown, from
/// the replica manager).
async fn high_watermark_checkpoint_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let every = Duration::from_millis(
        broker
            .config
            .fetcher
            .high_watermark_checkpoint_interval_ms
            .max(1),
    );
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let replicas = broker.replicas.clone();
        let written =
            tokio::task::spawn_blocking(move || replicas.checkpoint_high_watermarks()).await;
        if let Ok(Err(err)) = written {
            tracing::warn!(%err, "cannot write the high-watermark checkpoint");
        }
    }
}

/// The leaders' ISR check, every half `replica.lag.time.max.ms` as Kafka
/// schedules its `isr-expiration` task.
async fn isr_check_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let half_lag = (broker.config.replica_lag_time_max_ms / 2).clamp(10, 30_000) as u64;
    let tick = Duration::from_millis(half_lag);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        broker.replicas.tick_leaders(now_ms());
    }
}

/// Session expiry and rebalance deadlines of consumer groups. A fixed short
/// period keeps it simple; firing late is safe (overdue timers fire in order).
/// Also expires committed offsets every `offsets.retention.check.interval.ms`.
async fn group_timer_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let expiry_every = broker.config.offsets_retention_check_interval_ms as i64;
    let mut last_expiry = now_ms();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(50)) => broker.groups.tick(),
        }
        if now_ms() - last_expiry >= expiry_every {
            last_expiry = now_ms();
            broker.groups.expire_offsets();
        }
    }
}

/// Transaction timeouts (`transaction.abort.timed.out.transaction.cleanup.interval.ms`),
/// retries of unfinished markers, and transactional id expiry
/// (`transaction.remove.expired.transaction.cleanup.interval.ms`).
async fn txn_timer_loop(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let settings = broker.config.txn.clone();
    let tick = Duration::from_millis(settings.abort_check_interval_ms);
    let expire_every = settings.remove_expired_interval_ms as i64;
    let mut last_expiry = now_ms();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        let now = now_ms();
        let expiration = (now - last_expiry >= expire_every).then(|| {
            last_expiry = now;
            settings.id_expiration_ms
        });
        broker.txns.maintain(expiration).await;
    }
}

/// This machine's host name, advertised for a listener given without a host
/// (`PLAINTEXT://:9092`) as Kafka does; "localhost" if it cannot be read.
fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes
    // at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let len = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// OAUTHBEARER on `listener`: the JWKS is fetched now and refreshed in the
/// background; the unsecured development mode is loudly logged.
fn start_oauthbearer(listener: &ConnectionListener) {
    let Some(oauth) = listener.sasl.as_ref().and_then(|s| s.oauth.as_ref()) else {
        return;
    };
    if oauth.0.rules.allow_unsecured {
        tracing::warn!(
            listener = %listener.name,
            "gregor.sasl.oauthbearer.unsecured.enable=true: OAUTHBEARER accepts UNSIGNED tokens; for development only, never in production"
        );
    }
    if let Some(jwks) = &oauth.0.jwks {
        jwks.spawn_refresher();
    }
}
