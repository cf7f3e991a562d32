"""Helpers for the security tests (test_security_*.py): certificates made by the
tests, a broker with SSL / SASL_PLAINTEXT / SASL_SSL listeners (Gregor or, with
COMPAT_SERVER=kafka, Apache Kafka 4.4), and one way to configure every client.

Certificates (python `cryptography`, RSA 2048, PEM, unencrypted PKCS#8 keys): a CA,
a server certificate with SANs localhost and 127.0.0.1 (so clients keep hostname
verification on), and client certificates with chosen subject DNs.

Broker settings use Kafka's property names. Where Kafka needs JAAS (the PLAIN users,
the SCRAM login module, the inter-broker/controller credentials) only the Kafka side
gets it; Gregor checks PLAIN against its SCRAM credential store (docs/security.md).
Users: admin (super user), alice and bob, each with PLAIN, SCRAM-SHA-256 and
SCRAM-SHA-512 credentials `<name>-secret`; SCRAM users are created at format time
(`kafka-storage format --add-scram`, `gregor storage format --add-scram`).
"""

import datetime
import ipaddress
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from conftest import CLUSTER_ID, GREGOR_BIN, SERVER_KIND, GregorServer, KafkaServer, free_port, port_open

USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
MECHANISMS = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

# ---- certificates ------------------------------------------------------------------


