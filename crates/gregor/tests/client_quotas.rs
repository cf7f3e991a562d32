//! AlterClientQuotas / DescribeClientQuotas over TCP (what `kafka-configs
//! --entity-type users|clients` sends): quotas stored in the metadata log,
//! surviving a restart, Kafka's filter semantics and error codes.

// Tests fail by panicking: unwrap and expect are how they say so.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::{Connection, TestBroker};

const INVALID_REQUEST: i16 = 42;
const EXACT: i8 = 0;
const DEFAULT: i8 = 1;
const ANY: i8 = 2;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

type Entity<'a> = &'a [(&'a str, Option<&'a str>)];

/// (error code, message) of altering one entity.
fn alter(
    conn: &mut Connection,
    entity: Entity<'_>,
    ops: &[(&str, Option<f64>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    use alter_client_quotas_request::{EntityData, EntryData, OpData};
    let request = AlterClientQuotasRequest::default()
        .with_validate_only(validate_only)
        .with_entries(vec![EntryData::default()
            .with_entity(
                entity
                    .iter()
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(s(t))
                            .with_entity_name(n.map(s))
                    })
                    .collect(),
            )
            .with_ops(
                ops.iter()
                    .map(|(k, v)| {
                        OpData::default()
                            .with_key(s(k))
                            .with_value(v.unwrap_or(0.0))
                            .with_remove(v.is_none())
                    })
                    .collect(),
            )]);
    let ResponseKind::AlterClientQuotas(r) = conn.request(
        ApiKey::AlterClientQuotas,
        1,
        RequestKind::AlterClientQuotas(request),
    ) else {
        panic!("not an AlterClientQuotas response")
    };
    assert_eq!(r.entries.len(), 1);
    let e = &r.entries[0];
    (
        e.error_code,
        e.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// Entities (as "type=name" joined by ',') with their sorted values, or
/// the error code.
fn describe(
    conn: &mut Connection,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> Result<Vec<(String, Vec<(String, f64)>)>, i16> {
    use describe_client_quotas_request::ComponentData;
    let request = DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|(t, m, n)| {
                    ComponentData::default()
                        .with_entity_type(s(t))
                        .with_match_type(*m)
                        .with_match(n.map(s))
                })
                .collect(),
        );
    let ResponseKind::DescribeClientQuotas(r) = conn.request(
        ApiKey::DescribeClientQuotas,
        1,
        RequestKind::DescribeClientQuotas(request),
    ) else {
        panic!("not a DescribeClientQuotas response")
    };
    if r.error_code != 0 {
        return Err(r.error_code);
    }
    let mut out: Vec<_> = r
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let mut entity: Vec<String> = e
                .entity
                .iter()
                .map(|d| {
                    format!(
                        "{}={}",
                        d.entity_type,
                        d.entity_name
                            .as_ref()
                            .map_or("<default>".into(), |n| n.to_string())
                    )
                })
                .collect();
            entity.sort();
            let mut values: Vec<_> = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            values.sort_by(|a, b| a.0.cmp(&b.0));
            (entity.join(","), values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn v(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn quotas_are_stored_described_and_survive_a_restart() {
    let mut broker = TestBroker::start(&[]);
    let mut conn = broker.connect();
    assert_eq!(describe(&mut conn, &[], false), Ok(vec![]));

    let alice: Entity = &[("user", Some("alice"))];
    let alice_app: Entity = &[("user", Some("alice")), ("client-id", Some("app"))];
    let default_client: Entity = &[("client-id", None)];
    // validate_only stores nothing.
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[("producer_byte_rate", Some(1024.0))],
            true
        )
        .0,
        0
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(vec![]));
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[
                ("producer_byte_rate", Some(1024.0)),
                ("request_percentage", Some(12.5))
            ],
            false
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut conn,
            alice_app,
            &[("consumer_byte_rate", Some(2048.0))],
            false
        )
        .0,
        0
    );
    assert_eq!(
        alter(
            &mut conn,
            default_client,
            &[("producer_byte_rate", Some(10.0))],
            false
        )
        .0,
        0
    );

    let all = vec![
        (
            "client-id=<default>".to_string(),
            v(&[("producer_byte_rate", 10.0)]),
        ),
        (
            "client-id=app,user=alice".to_string(),
            v(&[("consumer_byte_rate", 2048.0)]),
        ),
        (
            "user=alice".to_string(),
            v(&[("producer_byte_rate", 1024.0), ("request_percentage", 12.5)]),
        ),
    ];
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));
    // Kafka's filters: exact, strict, default, any.
    assert_eq!(
        describe(&mut conn, &[("user", EXACT, Some("alice"))], true),
        Ok(vec![all[2].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("user", EXACT, Some("alice"))], false),
        Ok(vec![all[1].clone(), all[2].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("client-id", DEFAULT, None)], false),
        Ok(vec![all[0].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("client-id", ANY, None)], false),
        Ok(vec![all[0].clone(), all[1].clone()])
    );
    assert_eq!(
        describe(&mut conn, &[("group", ANY, None)], false),
        Err(INVALID_REQUEST)
    );
    assert_eq!(
        describe(
            &mut conn,
            &[("user", ANY, None), ("user", ANY, None)],
            false
        ),
        Err(INVALID_REQUEST)
    );

    // Kafka's refusals.
    let (code, message) = alter(&mut conn, alice, &[("bogus", Some(1.0))], false);
    assert_eq!(
        (code, message.as_deref()),
        (INVALID_REQUEST, Some("Invalid configuration key bogus"))
    );
    assert_eq!(
        alter(
            &mut conn,
            alice,
            &[("producer_byte_rate", Some(1.5))],
            false
        )
        .0,
        INVALID_REQUEST
    );
    assert_eq!(
        alter(&mut conn, &[], &[("producer_byte_rate", Some(1.0))], false).0,
        INVALID_REQUEST
    );
    assert_eq!(
        alter(
            &mut conn,
            &[("topic", Some("t"))],
            &[("producer_byte_rate", Some(1.0))],
            false
        )
        .0,
        INVALID_REQUEST
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));

    broker.restart();
    let mut conn = broker.connect();
    assert_eq!(describe(&mut conn, &[], false), Ok(all.clone()));
    // Removing the last key removes the entity.
    assert_eq!(
        alter(
            &mut conn,
            default_client,
            &[("producer_byte_rate", None)],
            false
        )
        .0,
        0
    );
    assert_eq!(describe(&mut conn, &[], false), Ok(all[1..].to_vec()));
}
