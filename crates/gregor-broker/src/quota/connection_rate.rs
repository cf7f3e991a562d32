//! Kafka's per-IP `connection_creation_rate` quota (KIP-612): new
//! connections from an address are counted over the client quota windows;
//! one that would take the address over its quota is not served and is
//! closed once the throttle time (at most one window) has passed, so a
//! client retrying in a loop is slowed down rather than refused at once.

use super::resolve::Quotas;
use gregor_metadata::client_quota::{CONNECTION_CREATION_RATE, IP};
use std::net::IpAddr;

/// The quota of `ip`: its own `ip` entity, else the `<default>` ip entity.
pub fn ip_quota(quotas: &Quotas, ip: IpAddr) -> Option<f64> {
    let ip = ip.to_string();
    [Some(ip), None].into_iter().find_map(|name| {
        let entity = [(IP.to_string(), name)].into_iter().collect();
        quotas
            .get(&entity)
            .and_then(|values| values.get(CONNECTION_CREATION_RATE))
            .map(|value| value.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_metadata::client_quota::QuotaValue;
    use std::collections::BTreeMap;

    fn quotas(entries: &[(Option<&str>, f64)]) -> Quotas {
        entries
            .iter()
            .map(|(name, rate)| {
                (
                    [(IP.to_string(), name.map(str::to_string))]
                        .into_iter()
                        .collect(),
                    BTreeMap::from([(CONNECTION_CREATION_RATE.to_string(), QuotaValue(*rate))]),
                )
            })
            .collect()
    }

    #[test]
    fn an_address_of_its_own_wins_over_the_default() {
        let q = quotas(&[(Some("127.0.0.1"), 5.0), (None, 2.0)]);
        assert_eq!(ip_quota(&q, "127.0.0.1".parse().unwrap()), Some(5.0));
        assert_eq!(ip_quota(&q, "127.0.0.2".parse().unwrap()), Some(2.0));
        assert_eq!(ip_quota(&quotas(&[]), "::1".parse().unwrap()), None);
    }
}
