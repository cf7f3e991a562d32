//! Broker start-up, the accept loop, background maintenance and clean shutdown.

use crate::clock::now_ms;
use crate::config::BrokerConfig;
use crate::connection::{self, ConnectionListener};
use crate::controller::{self, Controller};
use crate::fetch::session_cache::SessionCache;
use crate::group_service::GroupService;
use crate::meta_properties;
use crate::replica_manager::ReplicaManager;
use crate::txn_service::TxnService;
use anyhow::Context;
use gregor_coordinator::group::GroupConfig;
use gregor_coordinator::txn::TxnConfig;
use gregor_metadata::controller::TopicDefaults;
use gregor_metadata::Endpoint;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Everything a request handler can reach.
pub struct Broker {
    pub config: BrokerConfig,
    pub cluster_id: String,
    pub controller: Arc<Controller>,
    pub groups: GroupService,
    pub replicas: Arc<ReplicaManager>,
    pub txns: TxnService,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: Mutex<SessionCache>,
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
    maintenance_task: JoinHandle<()>,
    group_timer_task: JoinHandle<()>,
    txn_timer_task: JoinHandle<()>,
}

impl Broker {
    /// Opens the logs (recovering them after an unclean stop), replays the
    /// metadata, registers this broker and starts listening.
    pub async fn start(mut config: BrokerConfig) -> anyhow::Result<RunningBroker> {
        // Every listener is bound first, so a port in use stops start-up
        // before anything is opened, and port 0 listeners are advertised
        // (and registered) with the port they got.
        let mut sockets = Vec::new();
        for listener in &config.listeners.bound {
            let bind = listener.bind_address();
            let socket = TcpListener::bind(&bind)
                .await
                .with_context(|| format!("cannot listen on {bind} (listener {})", listener.name))?;
            let context = Arc::new(ConnectionListener {
                name: listener.name.clone(),
                is_controller: listener.is_controller,
            });
            sockets.push((context, socket));
        }
        let bound: Vec<(String, SocketAddr)> = sockets
            .iter()
            .map(|(l, s)| Ok((l.name.clone(), s.local_addr()?)))
            .collect::<std::io::Result<_>>()?;
        let local_addr = bound
            .iter()
            .find(|(name, _)| *name == config.listener.name)
            .map(|(_, addr)| *addr)
            .context("the inter-broker listener is not bound")?;
        config.resolve_listeners(&bound, &local_hostname());
        let log_dir = config.log_dir.clone();
        std::fs::create_dir_all(&log_dir)
            .with_context(|| format!("cannot create log dir {}", log_dir.display()))?;
        // Every formatted dir must belong to this cluster and node, as Kafka
        // checks before it opens anything.
        let formatted = meta_properties::verify(&config.formatted_dirs, config.node_id)
            .map_err(anyhow::Error::msg)?;
        // A dir formatted just now has nothing to recover.
        // A dir holding nothing but meta.properties (`gregor storage format`)
        // is as fresh as an empty one.
        let fresh = std::fs::read_dir(&log_dir)?
            .filter_map(Result::ok)
            .all(|e| e.file_name() == "meta.properties");
        if let (true, Some(cluster_id)) = (fresh, &formatted) {
            // Another dir was formatted (e.g. metadata.log.dir): join its cluster.
            meta_properties::write(&log_dir, cluster_id, config.node_id)?;
        }
        let cluster_id = meta_properties::load_or_create(&log_dir, config.node_id)?;
        let recover = !fresh && !gregor_log::is_clean_shutdown(&log_dir);
        gregor_log::clear_clean_shutdown(&log_dir)?;
        if recover {
            tracing::info!(dir = %log_dir.display(), "previous shutdown was not clean: recovering logs");
        }

        let (metadata_log, image) = controller::open_metadata_log(&log_dir, recover)
            .context("cannot open the metadata log")?;
        let replicas = Arc::new(ReplicaManager::new(config.clone(), recover));
        replicas
            .reconcile(&image)
            .context("cannot open partition logs")?;
        let defaults = TopicDefaults {
            num_partitions: config.num_partitions,
            replication_factor: config.default_replication_factor,
        };
        let controller = Arc::new(Controller::new(
            metadata_log,
            image,
            defaults,
            replicas.clone(),
        ));
        controller
            .register_broker(
                config.node_id,
                config
                    .listeners
                    .advertised
                    .iter()
                    .map(|l| Endpoint {
                        name: l.name.clone(),
                        host: l.host.clone(),
                        port: i32::from(l.port),
                        // Only PLAINTEXT listeners are served so far.
                        security_protocol: 0,
                    })
                    .collect(),
                None,
            )
            .map_err(|e| anyhow::anyhow!("cannot register broker: {}", e.message))?;

        let group_config = GroupConfig {
            min_session_timeout_ms: config.group_min_session_timeout_ms,
            max_session_timeout_ms: config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            offsets_retention_ms: config.offsets_retention_ms,
            consumer: config.group_consumer.clone(),
            ..GroupConfig::default()
        };
        let groups = GroupService::load(
            group_config,
            controller.clone(),
            replicas.clone(),
            config.offsets_topic_partitions,
        )
        .context("cannot load consumer group state")?;
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
        .context("cannot load transaction state")?;
        // Transactions a crash left prepared get their markers now.
        txns.maintain(&groups, None);
        let fetch_session_slots = config.fetch_session_cache_slots;
        let broker = Arc::new(Broker {
            config,
            cluster_id,
            controller,
            replicas,
            groups,
            txns,
            fetch_sessions: Mutex::new(SessionCache::new(fetch_session_slots)),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept_tasks = sockets
            .into_iter()
            .map(|(context, socket)| {
                tokio::spawn(accept_loop(
                    socket,
                    context,
                    broker.clone(),
                    shutdown_rx.clone(),
                ))
            })
            .collect();
        let maintenance_task = tokio::spawn(maintenance_loop(broker.clone(), shutdown_rx.clone()));
        let group_timer_task = tokio::spawn(group_timer_loop(broker.clone(), shutdown_rx.clone()));
        let txn_timer_task = tokio::spawn(txn_timer_loop(broker.clone(), shutdown_rx));
        for (name, address) in &bound {
            tracing::info!(listener = %name, %address, "listening");
        }
        tracing::info!(address = %local_addr, cluster_id = %broker.cluster_id, node_id = broker.config.node_id, "gregor broker started");
        Ok(RunningBroker {
            broker,
            local_addr,
            bound,
            shutdown,
            accept_tasks,
            maintenance_task,
            group_timer_task,
            txn_timer_task,
        })
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
        let _ = self.shutdown.send(true);
        for task in self.accept_tasks {
            let _ = task.await;
        }
        let _ = self.maintenance_task.await;
        let _ = self.group_timer_task.await;
        let _ = self.txn_timer_task.await;
        self.broker.replicas.shutdown()?;
        self.broker.controller.shutdown();
        gregor_log::mark_clean_shutdown(&self.broker.config.log_dir)?;
        tracing::info!("shutdown complete");
        Ok(())
    }
}

async fn accept_loop(
    listener: TcpListener,
    context: Arc<ConnectionListener>,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::serve(stream, peer, broker.clone(), context.clone(), shutdown.clone()));
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
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
        let broker = broker.clone();
        let _ =
            tokio::task::spawn_blocking(move || broker.txns.maintain(&broker.groups, expiration))
                .await;
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
