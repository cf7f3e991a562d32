//! `gregor dev-cluster`: a local cluster of combined broker+controller
//! nodes for development, each a real `gregor server` process with a
//! Kafka-style server.properties, formatted for one cluster id. Point
//! clients at the printed bootstrap servers; Ctrl-C stops every node.

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

struct Node {
    id: u16,
    client_port: u16,
    controller_port: u16,
    dir: PathBuf,
}

fn nodes(args: &DevClusterArgs) -> anyhow::Result<Vec<Node>> {
    if !(1..=9).contains(&args.nodes) {
        bail!("--nodes must be between 1 and 9, got {}", args.nodes);
    }
    let last = u32::from(args.base_port) + 2 * u32::from(args.nodes);
    if last > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {} nodes",
            args.base_port,
            args.nodes
        );
    }
    Ok((1..=args.nodes)
        .map(|id| {
            let client_port = args.base_port + 2 * (id - 1);
            Node {
                id,
                client_port,
                controller_port: client_port + 1,
                dir: args.dir.join(format!("node-{id}")),
            }
        })
        .collect())
}

/// The node's server.properties: Kafka's own settings for a combined node.
fn properties(node: &Node, voters: &str, host: &str) -> String {
    format!(
        "# Written by `gregor dev-cluster`.\n\
         process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://{host}:{client},CONTROLLER://{host}:{controller}\n\
         advertised.listeners=PLAINTEXT://{host}:{client}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         log.dirs={data}\n",
        id = node.id,
        client = node.client_port,
        controller = node.controller_port,
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
    for node in &nodes {
        std::fs::create_dir_all(&node.dir)?;
        let config = node.dir.join("server.properties");
        std::fs::write(&config, properties(node, &voters, &args.host))?;
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
        .map(|n| format!("{}:{}", args.host, n.client_port))
        .collect::<Vec<_>>()
        .join(",");
    println!("cluster {cluster_id}: {} nodes", nodes.len());
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
