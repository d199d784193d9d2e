"""Server settings: one typed object, read once (``NXLINK_*`` environment variables)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from nxlink.contract.endpoints import ENVELOPE_SETTINGS

#: A list setting: a JSON array (``["a","b"]``) or comma-separated values (``a,b``) in the
#: environment.
StrList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Everything the server can be told. Environment variables use the ``NXLINK_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="NXLINK_", extra="ignore")

    db: str = Field("sqlite:///./nxlink.db", description="Database URL (sqlite:///PATH).")
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind.")
    workers: int = Field(1, ge=1, le=64, description="Server processes.")
    envelope: Literal["vendor", "flat", "data"] = Field(
        "vendor",
        description="Where the lists' page fields go: as the vendor documents each list "
        "(vendor: task/list and call/list beside code/message, flow/list and route/list under "
        "'data'), or every list beside code/message (flat) or under 'data' (data).",
    )
    timestamp_window_ms: int = Field(
        60_000, ge=0, description="Largest accepted |server clock - ts| in milliseconds."
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=2,
        description="Largest accepted request body, except task/create and call/append.",
    )
    max_import_body_bytes: int = Field(
        16_777_216,
        ge=2,
        description="Largest accepted request body of the endpoints that import contacts "
        "(task/create, call/append).",
    )
    strict_headers: bool = Field(
        False,
        description="Accept only the current header generation (bizType 100, action nxai); "
        "by default bizType 8 with the operation's own action is accepted too.",
    )
    extra_biz_types: StrList = Field(
        default_factory=list,
        description="bizType values accepted like 100 (JSON array or comma-separated).",
    )
    extra_actions: StrList = Field(
        default_factory=list,
        description="action values accepted besides nxai and the operations' own "
        "(JSON array or comma-separated).",
    )
    cors_origins: StrList = Field(
        default_factory=list,
        description="Origins a browser may call the API from (CORS; JSON array or "
        "comma-separated; `*` for any). Empty: no CORS headers.",
    )
    db_threads: int = Field(
        2,
        ge=1,
        le=256,
        description="Threads running database reads, per worker: the most reads at once.",
    )
    db_write_threads: int = Field(
        1,
        ge=1,
        le=256,
        description="Threads running database writes, per worker: the most writes at once.",
    )
    retry_after_s: int = Field(
        1, ge=0, le=3600, description="Retry-After of a 503 (database busy or not ready)."
    )
    ready_timeout_ms: int = Field(
        500, ge=1, le=60_000, description="How long /readyz waits for the database's answer."
    )
    graceful_shutdown_s: int = Field(
        20,
        ge=1,
        le=3600,
        description="On SIGTERM, how long requests in flight may take before they are cancelled.",
    )
    max_header_bytes: int = Field(
        16_384,
        ge=1024,
        le=1_048_576,
        description="Largest request header section (the target and every header line); "
        "larger answers 431.",
    )
    max_headers: int = Field(
        100, ge=1, le=10_000, description="Most header fields in a request; more answers 431."
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="Seconds a request's header section may take, from the connection or from "
        "its first byte; then 408 and close.",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds an API request's body may take after its headers; then 408 and close.",
    )
    rate_limit_per_s: float = Field(
        0.0,
        ge=0,
        le=1_000_000,
        description="Requests per second each access key may make (0: no limit); beyond it "
        "HTTP 429 with Retry-After. Shared by every process on PostgreSQL; per process on "
        "SQLite.",
    )
    rate_limit_burst: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Requests an access key may make at once, above the rate.",
    )
    keep_alive_s: int = Field(
        5, ge=1, le=3600, description="Seconds an idle keep-alive connection stays open."
    )
    max_connections: int | None = Field(
        None,
        ge=1,
        description="Open connections per worker (default: the open-file limit less a reserve).",
    )
    backlog: int = Field(
        2048, ge=1, le=65_535, description="Connections the kernel queues before they are accepted."
    )
    log_requests: bool = Field(True, description="Write a JSON line per request.")
    log_file: str | None = Field(None, description="Request log file (default: stderr).")
    simulate: bool = Field(False, description="Run the simulated dialer inside the server.")
    sim_speed: float = Field(
        1.0, gt=0, le=100_000, description="Simulated seconds per real second (60: a minute)."
    )
    sim_seed: int = Field(0, description="Seed of the simulated call outcomes.")
    seeded_ids: bool = Field(
        False,
        description="Draw taskIds from NXLINK_SIM_SEED, the account and its number of tasks "
        "(instead of at random), so that a sandbox run repeats byte for byte.",
    )
    deliver_callbacks: bool = Field(
        True, description="Deliver the callback outbox from this server."
    )
    callback_backoff_scale: float = Field(
        1.0, gt=0, le=1, description="Shrinks the callback retry schedule (tests, demos)."
    )
    admin: bool = Field(
        True,
        description="Serve the sandbox's admin API under /_nxlink/ (`off` removes it, with its "
        "request journal).",
    )
    admin_token: str | None = Field(
        None,
        min_length=8,
        description="Bearer token of the admin API (default: a random one, made at start and "
        "printed by `nxlink serve`).",
    )
    journal_size: int = Field(
        500,
        ge=0,
        le=100_000,
        description="API requests the admin API's journal keeps per server process (oldest "
        "dropped first; 0: none).",
    )
    journal_body_bytes: int = Field(
        32_768,
        ge=0,
        le=16_777_216,
        description="Bytes of each request and answer body the journal keeps (longer ones are "
        "cut and marked).",
    )
    sink_size: int = Field(
        1000,
        ge=0,
        le=100_000,
        description="Callbacks the admin API's sink keeps per server process, all names "
        "together (oldest dropped first; 0: none).",
    )
    ui: bool = Field(
        True,
        description="Serve the web dashboard under /ui/ (`off` removes it).",
    )
    ui_session_ttl_s: int = Field(
        43_200,
        ge=60,
        le=2_592_000,
        description="Seconds a dashboard sign-in lasts (the session's fixed expiry).",
    )
    public_url: str | None = Field(
        None,
        description="Base URL of this server in the links it hands out (recordings), e.g. "
        "https://nxlink.example.com; default http://HOST:PORT. Give every process on the "
        "database (servers, workers) the same.",
    )
    recording_ttl_s: int = Field(
        86_400, ge=60, le=31_536_000, description="How long a recording's link is valid, seconds."
    )
    recording_key: str | None = Field(
        None,
        description="Key signing the recordings' links (default: one derived from the master "
        "key, the same in every process on the database).",
    )

    def public_base_url(self) -> str:
        """The base of the links this server hands out."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @field_validator("envelope", mode="before")
    @classmethod
    def _envelope(cls, value: Any) -> Any:
        """A value outside the three is refused naming them (``vendor``, ``flat``, ``data``)."""
        if value not in ENVELOPE_SETTINGS:
            allowed = ", ".join(ENVELOPE_SETTINGS)
            raise ValueError(f"NXLINK_ENVELOPE must be one of {allowed}, got {value!r}")
        return value

    @field_validator("extra_biz_types", "extra_actions", "cors_origins", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        """A list setting from the environment: a JSON array, or values separated by commas
        (blanks around them dropped; an empty string is the empty list)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON array ({exc.msg}): {text[:60]!r}") from None
        return [part.strip() for part in text.split(",") if part.strip()]
