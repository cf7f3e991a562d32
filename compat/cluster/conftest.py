"""Fixtures of the cluster tests (see harness.py and compat/README.md).

* `cluster`: a fresh 3-node cluster (combined controller+broker) per test, of
  Kafka 4.4 (COMPAT_SERVER=kafka) or Gregor; all processes killed and all nft
  rules removed at teardown, pass or fail.
* `cluster_factory(layout=..., settings=...)`: other layouts (3 controllers +
  2 brokers) or settings.
* `netns`: skips unless we are in the private namespace compat/cluster/run.sh makes.
Node logs are attached to the report of a failing test.
"""

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402

# The soak runs on request (GREGOR_CLUSTER_SOAK=1) and, in a bounded form
# (GREGOR_CLUSTER_SOAK_SECONDS defaults to 30 there), in CI.
SOAK = os.environ.get("GREGOR_CLUSTER_SOAK") == "1" or os.environ.get("CI") == "true"


@pytest.fixture
def netns():
    problem = harness.netns_problem()
    if problem:
        pytest.skip(problem)


def cluster_root():
    """A world-searchable temp dir: Kafka nodes run under their own uids (harness.py)
    and pytest's own tmp dirs are private to root. Removed afterwards unless
    GREGOR_CLUSTER_KEEP=1."""
    root = Path(tempfile.mkdtemp(prefix="gregor-cluster-"))
    root.chmod(0o755)
    return root


@pytest.fixture
def cluster_factory(netns, request):
    problem = harness.gregor_problem()
    if problem:
        pytest.skip(problem)
    clusters = []
    request.node._clusters = clusters
    root = cluster_root()

    def make(layout=None, settings=None, start=True):
        c = harness.Cluster(root / f"cluster{len(clusters)}", layout=layout, settings=settings)
        clusters.append(c)
        return c.start() if start else c

    try:
        yield make
    finally:
        try:
            for c in clusters:
                c.close()
        finally:
            if os.environ.get("GREGOR_CLUSTER_KEEP") != "1":
                shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cluster(cluster_factory):
    return cluster_factory()


def pytest_configure(config):
    # run.sh makes pytest PID 1 of its namespace, where an unhandled SIGTERM is
    # ignored: turn it into KeyboardInterrupt so fixtures still stop every node.
    if os.environ.get("GREGOR_CLUSTER_NETNS") == "1":
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    config.addinivalue_line("markers", "soak: long randomised fault runs (GREGOR_CLUSTER_SOAK=1)")


def pytest_collection_modifyitems(config, items):
    if SOAK:
        return
    skip = pytest.mark.skip(reason="soak run: set GREGOR_CLUSTER_SOAK=1")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for c in getattr(item, "_clusters", []):
            for n in c.nodes.values():
                rep.sections.append((f"node {n.node_id} log (tail) {n.log_path}", n.log_tail(80)))
