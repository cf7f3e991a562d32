//! `gregor consume TOPIC`: print records from one or all partitions.

use super::DEFAULT_BOOTSTRAP;
use anyhow::bail;
use clap::Args;
use gregor_client::Client;
use gregor_protocol::records::{decode_batches, Record};
use std::io::Write;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Broker(s) to bootstrap from, comma-separated host:port.
    #[arg(long, default_value = DEFAULT_BOOTSTRAP)]
    pub bootstrap_server: String,
    /// Start at the earliest offset (default: only new records).
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Start at this offset (needs --partition).
    #[arg(long, requires = "partition")]
    pub offset: Option<i64>,
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

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.bootstrap_server).await?;
    let topic = client.topic(&args.topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if topic.partitions.iter().any(|i| i.partition == p) => vec![p],
        Some(p) => bail!("topic '{}' has no partition {p}", args.topic),
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    let mut positions = Vec::with_capacity(partitions.len());
    for &p in &partitions {
        let start = match (args.offset, args.from_beginning) {
            (Some(offset), _) => offset,
            (None, true) => client.list_offset(&args.topic, p, -2).await?,
            (None, false) => client.list_offset(&args.topic, p, -1).await?,
        };
        positions.push((p, start));
    }

    let mut printed = 0u64;
    let mut last_data = Instant::now();
    let stdout = std::io::stdout();
    // With several partitions, poll each briefly in turn; with one, long-poll.
    let wait_ms = if positions.len() == 1 { 500 } else { 100 };
    loop {
        let mut got_any = false;
        for (partition, next) in positions.iter_mut() {
            let (records, _) = client
                .fetch(&args.topic, *partition, *next, wait_ms)
                .await?;
            for batch in decode_batches(&records)? {
                if batch.header.is_control() {
                    *next = batch.header.last_offset() + 1;
                    continue;
                }
                for record in batch.records {
                    if record.offset < *next {
                        continue;
                    }
                    *next = record.offset + 1;
                    got_any = true;
                    let mut out = stdout.lock();
                    writeln!(out, "{}", render(&args.format, *partition, &record))?;
                    printed += 1;
                    if args.max_messages.is_some_and(|max| printed >= max) {
                        return Ok(());
                    }
                }
            }
        }
        if got_any {
            last_data = Instant::now();
        } else if args
            .timeout_ms
            .is_some_and(|t| last_data.elapsed() >= Duration::from_millis(t))
        {
            return Ok(());
        }
    }
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
            render("%p/%o %k=%v @%t [%h] 100%%", 3, &record),
            "3/42 null=hello @1700 [a=1,b=null] 100%"
        );
    }
}
