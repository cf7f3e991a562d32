//! `gregor produce TOPIC`: each line of stdin becomes a record.

use super::DEFAULT_BOOTSTRAP;
use anyhow::{anyhow, bail};
use bytes::Bytes;
use clap::Args;
use gregor_client::partitioner::partition_for_key;
use gregor_client::Client;
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{BatchBuilder, Header};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Records per batch and bytes per batch before it is sent.
const BATCH_RECORDS: usize = 500;
const BATCH_BYTES: usize = 16 * 1024;

#[derive(Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Split each line into key and value at the first occurrence of SEP.
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// 0, 1, all (= -1).
    #[arg(long, default_value = "all", allow_hyphen_values = true)]
    pub acks: String,
    /// Send every record to this partition (default: by key hash, or spread).
    #[arg(long)]
    pub partition: Option<i32>,
    /// A header added to every record, KEY=VALUE (repeatable).
    #[arg(long = "header", value_name = "KEY=VALUE")]
    pub headers: Vec<String>,
}

struct Pending {
    batch: BatchBuilder,
    bytes: usize,
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let acks: i16 = match args.acks.as_str() {
        "all" | "-1" => -1,
        "0" => 0,
        "1" => 1,
        other => bail!("--acks must be 0, 1 or all, not '{other}'"),
    };
    let compression = Compression::from_name(&args.compression).ok_or_else(|| {
        anyhow!(
            "--compression must be none, gzip, snappy, lz4 or zstd, not '{}'",
            args.compression
        )
    })?;
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: Some(Bytes::from(v.to_string())),
                })
                .ok_or_else(|| anyhow!("--header expects KEY=VALUE, got '{h}'"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut client = Client::connect(&args.bootstrap_server).await?;
    let partitions = client.topic_or_create(&args.topic).await?.partitions.len() as i32;
    if let Some(p) = args.partition {
        if p < 0 || p >= partitions {
            bail!(
                "topic '{}' has no partition {p} (it has {partitions})",
                args.topic
            );
        }
    }

    let mut pending: BTreeMap<i32, Pending> = BTreeMap::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut sent = 0u64;
    let mut round_robin = 0i32;
    while let Some(line) = lines.next_line().await? {
        let (key, value) = match &args.key_separator {
            Some(sep) => match line.split_once(sep.as_str()) {
                Some((k, v)) => (Some(Bytes::from(k.to_string())), Bytes::from(v.to_string())),
                None => (None, Bytes::from(line)),
            },
            None => (None, Bytes::from(line)),
        };
        let partition = match (args.partition, &key) {
            (Some(p), _) => p,
            (None, Some(k)) => partition_for_key(k, partitions),
            (None, None) => {
                round_robin = (round_robin + 1) % partitions;
                round_robin
            }
        };
        let size = key.as_ref().map_or(0, Bytes::len) + value.len();
        let entry = pending.entry(partition).or_insert_with(|| Pending {
            batch: BatchBuilder::new(compression),
            bytes: 0,
        });
        entry
            .batch
            .push(now_ms(), key, Some(value), headers.clone());
        entry.bytes += size;
        if entry.batch.len() >= BATCH_RECORDS || entry.bytes >= BATCH_BYTES {
            if let Some(full) = pending.remove(&partition) {
                sent += send(&mut client, &args.topic, partition, full, acks).await?;
            }
        }
    }
    for (partition, batch) in std::mem::take(&mut pending) {
        sent += send(&mut client, &args.topic, partition, batch, acks).await?;
    }
    eprintln!("Produced {sent} records to {}.", args.topic);
    Ok(())
}

async fn send(
    client: &mut Client,
    topic: &str,
    partition: i32,
    pending: Pending,
    acks: i16,
) -> anyhow::Result<u64> {
    let count = pending.batch.len() as u64;
    let bytes = pending.batch.build()?.freeze();
    client.produce(topic, partition, bytes, acks).await?;
    Ok(count)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
