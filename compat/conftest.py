"""Fixtures for the real-client compatibility suite.

Each test module gets its own Gregor broker (``broker`` fixture): a real
``gregor server`` process on a free 127.0.0.1 port with a temporary data dir.
Tests that restart or kill the broker use ``broker_factory`` and get their own.

Environment:
  GREGOR_BIN         the gregor binary (default: target/debug/gregor)
  COMPAT_BOOTSTRAP   host:port of an already-running broker (e.g. real Apache
                     Kafka, see compat/kafka_ref.sh); tests that need process
                     control are skipped in that mode.
  COMPAT_SERVER=kafka  start real Apache Kafka (jars from compat/kafka_ref.sh in
                     target/kafka-ref/libs) instead of gregor, with the same
                     fixtures, so the restart/kill tests can be checked against
                     the reference broker too.
"""

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GREGOR_BIN = os.environ.get("GREGOR_BIN", str(ROOT / "target" / "debug" / "gregor"))
EXTERNAL = os.environ.get("COMPAT_BOOTSTRAP")
SERVER_KIND = os.environ.get("COMPAT_SERVER", "gregor")
KAFKA_LIBS = Path(os.environ.get("KAFKA_REF_LIBS", str(ROOT / "target" / "kafka-ref" / "libs")))
# The cluster id of every broker the suite formats.
CLUSTER_ID = "q1Sh-9_ISia_zwGINzRvyQ"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


PORT_CLAIMS = Path(tempfile.gettempdir()) / "gregor-test-ports"
STALE_CLAIM_SECONDS = 3600


def claim_port(port):
    """Claims `port` for one test with a file created exclusively in a
    directory every test process shares (the Rust tests claim there too), so
    two tests running at once never draw the same free port. Claims older
    than an hour are left from finished runs and are taken over."""
    PORT_CLAIMS.mkdir(parents=True, exist_ok=True)
    path = PORT_CLAIMS / str(port)
    for _ in range(2):
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            return True
        except FileExistsError:
            try:
                if time.time() - path.stat().st_mtime <= STALE_CLAIM_SECONDS:
                    return False
                path.unlink()
            except FileNotFoundError:
                pass
    return False


def free_port():
    """A free port picked at random below the kernel's ephemeral range
    (32768+), which outgoing connections take: a port from bind(0) may be
    held by another test's client socket by the time the server binds it.
    The port is claimed so no other test of the run picks it too."""
    while True:
        port = random.randint(10000, 31999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if claim_port(port):
            return port


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class GregorServer:
    """A gregor server process; restartable on the same port and data dir."""

    external = False

    def __init__(self, workdir: Path, settings=None):
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.settings = dict(settings or {})
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def command(self):
        cmd = [
            GREGOR_BIN,
            "server",
            "--set", "node.id=1",
            "--set", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--set", f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "--set", f"log.dirs={self.data_dir}",
        ]
        # "{port}" in a value stands for this server's client port, so a
        # test can add listeners next to it before the port is chosen.
        for k, v in self.settings.items():
            cmd += ["--set", f"{k}={str(v).replace('{port}', str(self.port))}"]
        return cmd

    start_timeout = START_TIMEOUT

    def prepare(self):
        pass

    def write_properties(self, props):
        """`props` as this server's server.properties (self.props_path)."""
        self.props_path = self.workdir / "server.properties"
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def start(self, settings=None):
        if settings:
            self.settings.update(settings)
        self.prepare()
        if SERVER_KIND == "gregor" and not Path(GREGOR_BIN).exists():
            pytest.fail(f"gregor binary not found at {GREGOR_BIN} (build it or set GREGOR_BIN)")
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gregor exited with {self.proc.returncode} during startup\n{self.log_tail()}"
                )
            if port_open(self.host, self.port):
                return self
            time.sleep(0.05)
        self.kill9()
        raise RuntimeError(f"broker did not listen on {self.bootstrap} within {self.start_timeout}s\n{self.log_tail()}")

    def _signal(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM, then SIGKILL after `timeout` seconds. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        # anything left in the process group
        self._signal(signal.SIGKILL)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill9(self):
        if self.proc is None:
            return
        self._signal(signal.SIGKILL)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def restart(self, settings=None):
        self.stop()
        return self.start(settings)

    def log_tail(self, lines=80):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


class KafkaServer(GregorServer):
    """Apache Kafka (KRaft combined mode) with the same interface, for checking the tests."""

    start_timeout = 60.0

    def __init__(self, workdir, settings=None):
        super().__init__(workdir, settings)
        self.cport = free_port()

    def single_node_settings(self):
        """What every single-node Kafka here has: both roles, its own quorum, and one replica of
        each internal topic."""
        return {
            "process.roles": "broker,controller", "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.cport}", "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.data_dir), "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1", "share.coordinator.state.topic.min.isr": "1",
        }

    def prepare(self):
        props = self.single_node_settings()
        props.update({
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "num.partitions": "1", "auto.create.topics.enable": "true",
        })
        props.update({k: str(v) for k, v in self.settings.items()})
        self.configure(props)

    def configure(self, props, format_args=()):
        """Writes server.properties and the log4j2 config, and formats the storage on the first start
        (with `format_args` added, e.g. --add-scram)."""
        self.write_properties(props)
        # Kafka logs nothing without a log4j2 config; INFO (as kafka_ref.sh) so a failing
        # test's report shows what the reference broker did.
        self.log4j_path = self.workdir / "log4j2.properties"
        self.log4j_path.write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=OUT\nappender.out.type=Console\n"
            "appender.out.name=OUT\nappender.out.layout.type=PatternLayout\n"
            "appender.out.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.state.name=state.change.logger\nlogger.state.level=WARN\n")
        if not (self.data_dir / "meta.properties").exists():
            subprocess.run(["java", "-cp", f"{KAFKA_LIBS}/*", "kafka.tools.StorageTool", "format", "-t", CLUSTER_ID,
                            "-c", str(self.props_path), *format_args],
                           check=True, capture_output=True, timeout=60)

    def command(self):
        return ["java", "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={self.log4j_path}",
                "-cp", f"{KAFKA_LIBS}/*", "kafka.Kafka", str(self.props_path)]


