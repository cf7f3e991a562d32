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
use std::pin::pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};

/// A batch is sent once it holds this many records or bytes.
const BATCH_RECORDS: usize = 500;
const BATCH_BYTES: usize = 16 * 1024;
/// When stdin pauses this long, what is batched is sent, so typed lines
/// reach the broker at once (like the Java producer's linger.ms).
const LINGER: Duration = Duration::from_millis(50);

#[derive(Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Split each line into key and value at the first occurrence of SEP
    /// (lines without SEP get a null key).
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

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let acks = parse_acks(&args.acks)?;
    let compression = Compression::from_name(&args.compression).ok_or_else(|| {
        anyhow!(
            "--compression must be none, gzip, snappy, lz4 or zstd, not '{}'",
            args.compression
        )
    })?;
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.key_separator.as_deref() == Some("") {
        bail!("--key-separator must not be empty");
    }

    let mut client = super::security::connect(&args.bootstrap_server).await?;
    let partitions = i32::try_from(client.topic_or_create(&args.topic).await?.partitions.len())?;
    if partitions == 0 {
        bail!("topic '{}' has no partitions", args.topic);
    }
    if let Some(p) = args.partition {
        if p < 0 || p >= partitions {
            bail!(
                "topic '{}' has no partition {p} (it has {partitions})",
                args.topic
            );
        }
    }

    let mut producer = Producer {
        client,
        topic: args.topic.clone(),
        acks,
        compression,
        pending: BTreeMap::new(),
        placement: Placement::new(args.partition, partitions),
        sent: 0,
    };
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let mut stdin = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut interrupted = pin!(super::ctrl_c());
    loop {
        let read = stdin.read_until(b'\n', &mut line);
        // `read_until` keeps what it read in `line` if the linger timer wins,
        // so a half-read line is completed on the next turn.
        let n = tokio::select! {
            n = read => n?,
            _ = tokio::time::sleep(LINGER), if !producer.pending.is_empty() => {
                producer.flush_all().await?;
                continue;
            }
            _ = &mut interrupted => break,
        };
        if n == 0 && line.is_empty() {
            break;
        }
        let (key, value) = split_record(trim_newline(&line), separator);
        producer.push(now_ms(), key, value, &headers).await?;
        line.clear();
    }
    producer.flush_all().await?;
    eprintln!("Produced {} records to {}.", producer.sent, args.topic);
    Ok(())
}

/// A batch being filled and roughly how many bytes it holds.
struct Pending {
    batch: BatchBuilder,
    bytes: usize,
}

/// Batches being filled, per partition, and where they go.
struct Producer {
    client: Client,
    topic: String,
    acks: i16,
    compression: Compression,
    pending: BTreeMap<i32, Pending>,
    placement: Placement,
    sent: u64,
}

impl Producer {
    async fn push(
        &mut self,
        timestamp: i64,
        key: Option<Bytes>,
        value: Bytes,
        headers: &[Header],
    ) -> anyhow::Result<()> {
        let partition = self.placement.partition_for(key.as_deref());
        let size = key.as_ref().map_or(0, Bytes::len)
            + value.len()
            + headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>();
        // A record that would overflow the batch starts a new one, so a huge
        // line travels alone (and alone meets MESSAGE_TOO_LARGE).
        if self
            .pending
            .get(&partition)
            .is_some_and(|p| !p.batch.is_empty() && p.bytes + size > BATCH_BYTES)
        {
            self.flush(partition).await?;
        }
        let compression = self.compression;
        let pending = self.pending.entry(partition).or_insert_with(|| Pending {
            batch: BatchBuilder::new(compression),
            bytes: 0,
        });
        pending
            .batch
            .push(timestamp, key, Some(value), headers.to_vec());
        pending.bytes += size;
        if pending.batch.len() >= BATCH_RECORDS || pending.bytes >= BATCH_BYTES {
            self.flush(partition).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, partition: i32) -> anyhow::Result<()> {
        let Some(Pending { batch, .. }) = self.pending.remove(&partition) else {
            return Ok(());
        };
        if batch.is_empty() {
            return Ok(());
        }
        let count = batch.len() as u64;
        let bytes = batch.build()?.freeze();
        self.client
            .produce(&self.topic, partition, bytes, self.acks)
            .await?;
        self.sent += count;
        self.placement.batch_sent(partition);
        Ok(())
    }

    async fn flush_all(&mut self) -> anyhow::Result<()> {
        let partitions: Vec<i32> = self.pending.keys().copied().collect();
        for partition in partitions {
            self.flush(partition).await?;
        }
        Ok(())
    }
}

/// The Java client's default placement: a fixed partition if asked, keyed
/// records by murmur2, and unkeyed ones "sticky" (to one partition until its
/// batch is sent, then the next), which keeps batches full.
struct Placement {
    fixed: Option<i32>,
    partitions: i32,
    sticky: i32,
}

impl Placement {
    fn new(fixed: Option<i32>, partitions: i32) -> Placement {
        Placement {
            fixed,
            partitions,
            sticky: 0,
        }
    }

