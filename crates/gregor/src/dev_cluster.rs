//! `gregor dev-cluster`: a local cluster for development, of combined
//! broker+controller nodes (`--nodes N`) or of dedicated controllers and
//! brokers (`--controllers N --brokers M`), each a real `gregor server`
//! process with a Kafka-style server.properties, formatted for one cluster
//! id. Point clients at the printed bootstrap servers; Ctrl-C stops every
//! node.

use anyhow::{bail, Context};
use clap::Args;
use gregor_broker::meta_properties;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Args)]
pub struct DevClusterArgs {
    /// How many combined broker+controller nodes (1 to 9).
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// How many dedicated controllers (process.roles=controller), nodes
    /// 1..N; with --brokers, instead of --nodes.
    #[arg(long, requires = "brokers", conflicts_with = "nodes")]
    controllers: Option<u16>,
    /// How many dedicated brokers (process.roles=broker), the nodes after
    /// the controllers.
    #[arg(long, requires = "controllers", conflicts_with = "nodes")]
    brokers: Option<u16>,
    /// Where each node keeps its config, data and log (node-N/ inside).
    #[arg(long, value_name = "DIR", default_value = "gregor-dev-cluster")]
    dir: PathBuf,
    /// Node N's client listener is BASE+2(N-1), its controller listener
    /// the port after it.
    #[arg(long, value_name = "PORT", default_value_t = 9092)]
    base_port: u16,
    /// The address every node listens on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Combined,
    Controller,
    Broker,
}

struct Node {
    id: u16,
    role: Role,
    client_port: u16,
    controller_port: u16,
    dir: PathBuf,
}

fn nodes(args: &DevClusterArgs) -> anyhow::Result<Vec<Node>> {
    let (count, controllers) = match (args.controllers, args.brokers) {
        (Some(controllers), Some(brokers)) => {
            if controllers == 0 || brokers == 0 || controllers + brokers > 9 {
                bail!(
                    "--controllers and --brokers must be at least 1 each and 9 together, got {controllers} and {brokers}"
                );
            }
            (controllers + brokers, Some(controllers))
        }
        _ => {
            if !(1..=9).contains(&args.nodes) {
                bail!("--nodes must be between 1 and 9, got {}", args.nodes);
            }
            (args.nodes, None)
        }
    };
    let last = u32::from(args.base_port) + 2 * u32::from(count);
    if last > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {} nodes",
            args.base_port,
            count
        );
    }
    Ok((1..=count)
        .map(|id| {
            let client_port = args.base_port + 2 * (id - 1);
            let role = match controllers {
                None => Role::Combined,
                Some(c) if id <= c => Role::Controller,
                Some(_) => Role::Broker,
            };
            Node {
                id,
                role,
                client_port,
                controller_port: client_port + 1,
                dir: args.dir.join(format!("node-{id}")),
            }
        })
        .collect())
}

/// The node's server.properties: Kafka's own settings for its role. The
/// internal topics get as many replicas as there are brokers, up to
/// Kafka's 3 (its defaults would refuse to create them on fewer).
fn properties(node: &Node, voters: &str, host: &str, brokers: usize) -> String {
    let client = node.client_port;
    let controller = node.controller_port;
    let (roles, listeners) = match node.role {
        Role::Combined => (
            "broker,controller",
            format!("PLAINTEXT://{host}:{client},CONTROLLER://{host}:{controller}"),
        ),
        Role::Controller => ("controller", format!("CONTROLLER://{host}:{controller}")),
        Role::Broker => ("broker", format!("PLAINTEXT://{host}:{client}")),
    };
    let broker_settings = if node.role == Role::Controller {
        String::new()
    } else {
        let rf = brokers.clamp(1, 3);
        format!(
            "advertised.listeners=PLAINTEXT://{host}:{client}\n\
             inter.broker.listener.name=PLAINTEXT\n\
             offsets.topic.replication.factor={rf}\n\
             transaction.state.log.replication.factor={rf}\n\
             transaction.state.log.min.isr={min_isr}\n",
            min_isr = rf.min(2)
        )
    };
    format!(
        "# Written by `gregor dev-cluster`.\n\
         process.roles={roles}\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners={listeners}\n\
         {broker_settings}\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n",
        id = node.id,
        data = node.dir.join("data").display(),
    )
}

