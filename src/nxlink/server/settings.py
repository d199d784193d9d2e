"""Server settings: one typed object, read once (``NXLINK_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server can be told. Environment variables use the ``NXLINK_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="NXLINK_", extra="ignore")

    db: str = Field("sqlite:///./nxlink.db", description="Database URL (sqlite:///PATH).")
    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind.")
    workers: int = Field(1, ge=1, le=64, description="Server processes.")
    envelope: Literal["flat", "data"] = Field(
        "flat",
        description="Where paged results go: beside code/message (flat) or under 'data'.",
    )
    timestamp_window_ms: int = Field(
        60_000, ge=0, description="Largest accepted |server clock - ts| in milliseconds."
    )
    max_body_bytes: int = Field(1_048_576, ge=2, description="Largest accepted request body.")
    extra_biz_types: list[str] = Field(
        default_factory=list, description="bizType values accepted besides 100."
    )
    extra_actions: list[str] = Field(
        default_factory=list, description="action values accepted besides nxai."
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
    deliver_callbacks: bool = Field(
        True, description="Deliver the callback outbox from this server."
    )
    callback_backoff_scale: float = Field(
        1.0, gt=0, le=1, description="Shrinks the callback retry schedule (tests, demos)."
    )
