//! Test helpers: images with registered, unfenced brokers.

use crate::record::Endpoint;
use crate::{MetadataImage, MetadataRecord};
use uuid::Uuid;

pub(crate) fn register(id: i32, rack: Option<&str>) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        id,
        incarnation_id: Uuid::from_u128(id as u128),
        listeners: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: "h".into(),
            port: 9092,
            security_protocol: 0,
        }],
        rack: rack.map(String::from),
    }
}

/// Brokers registered (one entry each) and unfenced, with these racks.
pub(crate) fn racked_cluster(brokers: &[(i32, &str)]) -> MetadataImage {
    let mut image = MetadataImage::default();
    for &(id, rack) in brokers {
        add_unfenced(&mut image, id, (!rack.is_empty()).then_some(rack));
    }
    image
}

pub(crate) fn cluster(ids: &[i32]) -> MetadataImage {
    let brokers: Vec<(i32, &str)> = ids.iter().map(|&id| (id, "")).collect();
    racked_cluster(&brokers)
}

pub(crate) fn add_unfenced(image: &mut MetadataImage, id: i32, rack: Option<&str>) {
    let offset = image.next_offset;
    image.apply(offset, &register(id, rack));
    image.apply(
        offset + 1,
        &MetadataRecord::BrokerRegistrationChange {
            id,
            epoch: offset,
            fenced: Some(false),
            in_controlled_shutdown: false,
        },
    );
}

/// Fences broker `id` in `image`, as its session expiring would.
pub(crate) fn fence(image: &mut MetadataImage, id: i32) {
    let epoch = image.brokers[&id].epoch;
    let offset = image.next_offset;
    image.apply(
        offset,
        &MetadataRecord::BrokerRegistrationChange {
            id,
            epoch,
            fenced: Some(true),
            in_controlled_shutdown: false,
        },
    );
}
