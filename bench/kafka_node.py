"""What the side-by-side benchmarks share about the brokers they start: the server.properties of
a single-node Apache Kafka (KRaft combined mode) on 127.0.0.1 (one node that is broker and
controller, every internal topic with one replica), and stopping a broker's process group."""

import os
import signal
import subprocess


def single_node_props(bootstrap, controller_port, data_dir, **extra):
    """Kafka's settings for one combined node serving `bootstrap` (host:port), its controller on
    `controller_port`, its log in `data_dir`; `extra` settings are added last."""
    props = {
        "process.roles": "broker,controller", "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://{bootstrap},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{bootstrap}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir), "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1", "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
    }
    props.update(extra)
    return props


def properties_text(props):
    return "".join(f"{k}={v}\n" for k, v in props.items())


def stop_group(proc, timeout=30):
    """SIGTERM to the process group `proc` leads (started with start_new_session), SIGKILL if it
    has not exited after `timeout` seconds."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
