//! Bytes in and out for the overview, read from the broker's own metrics
//! (`kafka_server_brokertopicmetrics_bytesin_total` / `bytesout_total`,
//! summed over the per-topic series) by rendering `broker.metrics` and
//! reading the text: the console needs no handle on the families, and
//! shows nothing until a broker registers them.

use crate::server::Broker;

pub struct Totals {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

const BYTES_IN: &str = "kafka_server_brokertopicmetrics_bytesin_total";
const BYTES_OUT: &str = "kafka_server_brokertopicmetrics_bytesout_total";

/// The totals, or `None` while the broker exports neither family.
pub fn rates(broker: &Broker) -> Option<Totals> {
    totals(&broker.metrics.render(&[]))
}

fn totals(text: &str) -> Option<Totals> {
    let (mut bytes_in, mut bytes_out) = (None, None);
    for line in text.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or(series);
        // The per-topic series only: Kafka also has a topic-less total,
        // which would count everything twice.
        if !series.contains("topic=") && series.contains('{') {
            continue;
        }
        let slot = match name {
            BYTES_IN => &mut bytes_in,
            BYTES_OUT => &mut bytes_out,
            _ => continue,
        };
        let value = value.parse::<f64>().unwrap_or(0.0) as u64;
        *slot = Some(slot.unwrap_or(0) + value);
    }
    if bytes_in.is_none() && bytes_out.is_none() {
        return None;
    }
    Some(Totals {
        bytes_in: bytes_in.unwrap_or(0),
        bytes_out: bytes_out.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_per_topic_series() {
        let text = "# TYPE x counter\n\
            kafka_server_brokertopicmetrics_bytesin_total{topic=\"a\"} 10\n\
            kafka_server_brokertopicmetrics_bytesin_total{topic=\"b\"} 5\n\
            kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 7\n";
        let t = totals(text).unwrap();
        assert_eq!((t.bytes_in, t.bytes_out), (15, 7));
        assert!(totals("other_total 3\n").is_none());
    }
}
