"""Scraping Gregor's admin endpoint and running a real Prometheus against it
(compat/test_metrics.py, compat/cluster/test_metrics_alerts.py)."""

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALERT_RULES = ROOT / "deploy" / "prometheus" / "strimzi-kafka-alerts.yaml"


def scrape(address, timeout=5):
    """The text of GET /metrics at host:port."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=timeout) as r:
        assert r.status == 200
        return r.read().decode()


def sample(text, name, **labels):
    """The value of the sample `name` with exactly `labels`, or None."""
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        series_name, _, rest = series.partition("{")
        if series_name != name:
            continue
        got = {}
        for pair in filter(None, rest.rstrip("}").split(",")):
            k, _, v = pair.partition("=")
            got[k] = v.strip('"')
        if got == {k: str(v) for k, v in labels.items()}:
            return float(value)
    return None


def alert_exprs():
    """{alert name: expression} of the vendored Strimzi rules (a tiny reader of
    that one file's layout, so the suite needs no YAML package)."""
    exprs, name = {}, None
    for line in ALERT_RULES.read_text().splitlines():
        line = line.strip()
        if line.startswith("- alert:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("expr:") and name:
            exprs[name] = line.split(":", 1)[1].strip()
    return exprs


class Prometheus:
    """A real `prometheus` (Debian package) scraping `targets` every second,
    with the vendored alert rules loaded."""

    def __init__(self, workdir: Path, targets, port):
        self.workdir = workdir
        self.port = port
        self.targets = targets
        self.proc = None

    def start(self):
        binary = shutil.which("prometheus")
        assert binary, "prometheus not installed (scripts/compat-deps.sh installs it)"
        config = self.workdir / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.targets)
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 1s}\n"
            f"rule_files: [\"{ALERT_RULES}\"]\n"
            "scrape_configs:\n"
            "  - job_name: gregor\n"
            f"    static_configs: [{{targets: [{targets}]}}]\n")
        self.log = open(self.workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir)
        self.wait(lambda: self.query("up") is not None, 30, "prometheus serving")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()

    def query(self, expr):
        """The instant vector `expr` evaluates to: [(labels, value)], or None
        while Prometheus does not answer."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.load(r)
        except OSError:
            return None
        assert body["status"] == "success", body
        return [(s["metric"], float(s["value"][1])) for s in body["data"]["result"]]

    def wait(self, check, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            if check():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    def fires(self, alert):
        """Whether the alert's expression has a result now."""
        return bool(self.query(alert_exprs()[alert]))
