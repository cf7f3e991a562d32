//! `gregor consume TOPIC`: print records from one or all partitions. No
//! consumer group: positions live only in this process.

use super::DEFAULT_BOOTSTRAP;
use anyhow::bail;
use clap::Args;
use gregor_client::{Client, KafkaError, EARLIEST, LATEST};
use gregor_protocol::error_codes::OFFSET_OUT_OF_RANGE;
use gregor_protocol::records::{decode_batches, Record};
use std::collections::BTreeMap;
use std::io::{BufWriter, ErrorKind, Write};
use std::pin::pin;
use std::time::{Duration, Instant};

/// Longest a fetch waits on the broker for data before we look at the clock.
const MAX_WAIT_MS: u64 = 500;

#[derive(Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Start at the earliest offset (default: only new records).
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Start at this offset: a number, `earliest` or `latest` (needs --partition).
    #[arg(long, requires = "partition", value_parser = parse_start, allow_hyphen_values = true)]
    pub offset: Option<Start>,
    /// Only this partition (default: all).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Exit after this many records.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Exit when no record arrives for this long (default: wait forever).
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Output template: %k key, %v value, %p partition, %o offset,
    /// %t timestamp, %h headers (k=v,...), %% a percent sign. Null keys and
    /// values print as `null`.
    #[arg(long, default_value = "%v")]
    pub format: String,
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    Offset(i64),
}

fn parse_start(s: &str) -> Result<Start, String> {
    match s {
        "earliest" => Ok(Start::Earliest),
        "latest" => Ok(Start::Latest),
        n => match n.parse::<i64>() {
            Ok(offset) if offset >= 0 => Ok(Start::Offset(offset)),
            _ => Err(format!(
                "'{n}' is not an offset (a number >= 0, earliest or latest)"
            )),
        },
    }
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut client = super::security::connect(&args.bootstrap_server).await?;
    let topic = client.topic(&args.topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions.iter().any(|i| i.partition == p) => vec![p],
        Some(p) => bail!(
            "topic '{}' has no partition {p} (it has {})",
            args.topic,
            topic.partitions.len()
        ),
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let start = match (args.offset, args.from_beginning) {
        (Some(start), _) => start,
        (None, true) => Start::Earliest,
        (None, false) => Start::Latest,
    };
    let mut positions = start_positions(&mut client, &args.topic, &partitions, start).await?;

    let mut out = BufWriter::new(std::io::stdout());
    let mut printed = 0u64;
    let outcome = consume(&mut client, &args, &mut positions, &mut out, &mut printed).await;
    match outcome.and_then(|()| out.flush().map_err(anyhow::Error::from)) {
        // The reader went away (`| head`): that is how such pipelines end,
        // quietly (records still buffered were not read, so no count).
        Err(err) if is_broken_pipe(&err) => Ok(()),
        Err(err) => Err(err),
        Ok(()) => {
            eprintln!("Consumed {printed} records.");
            Ok(())
        }
    }
}

async fn start_positions(
    client: &mut Client,
    topic: &str,
    partitions: &[i32],
    start: Start,
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let query = match start {
        Start::Offset(offset) => return Ok(partitions.iter().map(|&p| (p, offset)).collect()),
        Start::Earliest => EARLIEST,
        Start::Latest => LATEST,
    };
    let queries: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, query)).collect();
    client.list_offsets(topic, &queries).await
}

/// Fetches and prints until --max-messages, --timeout-ms or Ctrl-C.
async fn consume(
    client: &mut Client,
    args: &ConsumeArgs,
    positions: &mut BTreeMap<i32, i64>,
    out: &mut impl Write,
    printed: &mut u64,
) -> anyhow::Result<()> {
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let wait_ms = args.timeout_ms.unwrap_or(MAX_WAIT_MS).clamp(1, MAX_WAIT_MS) as i32;
    if args.max_messages == Some(0) {
        return Ok(());
    }
    let mut last_data = Instant::now();
    let mut interrupted = pin!(super::ctrl_c());
    loop {
        let request: Vec<(i32, i64)> = positions.iter().map(|(p, o)| (*p, *o)).collect();
        let fetched = tokio::select! {
            fetched = client.fetch_partitions(&args.topic, &request, wait_ms) => fetched,
            _ = &mut interrupted => return Ok(()),
        };
        let fetched = match fetched {
            Ok(fetched) => fetched,
            Err(err) => {
                recover_out_of_range(client, &args.topic, positions, err).await?;
                continue;
            }
        };
        let mut got_any = false;
        for partition in fetched {
            let Some(next) = positions.get_mut(&partition.partition) else {
                continue;
            };
            for batch in decode_batches(&partition.records)? {
                if !batch.header.is_control() {
                    for record in &batch.records {
                        // A compressed batch may start before the asked offset.
                        if record.offset < *next {
                            continue;
                        }
                        *next = record.offset + 1;
                        got_any = true;
                        writeln!(out, "{}", render(&args.format, partition.partition, record))?;
                        *printed += 1;
                        if args.max_messages.is_some_and(|max| *printed >= max) {
                            return Ok(());
                        }
                    }
                }
                // Control batches, and batches compaction emptied, still
                // take offsets: step past them.
                *next = (*next).max(batch.header.last_offset() + 1);
            }
        }
        out.flush()?;
        if got_any {
            last_data = Instant::now();
        } else if idle_limit.is_some_and(|limit| last_data.elapsed() >= limit) {
            return Ok(());
        }
    }
}

