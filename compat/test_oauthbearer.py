"""SASL/OAUTHBEARER with a real client: confluent-kafka (librdkafka) with
`sasl.mechanism=OAUTHBEARER` and an `oauth_cb` handing it RS256 tokens minted
here (RSA key and signature from the `openssl` CLI, so no extra Python
package), verified by Gregor against a JWKS served by Python's http.server on
127.0.0.1. A round trip produce/consume, then a token signed by another key
is refused with SASL_AUTHENTICATION_FAILED. Java kafka-clients 4.4 (Kafka's
own tools) log in with Kafka's unsecured (alg none) tokens: accepted by a
broker in Gregor's development-only unsecured mode, refused by the JWKS one.

Gregor-only: the Kafka reference broker would need a JAAS setup for its
JWKS validator (sasl.oauthbearer.jwks.endpoint.url plus the server callback
handler class)."""

import base64
import http.server
import json
import subprocess
import threading
import time
import uuid

import pytest

from clients import cf_consumer
from conftest import SERVER_KIND, free_port, running, second_listener
from test_kafka_tools import tool

pytestmark = pytest.mark.skipif(SERVER_KIND != "gregor", reason="starts its own Gregor with OAUTHBEARER")

ISSUER = "https://idp.compat.test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class RsaKey:
    def __init__(self, directory, kid):
        self.kid = kid
        self.pem = directory / f"{kid}-{uuid.uuid4().hex[:6]}.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                        "-out", str(self.pem)], check=True, capture_output=True)
        out = subprocess.run(["openssl", "rsa", "-in", str(self.pem), "-noout", "-modulus"],
                             check=True, capture_output=True, text=True).stdout
        self.n = bytes.fromhex(out.strip().split("=", 1)[1])

    def jwk(self):
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
                "n": b64url(self.n), "e": b64url((65537).to_bytes(3, "big"))}

    def token(self, sub, lifetime_s=600, kid=None):
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}
        claims = {"sub": sub, "iss": ISSUER, "aud": "kafka", "iat": now, "exp": now + lifetime_s}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.pem)],
                             input=signing_input.encode(), check=True, capture_output=True).stdout
        return f"{signing_input}.{b64url(sig)}", now + lifetime_s


def serve_jwks(document: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def oauth_broker(tmp_path_factory):
    from conftest import new_server
    keys_dir = tmp_path_factory.mktemp("oauth-keys")
    key = RsaKey(keys_dir, "compat-1")
    stranger = RsaKey(keys_dir, "compat-1")
    jwks = serve_jwks(json.dumps({"keys": [key.jwk()]}).encode())
    sasl_port = free_port()
    server = new_server(tmp_path_factory.mktemp("gregor-oauth"), {
        **second_listener(sasl_port),
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.jwks.endpoint.url": f"http://127.0.0.1:{jwks.server_address[1]}/jwks",
        "sasl.oauthbearer.expected.issuer": ISSUER,
        "sasl.oauthbearer.expected.audience": "kafka",
    })
    server.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    server.key, server.stranger = key, stranger
    try:
        with running(server):
            yield server
    finally:
        jwks.shutdown()


def oauth_conf(broker, key, sub="alice"):
    def oauth_cb(_config):
        token, expiry = key.token(sub)
        return token, float(expiry), sub
    return {
        "bootstrap.servers": broker.sasl_bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "OAUTHBEARER",
        "oauth_cb": oauth_cb,
    }


def test_confluent_kafka_roundtrip(oauth_broker):
    from confluent_kafka import Producer
    topic = f"oauth-cf-{uuid.uuid4().hex[:8]}"
    producer = Producer(oauth_conf(oauth_broker, oauth_broker.key))
    errors = []
    for i in range(10):
        producer.produce(topic, value=f"m{i}".encode(), on_delivery=lambda err, msg: err and errors.append(err))
    assert producer.flush(30) == 0
    assert errors == []
    conf = oauth_conf(oauth_broker, oauth_broker.key, sub="bob")
    conf.pop("bootstrap.servers")
    consumer = cf_consumer(oauth_broker.sasl_bootstrap, **conf, **{"group.id": f"g-{uuid.uuid4().hex[:8]}"})
    try:
        consumer.subscribe([topic])
        values = []
        deadline = time.monotonic() + 30
        while len(values) < 10 and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is None or m.error():
                continue
            values.append(m.value().decode())
    finally:
        consumer.close()
    assert values == [f"m{i}" for i in range(10)]


def test_confluent_kafka_rejected_token(oauth_broker):
    from confluent_kafka import Producer, KafkaError
    seen = []
    conf = oauth_conf(oauth_broker, oauth_broker.stranger)
    conf["error_cb"] = lambda err: seen.append(err)
    producer = Producer(conf)
    deadline = time.monotonic() + 20
    while not any(e.code() == KafkaError._AUTHENTICATION for e in seen) and time.monotonic() < deadline:
        producer.poll(0.2)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in seen), seen
    # librdkafka passes on the broker's RFC 7628 error.
    assert any("invalid_token" in e.str() for e in seen), seen


@pytest.fixture(scope="module")
def unsecured_broker(tmp_path_factory):
    from conftest import new_server
    sasl_port = free_port()
    server = new_server(tmp_path_factory.mktemp("gregor-oauth-dev"), {
        **second_listener(sasl_port),
        "sasl.enabled.mechanisms": "OAUTHBEARER",
        "gregor.sasl.oauthbearer.unsecured.enable": "true",
    })
    server.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    with running(server):
        yield server


def java_unsecured_config(tmp_path, sub):
    """Kafka's client-side unsecured tokens (OAuthBearerLoginModule without a
    login callback handler): alg none, sub from the JAAS line."""
    path = tmp_path / f"oauth-{sub}-{uuid.uuid4().hex[:6]}.properties"
    path.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=OAUTHBEARER\n"
        "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
        f'unsecuredLoginStringClaim_sub="{sub}";\n')
    return path


def test_java_unsecured_tokens_in_dev_mode(unsecured_broker, tmp_path):
    topic = f"oauth-java-{uuid.uuid4().hex[:8]}"
    config = java_unsecured_config(tmp_path, "dev")
    tool("TopicCommand", "--create", "--topic", topic, "--partitions", "1", "--command-config", config,
         bootstrap=unsecured_broker.sasl_bootstrap)
    _, out, _ = tool("TopicCommand", "--list", "--command-config", config, bootstrap=unsecured_broker.sasl_bootstrap)
    assert topic in out.split()


def test_java_unsecured_tokens_refused_with_jwks(oauth_broker, tmp_path):
    rc, out, err = tool("TopicCommand", "--list", "--command-config", java_unsecured_config(tmp_path, "dev"),
                        bootstrap=oauth_broker.sasl_bootstrap, check=False)
    assert rc != 0
    assert 'Error while executing topic command : {"status":"invalid_token"}' in out + err, out + err
