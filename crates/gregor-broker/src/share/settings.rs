//! A share group's delivery settings: its `share.*` GROUP configs
//! (`MetadataImage::group_configs`) over the broker's `group.share.*`.

use crate::config::group_resource::{
    effective, effective_int, parse_offset_reset, SHARE_AUTO_OFFSET_RESET, SHARE_ISOLATION_LEVEL,
};
use gregor_coordinator::share::partition::PartitionSettings;
use gregor_coordinator::share::ShareGroupConfig;
use gregor_metadata::MetadataImage;

pub use crate::config::group_resource::OffsetReset;

#[derive(Clone, Debug)]
pub struct GroupSettings {
    pub partition: PartitionSettings,
    pub offset_reset: OffsetReset,
    pub read_committed: bool,
    /// `share.renew.acknowledge.enable` (KIP-1222; Kafka's default true).
    pub renew_enabled: bool,
}

/// The group's values come from `group_resource` (its definitions,
/// defaults and parsing), so what DescribeConfigs shows and what
/// validation accepts is what the share partitions use.
pub fn for_group(
    image: &MetadataImage,
    group_id: &str,
    broker: &ShareGroupConfig,
) -> GroupSettings {
    let configs = &image.group_configs;
    // Every name asked for here is an INT GROUP config with a broker
    // default, so the fallback only guards a misspelt name.
    let int = |name: &str| effective_int(broker, configs, group_id, name).unwrap_or(1);
    let value = |name: &str| effective(broker, configs, group_id, name).unwrap_or_default();
    GroupSettings {
        partition: PartitionSettings {
            record_lock_duration_ms: i64::from(int("share.record.lock.duration.ms").max(1)),
            delivery_count_limit: i16::try_from(int("share.delivery.count.limit").max(1))
                .unwrap_or(i16::MAX),
            max_in_flight: i64::from(int("share.partition.max.record.locks").max(1)),
        },
        offset_reset: parse_offset_reset(&value(SHARE_AUTO_OFFSET_RESET))
            .unwrap_or(OffsetReset::Latest),
        read_committed: value(SHARE_ISOLATION_LEVEL).trim() == "read_committed",
        renew_enabled: !value("share.renew.acknowledge.enable")
            .trim()
            .eq_ignore_ascii_case("false"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_policies() {
        let reset = |value: &str| {
            let mut image = MetadataImage::default();
            image.group_configs.insert(
                "g".into(),
                [(SHARE_AUTO_OFFSET_RESET.to_string(), value.to_string())]
                    .into_iter()
                    .collect(),
            );
            for_group(&image, "g", &ShareGroupConfig::default()).offset_reset
        };
        assert_eq!(
            for_group(&MetadataImage::default(), "g", &ShareGroupConfig::default()).offset_reset,
            OffsetReset::Latest
        );
        assert_eq!(reset("earliest"), OffsetReset::Earliest);
        assert_eq!(reset(" earliest "), OffsetReset::Earliest);
        assert_eq!(reset("latest"), OffsetReset::Latest);
        assert_eq!(
            reset("by_duration:PT1H"),
            OffsetReset::ByDuration(3_600_000)
        );
        assert_eq!(
            reset("by_duration:pt1h"),
            OffsetReset::ByDuration(3_600_000)
        );
        assert_eq!(
            reset("by_duration:P1DT30M1.5S"),
            OffsetReset::ByDuration(86_400_000 + 1_800_000 + 1_500)
        );
    }

    #[test]
    fn group_configs_override_broker_defaults() {
        let mut image = MetadataImage::default();
        let broker = ShareGroupConfig::default();
        assert_eq!(
            for_group(&image, "g", &broker)
                .partition
                .delivery_count_limit,
            5
        );
        image.group_configs.insert(
            "g".into(),
            [
                ("share.delivery.count.limit".to_string(), "2".to_string()),
                (
                    "share.isolation.level".to_string(),
                    "read_committed".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
        );
        let g = for_group(&image, "g", &broker);
        assert_eq!(g.partition.delivery_count_limit, 2);
        assert!(g.read_committed);
        assert_eq!(g.partition.record_lock_duration_ms, 30_000);
        assert_eq!(g.partition.max_in_flight, 2_000);
        assert!(!for_group(&image, "other", &broker).read_committed);
    }
}