/// After OFFSET_OUT_OF_RANGE: a position retention has deleted moves to the
/// log start (with a note), as a Java consumer with `earliest` reset does;
/// one past the end is the user's mistake and ends the command.
async fn recover_out_of_range(
    client: &mut Client,
    topic: &str,
    positions: &mut BTreeMap<i32, i64>,
    err: anyhow::Error,
) -> anyhow::Result<()> {
    let out_of_range = err
        .downcast_ref::<KafkaError>()
        .is_some_and(|e| e.code == OFFSET_OUT_OF_RANGE);
    if !out_of_range {
        return Err(err);
    }
    let partitions: Vec<i32> = positions.keys().copied().collect();
    let starts = start_positions(client, topic, &partitions, Start::Earliest).await?;
    let ends = start_positions(client, topic, &partitions, Start::Latest).await?;
    let mut moved = false;
    for (partition, next) in positions.iter_mut() {
        let (Some(&start), Some(&end)) = (starts.get(partition), ends.get(partition)) else {
            continue;
        };
        if *next < start {
            eprintln!(
                "gregor: {topic}-{partition} offset {next} was deleted; continuing at {start}"
            );
            *next = start;
            moved = true;
        } else if *next > end {
            bail!(KafkaError {
                code: OFFSET_OUT_OF_RANGE,
                message: format!(
                    "offset {next} is past the end of {topic}-{partition} (offsets {start}..{end})"
                ),
            });
        }
    }
    if moved {
        Ok(())
    } else {
        Err(err)
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == ErrorKind::BrokenPipe)
}

fn text(bytes: &Option<bytes::Bytes>) -> String {
    match bytes {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "null".to_string(),
    }
}

/// Fills the `--format` template for one record.
pub fn render(format: &str, partition: i32, record: &Record) -> String {
    let mut out = String::with_capacity(format.len() + 32);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('k') => out.push_str(&text(&record.key)),
            Some('v') => out.push_str(&text(&record.value)),
            Some('p') => out.push_str(&partition.to_string()),
            Some('o') => out.push_str(&record.offset.to_string()),
            Some('t') => out.push_str(&record.timestamp.to_string()),
            Some('h') => {
                let headers: Vec<String> = record
                    .headers
                    .iter()
                    .map(|h| format!("{}={}", h.key, text(&h.value)))
                    .collect();
                out.push_str(&headers.join(","));
            }
            Some('%') => out.push('%'),
            // Unknown directives are printed as written.
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use gregor_protocol::records::Header;

    #[test]
    fn templates_render_every_field() {
        let record = Record {
            offset: 42,
            timestamp: 1700,
            key: None,
            value: Some(Bytes::from_static(b"hello")),
            headers: vec![
                Header {
                    key: "a".into(),
                    value: Some(Bytes::from_static(b"1")),
                },
                Header {
                    key: "b".into(),
                    value: None,
                },
            ],
        };
        assert_eq!(
            render("%p/%o %k=%v @%t [%h] 100%% %x %", 3, &record),
            "3/42 null=hello @1700 [a=1,b=null] 100% %x %"
        );
    }

    #[test]
    fn start_offsets_parse() {
        assert_eq!(parse_start("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_start("latest"), Ok(Start::Latest));
        assert_eq!(parse_start("17"), Ok(Start::Offset(17)));
        assert!(parse_start("-3").is_err());
        assert!(parse_start("soon").is_err());
    }
}
