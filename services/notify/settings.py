"""Settings of the notify service (shared Kafka/MongoDB/auth settings plus its own)."""

from __future__ import annotations

import base64

from pydantic import Field, PrivateAttr, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.notify.domain.backoff import RetrySchedule
from services.notify.domain.webhooks import LOOPBACK, Destinations
from services.notify.repository.secret_box import DEV_BOX, DEV_KEY, KEY_SETTING, SecretBox
from shared.settings import Settings


class NotifySettings(Settings):
    model_config = SettingsConfigDict(env_prefix="HULIN_", extra="ignore")

    service: str = "notify"
    port: int = 8003

    # The console calls the incidents API from the browser (acknowledge) at this address.
    incidents_base_url: str = "http://127.0.0.1:8002"
    # Messages show times in the district's local time (China Standard Time, no DST).
    display_utc_offset_h: float = 8.0

    # Live stream (SSE).
    stream_keepalive_s: float = Field(default=15.0, gt=0)
    stream_poll_interval_s: float = Field(default=0.25, gt=0)  # tail of stored alerts
    stream_queue_size: int = Field(default=1000, ge=1)  # per client; full ⇒ the client is dropped
    stream_catchup_limit: int = Field(default=2000, ge=1)  # alerts replayed after Last-Event-ID
    stream_gap_wait_s: float = Field(default=10.0, ge=0)  # wait for a late alert this long
    stream_retry_ms: int = Field(default=2000, ge=0)  # the browser reconnects after this long
    stream_tail_batch: int = Field(default=1000, ge=1)  # alerts the tail reads in one call at most
    stream_seen_max: int = Field(default=50_000, ge=1)  # numbers remembered to drop duplicates
    # With nothing stored by other replicas lately, the tail looks only every this many calls.
    stream_quiet_look_every: int = Field(default=4, ge=1)

    # Webhooks: exponential backoff with jitter, for at least `webhook_retry_for_s`, then dead.
    webhook_backoff_base_s: float = Field(default=10.0, gt=0)
    webhook_backoff_factor: float = Field(default=2.0, ge=1)
    webhook_backoff_max_s: float = Field(default=600.0, gt=0)
    webhook_retry_for_s: float = Field(default=3900.0, ge=0)  # 65 min: "at least an hour"
    webhook_jitter: float = Field(default=0.2, ge=0, lt=1)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_lease_s: float = Field(default=60.0, gt=0)  # > timeout: a claimed try is not re-sent
    webhook_dispatch_interval_s: float = Field(default=0.5, gt=0)
    webhook_batch: int = Field(default=50, ge=1)
    # The due queue is in memory; this often the store is swept for deliveries other replicas
    # wrote or left (the open ones only), and a delivery whose predecessor is held by
    # another replica looks again after `webhook_wait_recheck_s`.
    webhook_sweep_interval_s: float = Field(default=30.0, gt=0)
    webhook_wait_recheck_s: float = Field(default=5.0, gt=0)
    # The sweep never takes more than this share of the time (a slow store sweeps less often).
    webhook_sweep_share: float = Field(default=0.05, gt=0, le=1)
    # Finished deliveries remembered in memory (a miss costs one read by key).
    webhook_done_remembered: int = Field(default=100_000, ge=1)

    # Non-public destinations webhooks may still reach: comma-separated host names, addresses
    # or CIDR networks. `dev` and `test` also allow loopback (their receivers run there).
    webhook_allow_hosts: str = ""

    # Webhook signing secrets are stored sealed (AES-256-GCM) under this key: the base64 of 32
    # random bytes (`openssl rand -base64 32`). Required in prod; unset, dev and test use a public
    # dev key. To rotate: the new key here, the old one in `_old_keys` (comma-separated) until
    # every replica has restarted (each start re-seals every stored secret under this key).
    webhook_secret_key: SecretStr = SecretStr("")
    webhook_secret_old_keys: SecretStr = SecretStr("")
    _secret_box: SecretBox | None = PrivateAttr(default=None)  # set by the validator

    @model_validator(mode="after")
    def _webhook_secret_key_usable(self) -> NotifySettings:
        current = self.webhook_secret_key.get_secret_value()
        if not current.strip():
            if self.env == "prod":
                raise ValueError(
                    f"{KEY_SETTING} must be set outside dev and test: it encrypts the webhook "
                    "secrets at rest (the base64 of 32 random bytes: `openssl rand -base64 32`)"
                )
            current = base64.b64encode(DEV_KEY).decode("ascii")
        box = SecretBox.from_settings(current, self.webhook_secret_old_keys.get_secret_value())
        if self.env == "prod" and box.current_kid == DEV_BOX.current_kid:
            raise ValueError(f"{KEY_SETTING} must not be the dev key outside dev (it is public)")
        self._secret_box = box
        return self

    def webhook_secret_box(self) -> SecretBox:
        """Seals webhook secrets under the current key; opens them under it or an old one."""
        assert self._secret_box is not None, "set by _webhook_secret_key_usable"
        return self._secret_box

    def webhook_destinations(self) -> Destinations:
        entries = [e for e in self.webhook_allow_hosts.split(",") if e.strip()]
        if self.env in ("dev", "test"):
            entries += LOOPBACK
        return Destinations.parse(entries)

    def retry_schedule(self) -> RetrySchedule:
        return RetrySchedule(
            base_s=self.webhook_backoff_base_s,
            factor=self.webhook_backoff_factor,
            max_s=max(self.webhook_backoff_max_s, self.webhook_backoff_base_s),
            retry_for_s=self.webhook_retry_for_s,
            jitter=self.webhook_jitter,
        )