fn gregor(args: &[&str], log: Option<&Path>) -> anyhow::Result<Command> {
    let exe = std::env::current_exe().context("cannot find the gregor executable")?;
    let mut command = Command::new(exe);
    command.args(args).stdin(Stdio::null());
    if let Some(log) = log {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot write {}", log.display()))?;
        command.stdout(file.try_clone()?).stderr(file);
    }
    Ok(command)
}

pub fn run(args: DevClusterArgs) -> anyhow::Result<()> {
    let nodes = nodes(&args)?;
    let voters = nodes
        .iter()
        .filter(|n| n.role != Role::Broker)
        .map(|n| format!("{}@{}:{}", n.id, args.host, n.controller_port))
        .collect::<Vec<_>>()
        .join(",");
    // One cluster id for every node, kept across runs.
    let id_file = args.dir.join("cluster.id");
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let cluster_id = match std::fs::read_to_string(&id_file) {
        Ok(id) => id.trim().to_string(),
        Err(_) => {
            let id = meta_properties::random_id();
            std::fs::write(&id_file, &id)?;
            id
        }
    };
    let brokers = nodes.iter().filter(|n| n.role != Role::Controller).count();
    for node in &nodes {
        std::fs::create_dir_all(&node.dir)?;
        let config = node.dir.join("server.properties");
        std::fs::write(&config, properties(node, &voters, &args.host, brokers))?;
        let config = config.to_string_lossy().into_owned();
        let status = gregor(
            &["storage", "format", "-t", &cluster_id, "-c", &config, "-g"],
            None,
        )?
        .status()?;
        if !status.success() {
            bail!("formatting node {} failed", node.id);
        }
    }
    let mut children: Vec<(u16, Child)> = Vec::new();
    for node in &nodes {
        let config = node.dir.join("server.properties");
        let config = config.to_string_lossy().into_owned();
        let log = node.dir.join("server.log");
        match gregor(&["server", "--config", &config], Some(&log))?.spawn() {
            Ok(child) => children.push((node.id, child)),
            Err(err) => {
                stop(&mut children);
                return Err(err).context(format!("cannot start node {}", node.id));
            }
        }
    }
    let bootstrap = nodes
        .iter()
        .filter(|n| n.role != Role::Controller)
        .map(|n| format!("{}:{}", args.host, n.client_port))
        .collect::<Vec<_>>()
        .join(",");
    let count = |role| nodes.iter().filter(|n| n.role == role).count();
    match count(Role::Combined) {
        0 => println!(
            "cluster {cluster_id}: {} controllers, {} brokers",
            count(Role::Controller),
            count(Role::Broker)
        ),
        n => println!("cluster {cluster_id}: {n} nodes"),
    }
    println!("bootstrap.servers={bootstrap}");
    println!(
        "logs: {}/node-N/server.log; Ctrl-C stops the cluster",
        args.dir.display()
    );
    let result = supervise(&mut children);
    stop(&mut children);
    result
}

/// Waits for Ctrl-C or SIGTERM; a node that exits on its own is reported.
fn supervise(children: &mut [(u16, Child)]) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut reported = vec![false; children.len()];
        loop {
            tokio::select! {
                _ = term.recv() => return Ok(()),
                result = tokio::signal::ctrl_c() => return result.map_err(anyhow::Error::from),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            for (i, (id, child)) in children.iter_mut().enumerate() {
                if let Ok(Some(status)) = child.try_wait() {
                    if !reported[i] {
                        reported[i] = true;
                        eprintln!("gregor: node {id} exited ({status}); see its server.log");
                    }
                }
            }
            if reported.iter().all(|r| *r) {
                bail!("every node has exited");
            }
        }
    })
}

/// SIGTERM every node (a clean, controlled shutdown), then wait.
fn stop(children: &mut [(u16, Child)]) {
    for (_, child) in children.iter_mut() {
        if let Ok(pid) = i32::try_from(child.id()) {
            // `kill` the process we started; an error means it is already gone.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
    for (id, child) in children.iter_mut() {
        for _ in 0..100 {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Ok(None) = child.try_wait() {
            eprintln!("gregor: node {id} did not stop in 10 s; killing it");
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
