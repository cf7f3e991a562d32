//! The OTLP metrics payload of a PushTelemetry request (KIP-714): the
//! subset of opentelemetry-proto's `metrics/v1/metrics.proto` and
//! `common/v1/common.proto` needed to read gauges and sums, declared by
//! hand with prost's derive. Field numbers are the .proto's; the fields
//! left out (histograms, summaries, exemplars, schema URLs) are skipped by
//! the decoder as unknown fields.
//!
//! Hand-declared because the opentelemetry-proto crate brings the
//! OpenTelemetry SDK and tonic with its message types, and generating them
//! with prost-build needs `protoc` at build time.

use prost::Message;

pub use prost::Message as ProstMessage;

#[derive(Clone, PartialEq, Message)]
pub struct MetricsData {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(oneof = "Data", tags = "5, 7")]
    pub data: Option<Data>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Data {
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    #[prost(message, tag = "7")]
    Sum(Sum),
}

#[derive(Clone, PartialEq, Message)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

/// `aggregation_temporality` values.
pub const TEMPORALITY_DELTA: i32 = 1;
pub const TEMPORALITY_CUMULATIVE: i32 = 2;

#[derive(Clone, PartialEq, Message)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    pub time_unix_nano: u64,
    #[prost(oneof = "Number", tags = "4, 6")]
    pub value: Option<Number>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Number {
    #[prost(double, tag = "4")]
    AsDouble(f64),
    #[prost(sfixed64, tag = "6")]
    AsInt(i64),
}

#[derive(Clone, PartialEq, Message)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// Only the scalar kinds: attribute values that are arrays, maps or bytes
/// are not label material and decode as an empty value.
#[derive(Clone, PartialEq, Message)]
pub struct AnyValue {
    #[prost(oneof = "Scalar", tags = "1, 2, 3, 4")]
    pub value: Option<Scalar>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Scalar {
    #[prost(string, tag = "1")]
    String(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
}

impl AnyValue {
    pub fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Scalar::String(s.to_string())),
        }
    }

    /// The value as a label value.
    pub fn render(&self) -> String {
        match &self.value {
            Some(Scalar::String(s)) => s.clone(),
            Some(Scalar::Bool(b)) => b.to_string(),
            Some(Scalar::Int(i)) => i.to_string(),
            Some(Scalar::Double(d)) => d.to_string(),
            None => String::new(),
        }
    }
}

/// What a pushed metric is once decoded: a gauge's or a sum's latest value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    /// A monotonic cumulative sum: a Prometheus counter.
    Counter,
}

/// One data point of a pushed metric, flattened: its metric's name and
/// kind, the resource and point attributes, the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Point {
    /// Roughly what the point holds in memory, for [`Limits::max_bytes`].
    fn size(&self) -> usize {
        let labels: usize = self
            .labels
            .iter()
            .map(|(k, v)| k.len() + v.len() + 48)
            .sum();
        self.name.len() + self.help.len() + labels + 96
    }
}

/// How much of a payload is kept: the points are flattened copies (each
/// carries its resource's attributes), so a small payload could otherwise
/// expand into a large set.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_points: usize,
    pub max_bytes: usize,
}

