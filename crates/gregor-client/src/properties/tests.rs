#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn error(list: &[(&str, &str)]) -> String {
    format!("{:#}", connector_from(&pairs(list)).unwrap_err())
}

fn ca_pem() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

#[test]
fn java_properties_syntax() {
    let text = "# comment\n! also\n  a=1\nb : 2\nc 3\nd=x\\\n   y\ne=tab\\there\\u0041\nf=\nsasl.jaas.config=m required username=\"u\" password=\"p=q\";\n";
    assert_eq!(
        parse_properties(text),
        pairs(&[
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
            ("d", "xy"),
            ("e", "tab\thereA"),
            ("f", ""),
            (
                "sasl.jaas.config",
                "m required username=\"u\" password=\"p=q\";"
            ),
        ])
    );
}

#[test]
fn plaintext_by_default() {
    let connector = connector_from(&[]).unwrap();
    assert_eq!(connector.security_protocol(), "PLAINTEXT");
}

#[test]
fn sasl_logins_from_jaas_lines() {
    let connector = connector_from(&pairs(&[
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "SCRAM-SHA-512"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cret\";",
        ),
    ]))
    .unwrap();
    assert_eq!(connector.security_protocol(), "SASL_PLAINTEXT");
    let sasl = connector.sasl().unwrap();
    assert_eq!(
        (
            sasl.mechanism.as_str(),
            sasl.username.as_str(),
            sasl.password.as_str()
        ),
        ("SCRAM-SHA-512", "alice", "s3cret")
    );
    let oauth = connector_from(&pairs(&[
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        (OAUTH_TOKEN, "h.p.s"),
    ]))
    .unwrap();
    assert_eq!(oauth.sasl().unwrap().password, "h.p.s");
}

#[test]
fn tls_from_inline_pem_on_one_line() {
    // As a properties file holds it: one line, continuation removed.
    let one_line = ca_pem().replace('\n', " ");
    let connector = connector_from(&pairs(&[
        ("security.protocol", "SSL"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.certificates", &one_line),
        ("ssl.endpoint.identification.algorithm", ""),
    ]))
    .unwrap();
    assert_eq!(connector.security_protocol(), "SSL");
}

#[test]
fn bad_settings_are_one_line_errors_without_secrets() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("bootstrap.server", "x")],
            "unknown setting bootstrap.server",
        ),
        (
            &[("security.protocol", "TLS")],
            "invalid security.protocol TLS",
        ),
        (&[("security.protocol", "SSL")], "needs a trust store"),
        (
            &[("security.protocol", "SSL"), ("ssl.truststore.type", "JKS")],
            "PEM stores only",
        ),
        (
            &[
                ("security.protocol", "SSL"),
                ("ssl.truststore.location", "/nonexistent/ca.pem"),
            ],
            "cannot read ssl.truststore.location /nonexistent/ca.pem",
        ),
        (
            &[
                ("security.protocol", "SSL"),
                ("ssl.keystore.password", "hunter2"),
            ],
            "ssl.keystore.password is set",
        ),
        (
            &[
                ("security.protocol", "SSL"),
                ("ssl.endpoint.identification.algorithm", "ldap"),
            ],
            "invalid ssl.endpoint.identification.algorithm",
        ),
        (
            &[("security.protocol", "SASL_PLAINTEXT")],
            "unsupported sasl.mechanism GSSAPI",
        ),
        (
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
            ],
            "needs sasl.jaas.config",
        ),
        (
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "PLAIN"),
                (
                    "sasl.jaas.config",
                    "PlainLoginModule required password=\"hunter2\";",
                ),
            ],
            "needs username=",
        ),
        (
            &[
                ("security.protocol", "SASL_PLAINTEXT"),
                ("sasl.mechanism", "OAUTHBEARER"),
            ],
            OAUTH_TOKEN,
        ),
    ];
    for (settings, expected) in cases {
        let message = error(settings);
        assert!(message.contains(expected), "{settings:?}: {message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

#[test]
fn encrypted_client_keys_take_ssl_key_password() {
    // An openssl-encrypted PKCS#8 key (see pem_key/tests.rs) and its
    // self-signed certificate, inline as a properties file can hold them.
    let key = include_str!("../pem_key/testdata/enc.pem");
    let cert = include_str!("../pem_key/testdata/cert.pem");
    let ca = ca_pem();
    let with = |password: Option<&str>| {
        let mut list = vec![
            ("security.protocol", "SSL"),
            ("ssl.truststore.certificates", ca.as_str()),
            ("ssl.keystore.certificate.chain", cert),
            ("ssl.keystore.key", key),
        ];
        if let Some(p) = password {
            list.push(("ssl.key.password", p));
        }
        pairs(&list)
    };
    assert!(connector_from(&with(Some("hunter2"))).is_ok());
    let wrong = format!("{:#}", connector_from(&with(Some("nope"))).unwrap_err());
    assert!(wrong.contains("wrong ssl.key.password"), "{wrong}");
    assert!(!wrong.contains("nope"), "{wrong}");
    let missing = format!("{:#}", connector_from(&with(None)).unwrap_err());
    assert!(missing.contains("set ssl.key.password"), "{missing}");
}
