"""Callback delivery: the outbox worker that POSTs signed task and call events to the URLs of
each task, retrying with backoff (``lifecycle.md`` "Callbacks")."""

from __future__ import annotations

from nxlink.callbacks.delivery import BACKOFF_S, TRIES, Deliverer, next_attempt_ms, start_thread

__all__ = ["BACKOFF_S", "TRIES", "Deliverer", "next_attempt_ms", "start_thread"]
