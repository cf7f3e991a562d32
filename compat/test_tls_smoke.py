"""TLS smoke test with real clients (the full security suite is test_security_*.py):
a Gregor SSL listener requiring client certificates (ssl.client.auth=required), PEM key
and trust stores, certificates made here with openssl; kcat (librdkafka) and Java
kafka-clients 4.4 produce and consume over it with hostname verification on, and a
client without a certificate is refused."""

import subprocess
import uuid

import pytest

from clients import Rec, assert_all_sent, java, java_produce, kcat, run
from conftest import EXTERNAL, SERVER_KIND, free_port, new_server

pytestmark = pytest.mark.skipif(
    bool(EXTERNAL) or SERVER_KIND == "kafka",
    reason="starts its own single-node Gregor TLS broker (test_security_tls.py covers Kafka)")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
            "-days", "2", "-subj", "/CN=Smoke Test CA", cwd=d)
    for name, subject, ext in [
        ("server", "/CN=localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                    "extendedKeyUsage=serverAuth,clientAuth\n"),
        ("client", "/C=US/O=Gregor Smoke/CN=smoke-client", "extendedKeyUsage=clientAuth\n"),
    ]:
        (d / f"{name}.ext").write_text(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
        # Kafka's PEM key store file: the private key, then the certificate chain.
        (d / f"{name}.pem").write_text((d / f"{name}.key").read_text() + (d / f"{name}.crt").read_text())
    return d


def tls_server(tmp_path_factory, name, keystore, key_password=None):
    """A started Gregor with a PLAINTEXT and a client-auth SSL listener (advertised as localhost)."""
    ssl_port = free_port()
    settings = {
        "listeners": f"PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{{port}},SSL://localhost:{ssl_port}",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(keystore.parent / "ca.crt"),
        "ssl.client.auth": "required",
    }
    if key_password:
        settings["ssl.key.password"] = key_password
    server = new_server(tmp_path_factory.mktemp(name), settings)
    server.start()
    server.ssl_bootstrap = f"localhost:{ssl_port}"
    return server


@pytest.fixture(scope="module")
def tls_broker(pki, tmp_path_factory):
    server = tls_server(tmp_path_factory, "gregor-tls", pki / "server.pem")
    try:
        yield server
    finally:
        server.stop()


def kcat_ssl(pki, bootstrap, *args, cert=True, **kw):
    tls = ["-X", "security.protocol=SSL", "-X", f"ssl.ca.location={pki / 'ca.crt'}"]
    if cert:
        tls += ["-X", f"ssl.certificate.location={pki / 'client.crt'}",
                "-X", f"ssl.key.location={pki / 'client.key'}"]
    return kcat(bootstrap, *tls, *args, **kw)


def java_ssl_props(pki):
    return {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(pki / "ca.crt"),
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(pki / "client.pem"),
    }


def test_kcat_produces_and_consumes_over_tls(pki, tls_broker):
    topic = f"tls-kcat-{uuid.uuid4().hex[:8]}"
    lines = [f"k{i}:tls value {i}" for i in range(50)]
    kcat_ssl(pki, tls_broker.ssl_bootstrap, "-P", "-t", topic, "-K:", input_text="\n".join(lines) + "\n")
    p = kcat_ssl(pki, tls_broker.ssl_bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", "50", "-e",
                 "-q", "-f", r"%k:%s\n", timeout=60)
    assert p.stdout.splitlines() == lines


def test_java_produces_and_consumes_over_tls_with_a_client_certificate(pki, tls_broker):
    topic = f"tls-java-{uuid.uuid4().hex[:8]}"
    records = [Rec(f"k{i}".encode(), f"java over tls {i}".encode()) for i in range(40)]
    props = java_ssl_props(pki)
    sent = java_produce(tls_broker.ssl_bootstrap, topic, records,
                        **{k.replace(".", "_"): v for k, v in props.items()})
    assert_all_sent(sent, 40)
    out = java(tls_broker.ssl_bootstrap, "group-consume", topic, f"g-{topic}", 30000,
               *[f"{k}={v}" for k, v in props.items()], timeout=90)
    values = [o["value"] for o in out if "value" in o]
    assert len(values) >= 40, out
    # And what Java wrote over TLS, kcat reads over TLS.
    p = kcat_ssl(pki, tls_broker.ssl_bootstrap, "-C", "-t", topic, "-o", "beginning", "-c", "40", "-e",
                 "-q", "-f", r"%s\n", timeout=60)
    assert p.stdout.splitlines() == [f"java over tls {i}" for i in range(40)]


def test_a_client_without_a_certificate_is_refused(pki, tls_broker):
    with pytest.raises(AssertionError):
        kcat_ssl(pki, tls_broker.ssl_bootstrap, "-L", "-m", "5", cert=False, timeout=30)
    # The broker is still serving certified clients.
    kcat_ssl(pki, tls_broker.ssl_bootstrap, "-L", "-m", "10", timeout=30)


@pytest.fixture(scope="module")
def encrypted_pki(pki):
    """The server key encrypted as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes it (PBES2:
    PBKDF2-HMAC-SHA256 + AES-256-CBC), for Gregor. The client key in a scheme Java's
    SecretKeyFactory reads (Kafka's PEM loader cannot read PBES2 keys on this JDK:
    "PBES2 SecretKeyFactory not available"): PBE-SHA1-3DES. Each with its chain."""
    for name, scheme in [("server", ["-v2", "aes-256-cbc"]), ("client", ["-v1", "PBE-SHA1-3DES"])]:
        openssl("pkcs8", "-topk8", *scheme, "-in", f"{name}.key", "-out", f"{name}-enc.key",
                "-passout", f"pass:{name}-secret", cwd=pki)
        key = (pki / f"{name}-enc.key").read_text()
        assert key.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        (pki / f"{name}-enc.pem").write_text(key + (pki / f"{name}.crt").read_text())
    return pki


@pytest.fixture(scope="module")
def encrypted_key_broker(encrypted_pki, tmp_path_factory):
    server = tls_server(tmp_path_factory, "gregor-tls-enc", encrypted_pki / "server-enc.pem",
                        key_password="server-secret")
    try:
        yield server
    finally:
        server.stop()


def test_java_with_an_encrypted_client_key_against_an_encrypted_server_key(encrypted_pki,
                                                                           encrypted_key_broker):
    topic = f"tls-enc-{uuid.uuid4().hex[:8]}"
    records = [Rec(f"k{i}".encode(), f"encrypted keys {i}".encode()) for i in range(10)]
    props = {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM", "ssl.truststore.location": str(encrypted_pki / "ca.crt"),
        "ssl.keystore.type": "PEM", "ssl.keystore.location": str(encrypted_pki / "client-enc.pem"),
        "ssl.key.password": "client-secret",
    }
    sent = java_produce(encrypted_key_broker.ssl_bootstrap, topic, records,
                        **{k.replace(".", "_"): v for k, v in props.items()})
    assert_all_sent(sent, 10)
    # The client key, encrypted, through kcat (librdkafka's ssl.key.password).
    p = kcat(encrypted_key_broker.ssl_bootstrap, "-X", "security.protocol=SSL",
             "-X", f"ssl.ca.location={encrypted_pki / 'ca.crt'}",
             "-X", f"ssl.certificate.location={encrypted_pki / 'client.crt'}",
             "-X", f"ssl.key.location={encrypted_pki / 'client-enc.key'}",
             "-X", "ssl.key.password=client-secret",
             "-C", "-t", topic, "-o", "beginning", "-c", "10", "-e", "-q", "-f", r"%s\n", timeout=60)
    assert p.stdout.splitlines() == [f"encrypted keys {i}" for i in range(10)]
