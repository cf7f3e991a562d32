//! The `gregor` CLI on a secured broker (real process, real TLS and SASL):
//! `--command-config` with Kafka's client settings over SASL_SSL (SCRAM,
//! PLAIN through `--command-property`) and over SSL with a client
//! certificate whose DN is the principal ACLs name; wrong passwords,
//! missing certificates and bad settings are one-line errors with a
//! failing exit code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::certs::TestCa;
use support::cli::{self, ok, one_line_failure};
use support::{free_port, gregor_bin, TestBroker};

const ADMIN_PASSWORD: &str = "admin-secret";
const CERT_PRINCIPAL: &str = "User:CN=cli-client";

struct Secured {
    _broker: TestBroker,
    sasl_ssl: u16,
    ssl: u16,
    dir: tempfile::TempDir,
    ca: PathBuf,
}

/// A broker with a SASL_SSL and an SSL (client certificate required)
/// listener, ACLs on: `admin` (SCRAM) is a super user, nobody else is.
fn start() -> Secured {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("cli-ca");
    let (plain, sasl_ssl, ssl) = (free_port(), free_port(), free_port());
    let keystore = ca
        .server("broker")
        .write_keystore(&dir.path().join("server.pem"));
    let truststore = ca.write(&dir.path().join("ca.pem"));
    ca.client(&[(rcgen::DnType::CommonName, "cli-client")])
        .write_keystore(&dir.path().join("client.pem"));
    ca.client(&[(rcgen::DnType::CommonName, "cli-admin")])
        .write_keystore(&dir.path().join("cli-admin.pem"));
    let settings = [
        format!(
            "listeners=PLAINTEXT://127.0.0.1:{plain},SECURE://127.0.0.1:{sasl_ssl},MTLS://127.0.0.1:{ssl}"
        ),
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL,MTLS:SSL".to_string(),
        "inter.broker.listener.name=PLAINTEXT".to_string(),
        "ssl.keystore.type=PEM".to_string(),
        format!("ssl.keystore.location={}", keystore.display()),
        "ssl.truststore.type=PEM".to_string(),
        format!("ssl.truststore.location={}", truststore.display()),
        "listener.name.mtls.ssl.client.auth=required".to_string(),
        format!("sasl.bootstrap.scram=SCRAM-SHA-256=[name=admin,password={ADMIN_PASSWORD}]"),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
        // The broker itself reaches the PLAINTEXT listener as ANONYMOUS.
        "super.users=User:ANONYMOUS;User:admin;User:CN=cli-admin".to_string(),
    ];
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let broker = TestBroker::start_on(plain, &settings);
    Secured {
        _broker: broker,
        sasl_ssl,
        ssl,
        dir,
        ca: truststore,
    }
}

impl Secured {
    /// A command-config file with these lines.
    fn config(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// Kafka's SASL_SSL client settings for `admin` with SCRAM-SHA-256.
    fn admin_config(&self, password: &str) -> PathBuf {
        self.config(
            &format!("admin-{password}.properties"),
            &[
                "# as kafka-topics --command-config takes it".to_string(),
                "security.protocol=SASL_SSL".to_string(),
                "ssl.truststore.type=PEM".to_string(),
                format!("ssl.truststore.location={}", self.ca.display()),
                "sasl.mechanism=SCRAM-SHA-256".to_string(),
                format!(
                    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n    username=\"admin\" password=\"{password}\";"
                ),
            ],
        )
    }

    /// SSL with the client certificate (key store file) and the CA inline,
    /// spread over continued lines as a properties file may hold it.
    fn cert_config(&self, certificate: Option<&str>) -> PathBuf {
        let ca = std::fs::read_to_string(&self.ca).unwrap();
        let inline = ca.trim_end().replace('\n', " \\\n    ");
        let mut lines = vec![
            "security.protocol=SSL".to_string(),
            "ssl.truststore.type=PEM".to_string(),
            format!("ssl.truststore.certificates={inline}"),
        ];
        if let Some(name) = certificate {
            lines.push("ssl.keystore.type=PEM".to_string());
            lines.push(format!(
                "ssl.keystore.location={}",
                self.dir.path().join(format!("{name}.pem")).display()
            ));
        }
        let name = certificate.unwrap_or("none");
        self.config(&format!("cert-{name}.properties"), &lines)
    }
}

fn gregor(port: u16, config: &Path, args: &[&str], stdin: &str) -> Output {
    // Host name verification is on: the broker's certificate names
    // localhost and 127.0.0.1.
    let bootstrap = format!("localhost:{port}");
    let config = config.display().to_string();
    let mut all = args.to_vec();
    all.extend([
        "--bootstrap-server",
        &bootstrap,
        "--command-config",
        &config,
    ]);
    cli::run(&all, stdin)
}

fn sorted_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines
}

