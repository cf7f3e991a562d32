//! Client quota administration (AlterClientQuotas, DescribeClientQuotas),
//! as Kafka's `kafka-configs.sh --entity-type users|clients` uses them.
//! Alterations go to the bootstrap broker, which forwards them to the
//! active controller.

use crate::client::{text, Client};
use crate::error::check;
use anyhow::bail;
use kafka_protocol::messages::*;

/// An entity: (type, name) pairs, a `None` name the type's `<default>`.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// DescribeClientQuotas match types.
pub const MATCH_EXACT: i8 = 0;
pub const MATCH_DEFAULT: i8 = 1;
pub const MATCH_ANY: i8 = 2;

/// An AlterClientQuotas request setting (`Some`) or removing (`None`)
/// quota keys of one entity (a `None` name is the type's `<default>`).
pub fn alter_client_quotas_request<K: AsRef<str>, N: AsRef<str>>(
    entity: &[(K, Option<N>)],
    ops: &[(K, Option<f64>)],
    validate_only: bool,
) -> AlterClientQuotasRequest {
    use alter_client_quotas_request::{EntityData, EntryData, OpData};
    AlterClientQuotasRequest::default()
        .with_validate_only(validate_only)
        .with_entries(vec![EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(kind, name)| {
                        EntityData::default()
                            .with_entity_type(text(kind.as_ref()))
                            .with_entity_name(name.as_ref().map(|n| text(n.as_ref())))
                    })
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(key, value)| {
                        OpData::default()
                            .with_key(text(key.as_ref()))
                            .with_value(value.unwrap_or(0.0))
                            .with_remove(value.is_none())
                    })
                    .collect(),
            )])
}

/// A DescribeClientQuotas request for the components (type, match type,
/// name).
pub fn describe_client_quotas_request<K: AsRef<str>, N: AsRef<str>>(
    components: &[(K, i8, Option<N>)],
    strict: bool,
) -> DescribeClientQuotasRequest {
    use describe_client_quotas_request::ComponentData;
    DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|(kind, match_type, name)| {
                    ComponentData::default()
                        .with_entity_type(text(kind.as_ref()))
                        .with_match_type(*match_type)
                        .with_match(name.as_ref().map(|n| text(n.as_ref())))
                })
                .collect(),
        )
}

impl Client {
    /// Sets (`Some`) or removes (`None`) quota keys of one entity.
    pub async fn alter_client_quotas(
        &mut self,
        entity: &QuotaEntity,
        ops: &[(String, Option<f64>)],
        validate_only: bool,
    ) -> anyhow::Result<()> {
        let request = alter_client_quotas_request(entity, ops, validate_only);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::AlterClientQuotas,
                1,
                RequestKind::AlterClientQuotas(request),
            )
            .await?;
        let ResponseKind::AlterClientQuotas(response) = response else {
            bail!("unexpected answer to AlterClientQuotas")
        };
        for entry in &response.entries {
            check(entry.error_code, || {
                entry
                    .error_message
                    .as_deref()
                    .map_or_else(|| "cannot alter quotas".to_string(), |m| m.to_string())
            })?;
        }
        Ok(())
    }

    /// Entities matching the components (type, match type, name) with
    /// their quotas, sorted.
    pub async fn describe_client_quotas(
        &mut self,
        components: &[(String, i8, Option<String>)],
        strict: bool,
    ) -> anyhow::Result<Vec<(QuotaEntity, Vec<(String, f64)>)>> {
        let request = describe_client_quotas_request(components, strict);
        let (response, _) = self
            .bootstrap()
            .await?
            .send(
                ApiKey::DescribeClientQuotas,
                1,
                RequestKind::DescribeClientQuotas(request),
            )
            .await?;
        let ResponseKind::DescribeClientQuotas(response) = response else {
            bail!("unexpected answer to DescribeClientQuotas")
        };
        check(response.error_code, || {
            response
                .error_message
                .as_deref()
                .map_or_else(|| "cannot describe quotas".to_string(), |m| m.to_string())
        })?;
        let mut out: Vec<_> = response
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let mut entity: QuotaEntity = e
                    .entity
                    .iter()
                    .map(|d| {
                        (
                            d.entity_type.to_string(),
                            d.entity_name.as_ref().map(|n| n.to_string()),
                        )
                    })
                    .collect();
                // Users before client ids, as kafka-configs prints them.
                entity.sort_by(|a, b| b.0.cmp(&a.0));
                let mut values: Vec<_> = e
                    .values
                    .iter()
                    .map(|v| (v.key.to_string(), v.value))
                    .collect();
                values.sort_by(|a, b| a.0.cmp(&b.0));
                (entity, values)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
