"""The canonical gateway request record (v1) as the detector sees it, and a rejected input.

An :class:`Event` is the typed, validated form of one line of ``gateway-log-schema.md``. It is
built only by :mod:`detector.parse` (canonical JSON) or by an adapter in :mod:`detector.adapters`
followed by the same parser, so every field has already been type- and range-checked here.

Prompt and response text (``system``, ``messages``, ``output``) lives in an ``Event`` only for the
time it takes to extract features; nothing downstream of :mod:`detector.features` keeps it.

>>> ev = Event(ts_ms=1_764_165_787_412, api_key_id="key_7f3a")
>>> ev.api_key_id, ev.messages
('key_7f3a', ())
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Message:
    """One conversation turn; ``content`` is ``None`` when the gateway did not log it."""

    role: str
    content: str | None


@dataclass(slots=True)
class Event:
    """One validated API request. Times are epoch milliseconds (UTC).

    ``logit_bias_ids`` are the distinct token ids of the request's ``logit_bias`` map, sorted, at most
    :data:`detector.parse.MAX_LOGIT_BIAS_IDS` (the smallest); a non-decimal key is hashed (see
    :func:`detector.parse.logit_bias_ids`).

    Not frozen on purpose: a frozen dataclass assigns each of its 31 fields through
    ``object.__setattr__``, which made construction the largest single cost of parsing (~5-9 µs
    against ~1 µs). Treat instances as read-only.
    """

    ts_ms: int
    api_key_id: str
    request_id: str | None = None
    account_id: str | None = None
    account_created_ms: int | None = None
    end_user_id: str | None = None
    client_ip: str | None = None
    user_agent: str | None = None
    model: str | None = None
    endpoint: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    n: int | None = None
    seed: int | None = None
    stream: bool | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    logit_bias_size: int | None = None
    tools: int | None = None
    thinking_budget: int | None = None
    system: str | None = None
    messages: tuple[Message, ...] = ()
    finish_reason: str | None = None
    output: str | None = None
    logit_bias_ids: tuple[int, ...] = ()


@dataclass(slots=True, frozen=True)
class Rejection:
    """An input that could not become an :class:`Event`.

    ``reason`` is a short stable code used as a metric label (``not_utf8``, ``not_json``,
    ``not_object``, ``missing_field``, ``wrong_type``, ``out_of_range``, ``oversize``,
    ``bad_timestamp``, ``adapter_error``); ``detail`` says which field and why, and never quotes
    prompt text. ``raw`` is the original bytes, kept only for the dead-letter topic.
    """

    reason: str
    detail: str
    raw: bytes
