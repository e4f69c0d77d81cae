"""Settings shared by every Hulin service, read from `HULIN_*` environment variables.

Local defaults point at the loopback Kafka and FerretDB that `make up` starts; production sets every
value explicitly. The default JWT secret is refused outside `env=dev`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "hulin-dev-secret-change-me-0123456789"
LOOPBACK_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Settings(BaseSettings):
    """Kafka, MongoDB, auth and file locations; one instance per process."""

    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    # prod unless development is asked for (HULIN_ENV=dev: the Makefile, scripts and benches say
    # so): the public JWT secret, the console's demo tokens and loopback CORS are dev's only.
    env: Literal["dev", "test", "prod"] = "prod"
    service: str = "hulin"
    host: str = "127.0.0.1"
    log_level: str = "INFO"

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Prepended to every topic and consumer group: lets tests (and several districts on one
    # cluster) share a broker without seeing each other's messages.
    topic_prefix: str = ""
    # Services create missing topics at start-up (local and dev). In production the topics come
    # from the platform (Strimzi KafkaTopic) with replication 3: set create_topics=false there.
    create_topics: bool = True
    topic_replication_factor: int = Field(default=1, ge=1)
    # How the clients reach the brokers: plaintext on loopback locally; in the cluster
    # SASL_SSL with SCRAM, a KafkaUser per service (deploy/k8s/kafka), the CA of the cluster.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = (
        "PLAINTEXT"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: Path | None = None  # the cluster CA (Strimzi: <cluster>-cluster-ca-cert)
    kafka_ssl_certfile: Path | None = None  # mutual TLS instead of SCRAM: the client's cert
    kafka_ssl_keyfile: Path | None = None
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "hulin"

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_public_key_file: Path | None = None  # RS256: verify with this PEM public key
    jwt_private_key_file: Path | None = None  # RS256: `hulin token` signs with this key
    jwt_ttl_s: int = Field(default=12 * 3600, gt=0)
    jwt_max_ttl_s: int = Field(default=7 * 86400, gt=0)  # no token lives longer (`hulin token`)
    jwt_leeway_s: int = Field(default=60, ge=0)  # slack for a phone's clock a little off
    jwt_audience: str = "hulin"  # tokens name it (`aud`); one of another system is refused
    jwt_revoked_file: Path | None = None  # ids (`jti`) of revoked tokens, one per line

    org_file: Path | None = None  # None: the demo district shipped in shared/org/
    policy_file: Path | None = None  # None: the defaults shipped in shared/policy/

    # Browser origins allowed to call the HTTP APIs (CORS): the command-center console is served
    # by notify and calls incidents from the browser. Loopback by default; set the console's
    # origin in production (e.g. `^https://hulin\.example\.cn$`), or "" to allow none.
    cors_origin_regex: str = LOOPBACK_ORIGINS

    # The largest request body read at all (413 above it, before authentication or parsing);
    # a service raises it for one path through `app.state.body_limits` (hotspot uploads).
    max_body_bytes: int = Field(default=1_048_576, gt=0)

    @model_validator(mode="after")
    def _safe_in_prod(self) -> Settings:
        if self.env == "prod" and self.cors_origin_regex == LOOPBACK_ORIGINS:
            # the loopback default is for a developer's browser; in prod only what is set
            self.cors_origin_regex = ""
        if self.env == "prod" and self.jwt_algorithm == "HS256":
            if self.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
                raise ValueError("HULIN_JWT_SECRET must be set outside dev (the default is public)")
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("HULIN_JWT_SECRET must be at least 32 characters")
        if self.kafka_security_protocol.startswith("SASL") and not self.kafka_sasl_username:
            raise ValueError("HULIN_KAFKA_SASL_USERNAME (and _PASSWORD) are needed with SASL")
        if self.jwt_algorithm == "RS256" and self.jwt_public_key_file is None:
            raise ValueError("HULIN_JWT_PUBLIC_KEY_FILE is required with HULIN_JWT_ALGORITHM=RS256")
        return self

    def check_bind(self, host: str) -> None:
        """Refuse to serve dev off this machine: its demo tokens mint any role for anyone."""
        if self.env == "dev" and not _is_loopback(host):
            raise ValueError(
                f"HULIN_ENV=dev serves on loopback only, not {host!r} (set HULIN_HOST=127.0.0.1)"
            )

    @property
    def database_name(self) -> str:
        """Each service keeps its collections in a database of its own (`<mongo_db>_<service>`):
        nobody reads another's, and on FerretDB/SQLite each gets its own file and write lock."""
        return f"{self.mongo_db}_{self.service}"

    def topic(self, name: str) -> str:
        """The full topic name for a logical one (`hulin.reports` → `<prefix>hulin.reports`)."""
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        """The consumer group of a service's consumers."""
        return f"{self.topic_prefix}hulin.{service}"
