"""A Kafka broker and a FerretDB of a test's own (other ports, other state directory), for tests
that stop and restart infrastructure without disturbing every other test."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.infra import ROOT, free_port


@dataclass
class DedicatedInfra:
    state_dir: Path
    kafka_port: int
    controller_port: int
    mongo_port: int

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            HULIN_STATE_DIR=str(self.state_dir),
            HULIN_KAFKA_PORT=str(self.kafka_port),
            HULIN_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            HULIN_MONGO_PORT=str(self.mongo_port),
            HULIN_KAFKA_BOOTSTRAP=f"127.0.0.1:{self.kafka_port}",
            HULIN_MONGO_URI=f"mongodb://127.0.0.1:{self.mongo_port}",
        )
        return env

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    def infra(self, *args: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "infra.sh"), *args], env=self.env, check=True)

    @classmethod
    def create(cls, state_dir: Path) -> DedicatedInfra:
        return cls(state_dir, free_port(), free_port(), free_port())


@dataclass
class KafkaCluster:
    """Three brokers (KRaft, each also a controller) of the same jars on loopback, replicating as
    production does (replication 3, `min.insync.replicas` 2), for the fault run that kills one.
    Each broker is `infra.sh` with its own name, node id, ports and log dir."""

    state_dir: Path
    ports: list[int]
    controller_ports: list[int]
    cluster_id: str
    replication: int = 3
    min_insync: int = 2

    @classmethod
    def create(cls, state_dir: Path, size: int = 3) -> KafkaCluster:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        return cls(
            state_dir,
            [free_port() for _ in range(size)],
            [free_port() for _ in range(size)],
            cluster_id,
        )

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def name(self, i: int) -> str:
        return f"kafka-{i + 1}"

    def env(self, i: int) -> dict[str, str]:
        voters = ",".join(
            f"{n + 1}@127.0.0.1:{port}" for n, port in enumerate(self.controller_ports)
        )
        env = dict(os.environ)
        env.update(
            HULIN_STATE_DIR=str(self.state_dir),
            HULIN_KAFKA_NAME=self.name(i),
            HULIN_KAFKA_NODE_ID=str(i + 1),
            HULIN_KAFKA_PORT=str(self.ports[i]),
            HULIN_KAFKA_CONTROLLER_PORT=str(self.controller_ports[i]),
            HULIN_KAFKA_VOTERS=voters,
            HULIN_KAFKA_CLUSTER_ID=self.cluster_id,
            HULIN_KAFKA_REPLICATION=str(self.replication),
            HULIN_KAFKA_MIN_ISR=str(self.min_insync),
            HULIN_KAFKA_HEAP="512m",
        )
        return env

    def infra(self, i: int, *args: str) -> None:
        subprocess.run([str(ROOT / "scripts" / "infra.sh"), *args], env=self.env(i), check=True)

    def start(self, i: int) -> None:
        self.infra(i, "start-kafka")

    def kill(self, i: int) -> None:
        """SIGKILL, as a node lost without warning."""
        self.infra(i, "stop-kafka", "KILL")

    def start_all(self) -> None:
        """All at once: a broker's port opens only once a majority of the quorum is up."""
        with ThreadPoolExecutor(len(self.ports)) as pool:
            list(pool.map(self.start, range(len(self.ports))))

    def stop_all(self) -> None:
        for i in range(len(self.ports)):
            self.infra(i, "stop-kafka")
