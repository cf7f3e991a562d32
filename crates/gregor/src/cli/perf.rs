//! `gregor perf produce|consume`: a load generator for any Kafka-protocol
//! cluster, no JVM needed. Reports records/s, MB/s and, for produce, the
//! latency of each acknowledged batch (p50, p99, p99.9, max).

use super::DEFAULT_BOOTSTRAP;
use anyhow::bail;
use bytes::Bytes;
use clap::{Args, Subcommand};
use gregor_protocol::compression::Compression;
use gregor_protocol::records::{decode_batches, BatchBuilder};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum PerfCommand {
    /// Produce records as fast as acknowledgements allow.
    Produce(ProduceArgs),
    /// Read a topic from the beginning as fast as possible.
    Consume(ConsumeArgs),
}

#[derive(Args)]
pub struct ProduceArgs {
    pub topic: String,
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Records to send in total.
    #[arg(long, default_value_t = 1_000_000)]
    pub num_records: u64,
    /// Bytes per record value.
    #[arg(long, default_value_t = 1024)]
    pub record_size: usize,
    /// Records per produce batch.
    #[arg(long, default_value_t = 100)]
    pub batch_records: usize,
    /// 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Concurrent producers (each its own connection), spread over partitions.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
}

#[derive(Args)]
pub struct ConsumeArgs {
    pub topic: String,
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Stop after this many records (default: everything up to the end offsets).
    #[arg(long)]
    pub num_records: Option<u64>,
}

pub async fn run(cmd: PerfCommand) -> anyhow::Result<()> {
    match cmd {
        PerfCommand::Produce(args) => produce(args).await,
        PerfCommand::Consume(args) => consume(args).await,
    }
}

struct WorkerResult {
    records: u64,
    bytes: u64,
    latencies: Vec<Duration>,
}

async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let acks: i16 = match args.acks.as_str() {
        "all" | "-1" => -1,
        "0" => 0,
        "1" => 1,
        other => bail!("--acks must be 0, 1 or all, not '{other}'"),
    };
    let Some(compression) = Compression::from_name(&args.compression) else {
        bail!(
            "--compression must be none, gzip, snappy, lz4 or zstd, not '{}'",
            args.compression
        );
    };
    if args.batch_records == 0 || args.concurrency == 0 {
        bail!("--batch-records and --concurrency must be at least 1");
    }
    let partitions = super::security::connect(&args.bootstrap_server)
        .await?
        .topic_or_create(&args.topic)
        .await?
        .partitions
        .len();
    let value = Bytes::from(vec![b'x'; args.record_size]);
    let batches_total = args.num_records.div_ceil(args.batch_records as u64);
    let started = Instant::now();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reporter = tokio::spawn(report_progress(progress.clone(), started, args.record_size));

    let mut workers = Vec::with_capacity(args.concurrency);
    for worker in 0..args.concurrency {
        let bootstrap = args.bootstrap_server.clone();
        let topic = args.topic.clone();
        let value = value.clone();
        let progress = progress.clone();
        let batch_records = args.batch_records;
        let num_records = args.num_records;
        let concurrency = args.concurrency as u64;
        workers.push(tokio::spawn(async move {
            let mut client = super::security::connect(&bootstrap).await?;
            let mut result = WorkerResult {
                records: 0,
                bytes: 0,
                latencies: Vec::new(),
            };
            let mut batch_index = worker as u64;
            while batch_index < batches_total {
                let first = batch_index * batch_records as u64;
                let count = (num_records - first).min(batch_records as u64);
                let mut builder = BatchBuilder::new(compression);
                let now = now_ms();
                for _ in 0..count {
                    builder.push(now, None, Some(value.clone()), Vec::new());
                }
                let batch = builder.build()?.freeze();
                let partition = (batch_index % partitions as u64) as i32;
                let sent = Instant::now();
                client.produce(&topic, partition, batch, acks).await?;
                result.latencies.push(sent.elapsed());
                result.records += count;
                result.bytes += count * value.len() as u64;
                progress.fetch_add(count, std::sync::atomic::Ordering::Relaxed);
                batch_index += concurrency;
            }
            Ok::<_, anyhow::Error>(result)
        }));
    }
    let mut records = 0;
    let mut bytes = 0;
    let mut latencies = Vec::new();
    for worker in workers {
        let result = worker.await??;
        records += result.records;
        bytes += result.bytes;
        latencies.extend(result.latencies);
    }
    reporter.abort();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "{records} records sent, {:.1} records/sec ({:.2} MB/sec), batch latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        records as f64 / elapsed,
        bytes as f64 / elapsed / 1_048_576.0,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 99.9),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    Ok(())
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut client = super::security::connect(&args.bootstrap_server).await?;
    let topic = client.topic(&args.topic).await?;
    let mut positions = Vec::new();
    let mut remaining_to_end = 0u64;
    for p in &topic.partitions {
        let start = client.list_offset(&args.topic, p.partition, -2).await?;
        let end = client.list_offset(&args.topic, p.partition, -1).await?;
        remaining_to_end += (end - start).max(0) as u64;
        positions.push((p.partition, start, end));
    }
    let target = args.num_records.unwrap_or(remaining_to_end);
    let started = Instant::now();
    let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reporter = tokio::spawn(report_progress(progress.clone(), started, 0));
    let (mut records, mut bytes) = (0u64, 0u64);
    while records < target {
        let mut progressed = false;
        for (partition, next, end) in positions.iter_mut() {
            if *next >= *end && args.num_records.is_none() {
                continue;
            }
            let (data, _) = client.fetch(&args.topic, *partition, *next, 100).await?;
            bytes += data.len() as u64;
            for batch in decode_batches(&data)? {
                let fresh = batch.records.iter().filter(|r| r.offset >= *next).count() as u64;
                records += fresh;
                progress.fetch_add(fresh, std::sync::atomic::Ordering::Relaxed);
                *next = (*next).max(batch.header.last_offset() + 1);
                progressed |= fresh > 0;
            }
        }
        if !progressed
            && args.num_records.is_none()
            && positions.iter().all(|(_, next, end)| next >= end)
        {
            break;
        }
    }
    reporter.abort();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{records} records consumed, {:.1} records/sec ({:.2} MB/sec)",
        records as f64 / elapsed,
        bytes as f64 / elapsed / 1_048_576.0
    );
    Ok(())
}

/// One progress line a second on stderr.
async fn report_progress(
    done: std::sync::Arc<std::sync::atomic::AtomicU64>,
    started: Instant,
    record_size: usize,
) {
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = done.load(std::sync::atomic::Ordering::Relaxed);
        let rate = now - last;
        last = now;
        if record_size > 0 {
            eprintln!(
                "{now} records, {rate} records/sec ({:.2} MB/sec), {:.0}s elapsed",
                (rate as usize * record_size) as f64 / 1_048_576.0,
                started.elapsed().as_secs_f64()
            );
        } else {
            eprintln!(
                "{now} records, {rate} records/sec, {:.0}s elapsed",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// The `p`-th percentile in milliseconds of sorted durations.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // The small epsilon keeps 99.9% of 1000 at rank 999 despite float error.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let values: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 50.0), 500.0);
        assert_eq!(percentile(&values, 99.0), 990.0);
        assert_eq!(percentile(&values, 99.9), 999.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