/// Decodes a (decompressed) MetricsData payload into its gauge and sum
/// points, up to `limits` (the points past them are left out). Non-monotonic
/// or delta sums are gauges: their latest value is all that can be shown,
/// and a delta is not a counter.
pub fn decode(payload: &[u8], limits: Limits) -> Result<Vec<Point>, prost::DecodeError> {
    let data = MetricsData::decode(payload)?;
    let mut points = Vec::new();
    let mut bytes = 0;
    for resource_metrics in data.resource_metrics {
        let resource: Vec<(String, String)> = resource_metrics
            .resource
            .map(|r| r.attributes.iter().map(label).collect())
            .unwrap_or_default();
        for metric in resource_metrics
            .scope_metrics
            .into_iter()
            .flat_map(|s| s.metrics)
        {
            let (kind, data_points) = match metric.data {
                Some(Data::Gauge(gauge)) => (Kind::Gauge, gauge.data_points),
                Some(Data::Sum(sum)) => {
                    let counter =
                        sum.is_monotonic && sum.aggregation_temporality == TEMPORALITY_CUMULATIVE;
                    let kind = if counter { Kind::Counter } else { Kind::Gauge };
                    (kind, sum.data_points)
                }
                None => continue,
            };
            for point in data_points {
                let value = match point.value {
                    Some(Number::AsDouble(v)) => v,
                    Some(Number::AsInt(v)) => v as f64,
                    None => continue,
                };
                let mut labels: Vec<(String, String)> =
                    point.attributes.iter().map(label).collect();
                labels.extend(resource.iter().cloned());
                let point = Point {
                    name: metric.name.clone(),
                    help: metric.description.clone(),
                    kind,
                    labels,
                    value,
                };
                bytes += point.size();
                if points.len() >= limits.max_points || bytes > limits.max_bytes {
                    return Ok(points);
                }
                points.push(point);
            }
        }
    }
    Ok(points)
}

fn label(kv: &KeyValue) -> (String, String) {
    let value = kv.value.as_ref().map(AnyValue::render).unwrap_or_default();
    (kv.key.clone(), value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(value: Number, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            time_unix_nano: 1,
            value: Some(value),
        }
    }

    #[test]
    fn gauges_and_sums_decode_with_their_attributes() {
        let data = MetricsData {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "client_rack".into(),
                        value: Some(AnyValue::string("r1")),
                    }],
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        Metric {
                            name: "org.apache.kafka.producer.record.send.total".into(),
                            description: "sent".into(),
                            data: Some(Data::Sum(Sum {
                                data_points: vec![point(Number::AsDouble(7.0), vec![])],
                                aggregation_temporality: TEMPORALITY_CUMULATIVE,
                                is_monotonic: true,
                            })),
                        },
                        Metric {
                            name: "delta".into(),
                            description: String::new(),
                            data: Some(Data::Sum(Sum {
                                data_points: vec![point(Number::AsInt(2), vec![])],
                                aggregation_temporality: TEMPORALITY_DELTA,
                                is_monotonic: true,
                            })),
                        },
                        Metric {
                            name: "g".into(),
                            description: String::new(),
                            data: Some(Data::Gauge(Gauge {
                                data_points: vec![point(
                                    Number::AsInt(-3),
                                    vec![KeyValue {
                                        key: "node_id".into(),
                                        value: Some(AnyValue {
                                            value: Some(Scalar::Int(1)),
                                        }),
                                    }],
                                )],
                            })),
                        },
                    ],
                }],
            }],
        };
        let unlimited = Limits {
            max_points: usize::MAX,
            max_bytes: usize::MAX,
        };
        let points = decode(&data.encode_to_vec(), unlimited).unwrap();
        assert_eq!(points.len(), 3);
        assert_eq!(points[0].kind, Kind::Counter);
        assert_eq!(points[0].value, 7.0);
        assert_eq!(points[0].labels, vec![("client_rack".into(), "r1".into())]);
        assert_eq!(points[1].kind, Kind::Gauge);
        assert_eq!(points[2].value, -3.0);
        assert_eq!(points[2].labels[0], ("node_id".into(), "1".into()));

        // A big resource attribute is copied into every point: the byte
        // limit stops the copies, the point limit the count.
        let mut big = data.clone();
        big.resource_metrics[0]
            .resource
            .as_mut()
            .unwrap()
            .attributes[0]
            .value = Some(AnyValue::string(&"x".repeat(10_000)));
        let limits = Limits {
            max_points: usize::MAX,
            max_bytes: 25_000,
        };
        assert_eq!(decode(&big.encode_to_vec(), limits).unwrap().len(), 2);
        let limits = Limits {
            max_points: 1,
            max_bytes: usize::MAX,
        };
        assert_eq!(decode(&data.encode_to_vec(), limits).unwrap().len(), 1);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let limits = Limits {
            max_points: 10,
            max_bytes: 1000,
        };
        assert!(decode(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], limits).is_err());
    }
}