    fn partition_for(&self, key: Option<&[u8]>) -> i32 {
        match (self.fixed, key) {
            (Some(p), _) => p,
            (None, Some(key)) => partition_for_key(key, self.partitions),
            (None, None) => self.sticky,
        }
    }

    fn batch_sent(&mut self, partition: i32) {
        if partition == self.sticky {
            self.sticky = (self.sticky + 1) % self.partitions.max(1);
        }
    }
}

fn parse_acks(acks: &str) -> anyhow::Result<i16> {
    match acks {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => bail!("--acks must be 0, 1 or all, not '{other}'"),
    }
}

fn parse_header(h: &str) -> anyhow::Result<Header> {
    h.split_once('=')
        .map(|(k, v)| Header {
            key: k.to_string(),
            value: Some(Bytes::from(v.to_string())),
        })
        .ok_or_else(|| anyhow!("--header expects KEY=VALUE, got '{h}'"))
}

/// A line without its "\n" or "\r\n", as Java's readLine gives it.
fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// (key, value): split at the first separator, or the whole line as value
/// with a null key. Bytes, not text: input need not be UTF-8.
fn split_record(line: &[u8], separator: Option<&[u8]>) -> (Option<Bytes>, Bytes) {
    let at = separator.filter(|s| !s.is_empty()).and_then(|s| {
        line.windows(s.len())
            .position(|w| w == s)
            .map(|i| (i, s.len()))
    });
    match at {
        Some((i, len)) => (
            Some(Bytes::copy_from_slice(&line[..i])),
            Bytes::copy_from_slice(&line[i + len..]),
        ),
        None => (None, Bytes::copy_from_slice(line)),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_at_the_first_separator_only() {
        assert_eq!(
            split_record(b"k::v::w", Some(b"::")),
            (Some(Bytes::from_static(b"k")), Bytes::from_static(b"v::w"))
        );
        assert_eq!(
            split_record(b"no-sep", Some(b"::")),
            (None, Bytes::from_static(b"no-sep"))
        );
        assert_eq!(
            split_record(b":v", Some(b":")),
            (Some(Bytes::new()), Bytes::from_static(b"v"))
        );
        assert_eq!(
            split_record(b"a\xffb", None),
            (None, Bytes::from_static(b"a\xffb"))
        );
    }

    #[test]
    fn newlines_are_trimmed_like_read_line() {
        assert_eq!(trim_newline(b"a\r\n"), b"a");
        assert_eq!(trim_newline(b"a\n"), b"a");
        assert_eq!(trim_newline(b"a"), b"a");
        assert_eq!(trim_newline(b"a\r"), b"a");
        assert_eq!(trim_newline(b"\n"), b"");
    }

    #[test]
    fn placement_follows_the_java_default_partitioner() {
        let mut placement = Placement::new(None, 3);
        // murmur2("21") & 0x7fffffff = 1173551340; % 3 = 0.
        assert_eq!(placement.partition_for(Some(b"21")), 1_173_551_340 % 3);
        assert_eq!(placement.partition_for(None), 0);
        placement.batch_sent(1);
        assert_eq!(placement.partition_for(None), 0);
        placement.batch_sent(0);
        assert_eq!(placement.partition_for(None), 1);
        placement.batch_sent(1);
        placement.batch_sent(2);
        assert_eq!(placement.partition_for(None), 0);
        let fixed = Placement::new(Some(2), 3);
        assert_eq!(fixed.partition_for(Some(b"21")), 2);
        assert_eq!(fixed.partition_for(None), 2);
    }

    #[test]
    fn acks_and_headers_parse() {
        assert_eq!(parse_acks("all").unwrap(), -1);
        assert_eq!(parse_acks("-1").unwrap(), -1);
        assert_eq!(parse_acks("0").unwrap(), 0);
        assert!(parse_acks("2").is_err());
        let h = parse_header("a=b=c").unwrap();
        assert_eq!(
            (h.key.as_str(), h.value.as_deref()),
            ("a", Some(&b"b=c"[..]))
        );
        assert!(parse_header("novalue").is_err());
    }
}