#[test]
fn the_cli_over_sasl_ssl_and_over_ssl_with_a_client_certificate() {
    let node = start();
    let admin = node.admin_config(ADMIN_PASSWORD);
    let port = node.sasl_ssl;

    // SASL_SSL as the SCRAM super user: topics, produce, consume, ACLs.
    ok(gregor(
        port,
        &admin,
        &["topic", "create", "secured", "--partitions", "2"],
        "",
    ));
    assert!(ok(gregor(port, &admin, &["topic", "list"], "")).contains("secured"));
    ok(gregor(port, &admin, &["produce", "secured"], "a\nb\nc\n"));
    let read = ok(gregor(
        port,
        &admin,
        &[
            "consume",
            "secured",
            "--from-beginning",
            "--max-messages",
            "3",
            "--timeout-ms",
            "20000",
        ],
        "",
    ));
    assert_eq!(sorted_lines(&read), ["a", "b", "c"]);
    let added = ok(gregor(
        port,
        &admin,
        &[
            "acl",
            "add",
            "--principal",
            CERT_PRINCIPAL,
            "--operation",
            "Read",
            "--operation",
            "Write",
            "--operation",
            "Describe",
            "--topic",
            "secured",
        ],
        "",
    ));
    assert!(added.contains(CERT_PRINCIPAL), "{added}");
    let listed = ok(gregor(
        port,
        &admin,
        &["acl", "list", "--topic", "secured"],
        "",
    ));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(listed.contains("principal=User:CN=cli-client"), "{listed}");

    // --command-property overrides the file: PLAIN with the same user.
    let plain = Command::new(gregor_bin())
        .args(["topic", "describe", "secured"])
        .args(["--bootstrap-server", &format!("localhost:{port}")])
        .arg("--command-config")
        .arg(&admin)
        .args(["--command-property", "sasl.mechanism=PLAIN"])
        .output()
        .unwrap();
    assert!(ok(plain).contains("PartitionCount: 2"));

    // SSL with a client certificate: its DN is the principal the ACL names,
    // so it may write and read "secured" but not create topics.
    let cert = node.cert_config(Some("client"));
    ok(gregor(node.ssl, &cert, &["produce", "secured"], "d\n"));
    let read = ok(gregor(
        node.ssl,
        &cert,
        &[
            "consume",
            "secured",
            "--from-beginning",
            "--max-messages",
            "4",
            "--timeout-ms",
            "20000",
        ],
        "",
    ));
    assert_eq!(sorted_lines(&read), ["a", "b", "c", "d"]);
    let refused = one_line_failure(gregor(
        node.ssl,
        &cert,
        &["topic", "create", "not-mine"],
        "",
    ));
    assert!(
        refused.contains("TOPIC_AUTHORIZATION_FAILED")
            || refused.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{refused}"
    );

    // ACLs over SSL, as the super user a certificate names.
    let cert_admin = node.cert_config(Some("cli-admin"));
    ok(gregor(
        node.ssl,
        &cert_admin,
        &[
            "acl",
            "add",
            "--principal",
            "User:bob",
            "--operation",
            "Read",
            "--topic",
            "secured",
        ],
        "",
    ));
    let listed = ok(gregor(
        node.ssl,
        &cert_admin,
        &["acl", "list", "--principal", "User:bob"],
        "",
    ));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    // The plain client certificate is no super user: listing ACLs is refused.
    let refused = one_line_failure(gregor(node.ssl, &cert, &["acl", "list"], ""));
    assert!(
        refused.contains("CLUSTER_AUTHORIZATION_FAILED"),
        "{refused}"
    );

    // Without a certificate the SSL listener refuses the handshake.
    let no_cert = node.cert_config(None);
    let refused = one_line_failure(gregor(node.ssl, &no_cert, &["topic", "list"], ""));
    assert!(refused.starts_with("gregor: "), "{refused}");
}

#[test]
fn wrong_passwords_and_bad_settings_are_one_line_errors() {
    let node = start();
    let port = node.sasl_ssl;

    let wrong = node.admin_config("not-the-password");
    let refused = one_line_failure(gregor(port, &wrong, &["topic", "list"], ""));
    assert!(refused.contains("SASL_AUTHENTICATION_FAILED"), "{refused}");
    assert!(!refused.contains("not-the-password"), "{refused}");

    // No --command-config: a PLAINTEXT client on a SASL_SSL port fails.
    let plaintext = Command::new(gregor_bin())
        .args(["topic", "list", "--bootstrap-server"])
        .arg(format!("localhost:{port}"))
        .output()
        .unwrap();
    one_line_failure(plaintext);

    let cases: &[(&[&str], &str)] = &[
        (
            &["bootstrap.servers=x"],
            "unknown setting bootstrap.servers",
        ),
        (&["security.protocol=SASL_TLS"], "invalid security.protocol"),
        (
            &["security.protocol=SASL_SSL", "ssl.truststore.type=JKS"],
            "PEM stores only",
        ),
        (
            &["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=GSSAPI"],
            "unsupported sasl.mechanism GSSAPI",
        ),
    ];
    for (lines, expected) in cases {
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let config = node.config("bad.properties", &lines);
        let refused = one_line_failure(gregor(port, &config, &["topic", "list"], ""));
        assert!(refused.contains(expected), "{lines:?}: {refused}");
    }
    let missing = one_line_failure(gregor(
        port,
        Path::new("/nonexistent/client.properties"),
        &["topic", "list"],
        "",
    ));
    assert!(
        missing.contains("cannot read --command-config"),
        "{missing}"
    );
}
