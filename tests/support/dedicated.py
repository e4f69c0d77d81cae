"""A Kafka broker and a FerretDB of a test's own (other ports, other state directory), for tests
that stop and restart infrastructure without disturbing every other test."""

from __future__ import annotations

import os
import subprocess
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
