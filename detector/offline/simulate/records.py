"""Building one canonical gateway record (``gateway-log-schema.md``), shared by every persona.

A persona or campaign decides *what* is asked (messages, system prompt, parameters, how long the
answer is); :class:`RecordFactory` turns that into the JSON line a gateway would log.

Assumptions:

* ``usage.input_tokens`` ≈ characters / 4 of the full system prompt and messages, plus ~90 tokens
  per tool definition (tool schemas are billed as input but not logged as messages).
* The gateway truncates each logged content string to :data:`MAX_LOGGED_CHARS`; usage is counted
  on the full text.
* ~0.6% of requests are rate limited (429) and ~0.4% fail (500); those carry no output tokens and
  no ``finish_reason``. An answer that reaches ``max_tokens`` ends with ``length``.
* Latency = time to first token (grows with input) + (output + reasoning tokens) / decode speed.
* ``claude-x-1`` is the default model; ``claude-x-2`` is released half way through the span and
  each key's uptake of it follows its :class:`Adoption`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import orjson
import xxhash

from .clock import HOUR_MS, iso_ms
from .identity import KeyIdentity

MODEL_1 = "claude-x-1"
MODEL_2 = "claude-x-2"
MAX_LOGGED_CHARS = 8_000
TOOL_SCHEMA_TOKENS = 90

# (ts_ms, request_id, api_key_id, JSON line): tuples compare on (ts, request_id), both unique.
Emitted = tuple[int, str, str, bytes]
Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class Adoption:
    """How one key takes up ``claude-x-2``: from ``from_ms``, with probability
    ``p0 + growth_per_hour * hours`` (at most ``cap``) per request."""

    from_ms: int
    p0: float = 0.0
    growth_per_hour: float = 0.0
    cap: float = 0.0

    def model(self, ts_ms: int, rng: random.Random) -> str:
        if ts_ms < self.from_ms or self.cap <= 0.0:
            return MODEL_1
        p = min(self.cap, self.p0 + self.growth_per_hour * (ts_ms - self.from_ms) / HOUR_MS)
        return MODEL_2 if rng.random() < p else MODEL_1


NEVER = Adoption(from_ms=2**62)


def early_adopter(rng: random.Random, release_ms: int) -> Adoption:
    """A benign customer trying the new model: a few percent at first, growing slowly."""
    return Adoption(release_ms + int(rng.uniform(0.0, 3.0) * HOUR_MS),
                    p0=rng.uniform(0.03, 0.08), growth_per_hour=rng.uniform(0.005, 0.015),
                    cap=0.35)


class RecordFactory:
    """Serialises requests into canonical records with deterministic request ids."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._seq: dict[str, int] = {}

    def emit(
        self,
        key: KeyIdentity,
        ts_ms: int,
        rng: random.Random,
        messages: list[Message],
        output_tokens: int,
        *,
        model: str = MODEL_1,
        params: dict[str, Any] | None = None,
        system: str | None = None,
        endpoint: str | None = None,
        client_ip: str | None = None,
        end_user_id: str | None = None,
        finish_reason: str = "stop",
        reasoning_tokens: int = 0,
    ) -> Emitted:
        """One request of ``key`` at ``ts_ms``; ``output_tokens`` is what the model would write."""
        seq = self._seq.get(key.api_key_id, 0)
        self._seq[key.api_key_id] = seq + 1
        request_id = "req_" + xxhash.xxh3_64_hexdigest(
            f"{self._seed}:{key.api_key_id}:{seq}".encode())

        chars = 0
        logged: list[Message] = []
        for m in messages:
            content = m["content"]
            chars += len(content)
            if len(content) > MAX_LOGGED_CHARS:
                m = {"role": m["role"], "content": content[:MAX_LOGGED_CHARS]}
            logged.append(m)
        if system is not None:
            chars += len(system)
            if len(system) > MAX_LOGGED_CHARS:
                system = system[:MAX_LOGGED_CHARS]
        tools = params.get("tools", 0) if params else 0
        input_tokens = chars // 4 + 4 * len(messages) + TOOL_SCHEMA_TOKENS * tools

        usage: dict[str, int]
        finish: str | None
        r = rng.random()
        if r < 0.006:
            status, finish = 429, None
            usage = {"input_tokens": input_tokens, "output_tokens": 0}
            latency = rng.randint(3, 40)
        elif r < 0.010:
            status, finish = 500, None
            usage = {"input_tokens": input_tokens, "output_tokens": 0}
            latency = rng.randint(200, 30_000)
        else:
            status, finish = 200, finish_reason
            cap = params.get("max_tokens") if params else None
            if cap is not None and params:
                cap *= params.get("n") or 1   # max_tokens bounds each of the n samples
            if cap is not None and output_tokens >= cap:
                output_tokens, finish = cap, "length"
            usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
            if reasoning_tokens:
                usage["reasoning_tokens"] = reasoning_tokens
            ttft = 180 + input_tokens * 0.02 + rng.expovariate(1 / 400)
            latency = int(ttft + (output_tokens + reasoning_tokens) * 1000 / rng.uniform(45, 110))

        record: dict[str, Any] = {
            "ts": iso_ms(ts_ms),
            "request_id": request_id,
            "api_key_id": key.api_key_id,
            "account_id": key.account_id,
            "account_created_at": key.account_created_at,
        }
        if end_user_id is not None:
            record["end_user_id"] = end_user_id
        record["client_ip"] = client_ip if client_ip is not None else key.ips[0]
        record["user_agent"] = key.user_agent
        record["model"] = model
        record["endpoint"] = endpoint or key.endpoint
        record["status"] = status
        record["latency_ms"] = latency
        record["usage"] = usage
        if params:
            record["params"] = params
        if system is not None:
            record["system"] = system
        record["messages"] = logged
        if finish is not None:
            record["finish_reason"] = finish
        return ts_ms, request_id, key.api_key_id, orjson.dumps(record)


def user(content: str) -> Message:
    return {"role": "user", "content": content}


def assistant(content: str) -> Message:
    return {"role": "assistant", "content": content}


def tool(content: str) -> Message:
    return {"role": "tool", "content": content}


def lognormal_int(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    """An integer drawn log-normally around ``median``, clipped to ``[lo, hi]``."""
    return max(lo, min(hi, int(rng.lognormvariate(0.0, sigma) * median)))


def reasoning_for(rng: random.Random, budget: int) -> int:
    """Thinking tokens actually used under a ``thinking_budget``."""
    return lognormal_int(rng, budget / 3, 0.6, 16, budget)