def kafka_ref_version():
    """Version of the reference broker's jars in KAFKA_LIBS ("" when absent)."""
    for jar in KAFKA_LIBS.glob("kafka_2.13-*.jar"):
        return jar.name[len("kafka_2.13-"):-len(".jar")]
    return ""


def new_server(workdir, settings=None):
    return (KafkaServer if SERVER_KIND == "kafka" else GregorServer)(workdir, settings)


class ExternalBroker:
    """A broker we did not start (COMPAT_BOOTSTRAP): no process control."""

    external = True

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)

    def _skip(self, *a, **k):
        pytest.skip("needs process control; COMPAT_BOOTSTRAP points at an external broker")

    start = stop = kill9 = restart = _skip

    def log_tail(self, lines=80):
        return "(external broker)"


def second_listener(port, name="SASL_PLAINTEXT", protocol="SASL_PLAINTEXT"):
    """Settings for a listener `name` speaking `protocol` on `port`, next to the PLAINTEXT one
    (the client port, where the fixtures wait and admin tools connect); brokers talk PLAINTEXT."""
    listeners = f"PLAINTEXT://127.0.0.1:{{port}},{name}://127.0.0.1:{port}"
    return {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "listener.security.protocol.map": f"PLAINTEXT:PLAINTEXT,{name}:{protocol}",
        "inter.broker.listener.name": "PLAINTEXT",
    }


@contextlib.contextmanager
def running(server):
    """`server` started, and stopped on leaving (also when starting failed part-way)."""
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """One broker per test module."""
    if EXTERNAL:
        yield ExternalBroker(EXTERNAL)
        return
    server = new_server(tmp_path_factory.mktemp("gregor"))
    with running(server):
        yield server


@pytest.fixture
def broker_factory(tmp_path_factory, request):
    """Start private brokers (for restart / kill tests); all stopped at teardown."""
    if EXTERNAL:
        pytest.skip("needs process control; COMPAT_BOOTSTRAP points at an external broker")
    servers = []
    request.node._gregor_servers = servers

    def make(settings=None):
        server = new_server(tmp_path_factory.mktemp("gregor"), settings)
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for s in servers:
            s.stop()


@pytest.fixture
def bootstrap(broker):
    return broker.bootstrap


@pytest.fixture
def topic(request):
    """A unique topic name for this test (safe against a shared external broker)."""
    base = re.sub(r"[^a-zA-Z0-9_-]", "-", request.node.name)[:60]
    return f"{base}-{uuid.uuid4().hex[:8]}"


def pytest_configure(config):
    config.addinivalue_line("markers", "txn: transactions (coordinator, markers, read_committed)")
    config.addinivalue_line(
        "markers", "gregor_pending(reason): passes on Kafka 4.4, needs a Gregor feature not merged yet; "
        "skipped on Gregor only, with the reason")


def pytest_collection_modifyitems(config, items):
    """gregor_pending tests run against Kafka (COMPAT_SERVER=kafka) and skip on Gregor,
    so main stays green while the feature is being built; remove the marker once it passes."""
    if SERVER_KIND == "kafka" or os.environ.get("COMPAT_RUN_PENDING"):
        return  # COMPAT_RUN_PENDING=1: run them on Gregor too, to see which pass now
    for item in items:
        m = item.get_closest_marker("gregor_pending")
        if m is not None:
            reason = m.args[0] if m.args else m.kwargs.get("reason", "not in Gregor yet")
            item.add_marker(pytest.mark.skip(reason=f"gregor_pending: {reason}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for name in ("broker", "sbroker"):
            srv = item.funcargs.get(name) if hasattr(item, "funcargs") else None
            if srv is not None and not getattr(srv, "external", True):
                rep.sections.append((f"gregor server log (tail) {srv.log_path}", srv.log_tail()))
        for srv in getattr(item, "_gregor_servers", []):
            rep.sections.append((f"gregor server log (tail) {srv.log_path}", srv.log_tail()))