class Certs:
    """A test CA and the certificates it signed, as PEM files in `directory`.

    For each name: NAME.crt (certificate), NAME.key (PKCS#8 key), NAME.pem (key then
    certificate chain: what Kafka's ssl.keystore.type=PEM reads from ssl.keystore.location).
    ca.crt is the trust store of everyone."""

    def __init__(self, directory: Path):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self._x509, self._hashes, self._rsa, self._oid = x509, hashes, rsa, NameOID
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gregor Test"),
                          x509.NameAttribute(NameOID.COMMON_NAME, "Gregor Test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(self.ca_key, hashes.SHA256()))
        self.ca = self._write("ca.crt", self._pem(self.ca_cert))
        self.server = self.issue("server", [("CN", "localhost"), ("O", "Gregor Test")], server=True)

    @staticmethod
    def _pem(cert):
        from cryptography.hazmat.primitives.serialization import Encoding

        return cert.public_bytes(Encoding.PEM)

    def _write(self, name, data):
        p = self.dir / name
        p.write_bytes(data)
        return str(p)

    def issue(self, name, subject, server=False, signer=None):
        """A certificate for `subject`, a list of (attribute, value) in the order Java's
        X500Principal.getName() (RFC 2253) prints them, e.g. [("CN", "alice"), ("OU", "eng")].
        `signer` (key, cert) signs instead of the CA (a certificate nobody trusts)."""
        x509, NameOID = self._x509, self._oid
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
        from cryptography.x509.oid import ExtendedKeyUsageOID

        oids = {"CN": NameOID.COMMON_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "O": NameOID.ORGANIZATION_NAME,
                "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME, "C": NameOID.COUNTRY_NAME}
        # RFC 2253 prints the RDNs last-to-first, so the certificate holds them reversed.
        subj = x509.Name([x509.NameAttribute(oids[k], v) for k, v in reversed(subject)])
        key = self._rsa.generate_private_key(public_exponent=65537, key_size=2048)
        sign_key, sign_cert = signer or (self.ca_key, self.ca_cert)
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(subj).issuer_name(sign_cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        cert = b.sign(sign_key, self._hashes.SHA256())
        key_pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        chain = self._pem(cert) + (self._pem(sign_cert) if signer is None else b"")
        return ClientCert(
            dn=",".join(f"{k}={v}" for k, v in subject),
            crt=self._write(f"{name}.crt", chain),
            key=self._write(f"{name}.key", key_pem),
            pem=self._write(f"{name}.pem", key_pem + chain),
        )

    def self_signed(self, name, subject):
        """A certificate signed by a throw-away CA the broker does not trust."""
        x509, NameOID = self._x509, self._oid
        key = self._rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rogue CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(n).issuer_name(n).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, self._hashes.SHA256()))
        return self.issue(name, subject, signer=(key, cert))


@dataclass
class ClientCert:
    dn: str      # the subject as Java renders it (RFC 2253)
    crt: str     # certificate chain PEM
    key: str     # PKCS#8 key PEM
    pem: str     # key + chain (Kafka's PEM keystore file)


# ---- brokers ------------------------------------------------------------------------

LISTENERS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _security_settings(certs: Certs, client_auth, authorizer, mapping_rules, ports, extra):
    """The Kafka property names both brokers get (only what the listeners in `ports` use,
    so a Gregor without SASL yet starts with the TLS-only layout)."""
    s = {
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "advertised.listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "auto.create.topics.enable": "true",
    }
    if "SSL" in ports:
        s.update({
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": certs.server.pem,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": certs.ca,
            "ssl.client.auth": client_auth,
        })
    if "SASL_PLAINTEXT" in ports:
        s["sasl.enabled.mechanisms"] = ",".join(MECHANISMS)
    if "SASL_SSL" in ports:
        # SASL_SSL never asks for a certificate: the SASL identity is the principal
        # (and only the listener's own ssl.client.auth applies there, KIP-684).
        s["listener.name.sasl_ssl.ssl.client.auth"] = "none"
    if authorizer:
        s["authorizer.class.name"] = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        s["super.users"] = "User:admin"
        s["allow.everyone.if.no.acl.found"] = "false"
    if mapping_rules and "SSL" in ports:
        s["ssl.principal.mapping.rules"] = mapping_rules
    s.update(extra or {})
    return s


def _jaas_plain(username, password, users=True):
    u = " ".join(f'user_{n}="{p}"' for n, p in USERS.items()) if users else ""
    return f'org.apache.kafka.common.security.plain.PlainLoginModule required username="{username}" password="{password}" {u};'


def _add_scram_args():
    args = []
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
        for n, p in USERS.items():
            args += ["--add-scram", f"{mech}=[name={n},password={p}]"]
    return args


class _Secure:
    """Mixed into GregorServer / KafkaServer: several listeners, one port each."""

    def _init_secure(self, certs, client_auth, authorizer, mapping_rules, extra, sasl=True):
        self.sasl = sasl
        names = LISTENERS if sasl else ("PLAINTEXT", "SSL")
        if os.environ.get("COMPAT_SEC_NO_TLS") and not isinstance(self, KafkaServer):
            # for trying a Gregor built without TLS (-k to pick the tests that need none)
            names = [n for n in names if n not in ("SSL", "SASL_SSL")]
        self.ports = {n: free_port() for n in names}
        self.port = self.ports["PLAINTEXT"]
        self.certs = certs
        self.sec_settings = _security_settings(certs, client_auth, authorizer, mapping_rules, self.ports, extra)

    def addr(self, listener):
        return f"127.0.0.1:{self.ports[listener]}"

    def start(self, settings=None):
        super().start(settings)
        # every listener open, not just the first one
        import time
        deadline = time.monotonic() + self.start_timeout
        while not all(port_open("127.0.0.1", p) for p in self.ports.values()):
            assert time.monotonic() < deadline, f"listeners not all open\n{self.log_tail()}"
            time.sleep(0.1)
        return self


class SecureGregor(_Secure, GregorServer):
    def __init__(self, workdir, certs, client_auth="required", authorizer=False, mapping_rules=None, extra=None,
                 sasl=True):
        GregorServer.__init__(self, workdir)
        self._init_secure(certs, client_auth, authorizer, mapping_rules, extra, sasl)

    def prepare(self):
        props = {"node.id": "1", "log.dirs": str(self.data_dir),
                 "listener.security.protocol.map": ",".join(f"{n}:{n}" for n in self.ports)}
        props.update(self.sec_settings)
        props.update({k: str(v) for k, v in self.settings.items()})
        self.write_properties(props)
        # SCRAM users at format time, as with kafka-storage (once the sasl work is in).
        helptext = subprocess.run([GREGOR_BIN, "storage", "format", "--help"], capture_output=True, text=True).stdout
        if self.sasl and "--add-scram" in helptext and not (self.data_dir / "meta.properties").exists():
            subprocess.run([GREGOR_BIN, "storage", "format", "-t", CLUSTER_ID, "-c", str(self.props_path),
                            *_add_scram_args()], check=True, capture_output=True, timeout=60)

    def command(self):
        return [GREGOR_BIN, "server", "--config", str(self.props_path)]


class SecureKafka(_Secure, KafkaServer):
    def __init__(self, workdir, certs, client_auth="required", authorizer=False, mapping_rules=None, extra=None,
                 sasl=True):
        KafkaServer.__init__(self, workdir)
        # Kafka always gets the SASL listeners: its controller / inter-broker traffic uses one.
        self._init_secure(certs, client_auth, authorizer, mapping_rules, extra, True)

    def prepare(self):
        admin = ("admin", USERS["admin"])
        s = self.single_node_settings()
        s.update({
            # Broker-to-controller and inter-broker traffic authenticate as the super user
            # admin (PLAIN), so no anonymous principal needs to be a super user.
            "listener.security.protocol.map": "CONTROLLER:SASL_PLAINTEXT," + ",".join(f"{n}:{n}" for n in LISTENERS),
            "inter.broker.listener.name": "SASL_PLAINTEXT",
            "sasl.mechanism.inter.broker.protocol": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config": _jaas_plain(*admin),
        })
        s.update(self.sec_settings)
        s["listeners"] += f",CONTROLLER://127.0.0.1:{self.cport}"
        for l in ("sasl_plaintext", "sasl_ssl"):
            s[f"listener.name.{l}.plain.sasl.jaas.config"] = _jaas_plain(*admin)
            for m in ("scram-sha-256", "scram-sha-512"):
                s[f"listener.name.{l}.{m}.sasl.jaas.config"] = (
                    f'org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" '
                    f'password="{USERS["admin"]}";')
        s.update({k: str(v) for k, v in self.settings.items()})
        self.configure(s, _add_scram_args())


def new_secure_server(workdir, certs, **kw):
    return (SecureKafka if SERVER_KIND == "kafka" else SecureGregor)(workdir, certs, **kw)


# ---- client security settings ----------------------------------------------------------


@dataclass
class Sec:
    """How a client connects: a protocol, maybe a SASL user, maybe a client certificate."""
    protocol: str = "PLAINTEXT"
    mechanism: Optional[str] = None
    username: Optional[str] = None
    password: Optional[str] = None
    ca: Optional[str] = None
    cert: Optional[ClientCert] = None

    @property
    def tls(self):
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self):
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def java(self):
        """Java kafka-clients properties (PEM files; hostname verification left at its default, https)."""
        p = {"security.protocol": self.protocol}
        if self.tls:
            p.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": self.ca})
            if self.cert:
                p.update({"ssl.keystore.type": "PEM", "ssl.keystore.location": self.cert.pem})
        if self.sasl:
            p["sasl.mechanism"] = self.mechanism
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if self.mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            p["sasl.jaas.config"] = f'{module} required username="{self.username}" password="{self.password}";'
        return p

    def librdkafka(self):
        """confluent-kafka / kcat properties."""
        p = {"security.protocol": self.protocol.lower()}
        if self.tls:
            p["ssl.ca.location"] = self.ca
            p["ssl.endpoint.identification.algorithm"] = "https"
            if self.cert:
                p.update({"ssl.certificate.location": self.cert.crt, "ssl.key.location": self.cert.key})
        if self.sasl:
            p.update({"sasl.mechanisms": self.mechanism, "sasl.username": self.username,
                      "sasl.password": self.password})
        return p

    def kafka_python(self):
        p = {"security_protocol": self.protocol}
        if self.tls:
            p.update({"ssl_cafile": self.ca, "ssl_check_hostname": True})
            if self.cert:
                p.update({"ssl_certfile": self.cert.crt, "ssl_keyfile": self.cert.key})
        if self.sasl:
            p.update({"sasl_mechanism": self.mechanism, "sasl_plain_username": self.username,
                      "sasl_plain_password": self.password})
        return p

    def env_json(self):
        """COMPAT_SECURITY for franz-go (go/security.go) and kafkajs (node/compat.js)."""
        d = {"protocol": self.protocol}
        if self.tls:
            d["ca"] = self.ca
            if self.cert:
                d.update({"cert": self.cert.crt, "key": self.cert.key})
        if self.sasl:
            d.update({"mechanism": self.mechanism, "username": self.username, "password": self.password})
        return json.dumps(d)


def listener_for(sec: Sec):
    return sec.protocol


def user(protocol, name, mechanism="SCRAM-SHA-256", password=None, ca=None):
    return Sec(protocol, mechanism, name, USERS.get(name, "x") if password is None else password, ca)
