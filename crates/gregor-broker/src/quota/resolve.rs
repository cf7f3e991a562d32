//! Which quota applies to a (user, client id): Kafka's
//! `DefaultQuotaCallback` precedence, each quota key resolved on its own.

use gregor_metadata::client_quota::{QuotaEntity, QuotaValue, CLIENT_ID, USER};
use std::collections::BTreeMap;

pub type Quotas = BTreeMap<QuotaEntity, BTreeMap<String, QuotaValue>>;

/// The quota bound and the (user, client id) tags of the rate it limits:
/// clients sharing the tags share the rate, as Kafka's quota sensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub bound: f64,
    pub user_tag: String,
    pub client_tag: String,
}

/// One entity type's part of a candidate: absent (`None`), the
/// `<default>` (`Some(None)`) or a name.
type Level = Option<Option<String>>;

/// Kafka's order: user+client-id, user+default client-id, user, default
/// user+client-id, default user+default client-id, default user,
/// client-id, default client-id. The first entity holding `key` wins.
pub fn resolve(quotas: &Quotas, user: &str, client_id: &str, key: &str) -> Option<Resolved> {
    if quotas.is_empty() {
        return None;
    }
    let u = Some(user.to_string());
    let c = Some(client_id.to_string());
    // (user name, client-id name) of each candidate entity; `Some(None)`
    // is the `<default>`, `None` the type's absence.
    let order: [(Level, Level); 8] = [
        (Some(u.clone()), Some(c.clone())),
        (Some(u.clone()), Some(None)),
        (Some(u.clone()), None),
        (Some(None), Some(c.clone())),
        (Some(None), Some(None)),
        (Some(None), None),
        (None, Some(c.clone())),
        (None, Some(None)),
    ];
    order.into_iter().find_map(|(user_name, client_name)| {
        let mut entity = QuotaEntity::new();
        let has_user = user_name.is_some();
        let has_client = client_name.is_some();
        if let Some(name) = user_name {
            entity.insert(USER.to_string(), name);
        }
        if let Some(name) = client_name {
            entity.insert(CLIENT_ID.to_string(), name);
        }
        let value = quotas.get(&entity)?.get(key)?;
        Some(Resolved {
            bound: value.0,
            user_tag: if has_user {
                user.to_string()
            } else {
                String::new()
            },
            client_tag: if has_client {
                client_id.to_string()
            } else {
                String::new()
            },
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let mut e = QuotaEntity::new();
        if let Some(u) = user {
            e.insert(USER.into(), u.map(str::to_string));
        }
        if let Some(c) = client {
            e.insert(CLIENT_ID.into(), c.map(str::to_string));
        }
        e
    }

    #[test]
    fn precedence_is_kafkas() {
        let key = "producer_byte_rate";
        let levels = [
            entity(Some(Some("u")), Some(Some("c"))),
            entity(Some(Some("u")), Some(None)),
            entity(Some(Some("u")), None),
            entity(Some(None), Some(Some("c"))),
            entity(Some(None), Some(None)),
            entity(Some(None), None),
            entity(None, Some(Some("c"))),
            entity(None, Some(None)),
        ];
        let mut quotas = Quotas::new();
        for (i, e) in levels.iter().enumerate() {
            quotas
                .entry(e.clone())
                .or_default()
                .insert(key.into(), QuotaValue(i as f64 + 1.0));
        }
        // Removing the winner each time exposes the next level.
        let tags = [
            ("u", "c"),
            ("u", "c"),
            ("u", ""),
            ("u", "c"),
            ("u", "c"),
            ("u", ""),
            ("", "c"),
            ("", "c"),
        ];
        for (i, e) in levels.iter().enumerate() {
            let r = resolve(&quotas, "u", "c", key).unwrap();
            assert_eq!(r.bound, i as f64 + 1.0);
            assert_eq!((r.user_tag.as_str(), r.client_tag.as_str()), tags[i]);
            quotas.remove(e);
        }
        assert_eq!(resolve(&quotas, "u", "c", key), None);
    }

    #[test]
    fn keys_resolve_independently() {
        let mut quotas = Quotas::new();
        quotas
            .entry(entity(Some(Some("u")), None))
            .or_default()
            .insert("consumer_byte_rate".into(), QuotaValue(5.0));
        quotas
            .entry(entity(None, Some(None)))
            .or_default()
            .insert("producer_byte_rate".into(), QuotaValue(7.0));
        assert_eq!(
            resolve(&quotas, "u", "x", "consumer_byte_rate")
                .unwrap()
                .bound,
            5.0
        );
        assert_eq!(
            resolve(&quotas, "u", "x", "producer_byte_rate")
                .unwrap()
                .bound,
            7.0
        );
        assert_eq!(resolve(&quotas, "v", "x", "consumer_byte_rate"), None);
    }
}
