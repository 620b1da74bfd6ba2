"""Who calls the API: keys, accounts, network origins and client fingerprints.

Assumptions:

* Every identifier is derived from ``(seed, owner, index)`` with xxh3 (never Python ``hash()``), so
  the same arguments give the same ids on every machine and run.
* Residential callers sit in spread-out /24s of consumer ISP space (some on IPv6, some behind a
  mobile carrier's shared NAT pool); businesses call from a few addresses in one cloud /24; a
  commercial proxy egresses from a small set of hosting /24s that all its customers share.
* User agents follow the real SDK formats (``anthropic-python/0.42.0``, ``openai-python/1.54.3``…).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import xxhash

from .clock import DAY_MS, iso_s


def _join(parts: tuple[object, ...]) -> bytes:
    return "\x1f".join(str(p) for p in parts).encode()


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from the simulation seed and any labels (stable across runs and machines)."""
    return xxhash.xxh3_64_intdigest(_join(parts))


def rngs(*parts: object) -> tuple[random.Random, np.random.Generator]:
    """A scalar RNG and a vectorised RNG, both seeded from ``parts``."""
    s = derive_seed(*parts)
    return random.Random(s), np.random.default_rng(s)


def hex_id(length: int, *parts: object) -> str:
    return xxhash.xxh3_128_hexdigest(_join(parts))[:length]


def key_id(seed: int, owner: str, index: int) -> str:
    """``key_`` + 12 hex, deterministic from seed, persona/campaign and index."""
    return "key_" + hex_id(12, seed, "key", owner, index)


def account_id(seed: int, owner: str, index: int) -> str:
    return "acct_" + hex_id(12, seed, "account", owner, index)


def end_user_id(seed: int, owner: str, index: int) -> str:
    """A reseller's pseudonymous per-end-user id (as sent in ``metadata.user_id``)."""
    return "eu_" + hex_id(16, seed, "end-user", owner, index)


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """The fixed facts about one API key that every one of its records repeats."""

    api_key_id: str
    account_id: str
    account_created_at: str
    user_agent: str
    endpoint: str
    ips: tuple[str, ...]


def created_before(rng: random.Random, ref_ms: int, min_days: float, max_days: float) -> str:
    """An account creation time ``min_days``–``max_days`` before ``ref_ms``."""
    return iso_s(ref_ms - int(rng.uniform(min_days, max_days) * DAY_MS))


# First octets of consumer broadband/mobile space in several regions (all publicly routed).
_RESIDENTIAL_FIRST = (24, 47, 67, 68, 69, 71, 73, 75, 76, 96, 98, 99, 108, 174, 2, 5, 31, 37, 46,
                      62, 77, 78, 79, 80, 81, 82, 83, 84, 86, 88, 90, 92, 93, 94, 95, 109, 110,
                      112, 114, 115, 116, 118, 119, 121, 122, 123, 124, 125, 177, 179, 181, 186,
                      187, 189, 190, 191, 200, 201)
# Cloud providers' space (where businesses, CI runners and gateways run).
_CLOUD_FIRST = (3, 13, 18, 20, 34, 35, 40, 44, 52, 54, 104, 130, 137, 146, 147, 157)
# Small hosting providers favoured by proxy resellers.
_HOSTING_FIRST = (45, 91, 141, 146, 154, 176, 185, 193, 194, 195)


def subnet24(rng: random.Random, kind: str) -> str:
    """A random ``a.b.c`` prefix in ``residential``, ``cloud`` or ``hosting`` space."""
    first = {"residential": _RESIDENTIAL_FIRST, "cloud": _CLOUD_FIRST,
             "hosting": _HOSTING_FIRST}[kind]
    return f"{rng.choice(first)}.{rng.randrange(256)}.{rng.randrange(256)}"


def host(rng: random.Random, prefix: str) -> str:
    return f"{prefix}.{rng.randrange(2, 255)}"


def residential_ip(rng: random.Random) -> str:
    """A home connection: IPv4 in consumer space, or (15%) an IPv6 address in a /48 of its own."""
    if rng.random() < 0.15:
        groups = [rng.choice(("2a02", "2600", "2601", "2a01", "2409", "2804"))]
        groups += [f"{rng.randrange(1 << 16):x}" for _ in range(7)]
        return ":".join(groups)
    return host(rng, subnet24(rng, "residential"))


def carrier_pools(rng: random.Random, n: int) -> tuple[str, ...]:
    """Mobile carriers' carrier-grade-NAT /24s: many unrelated phones share each of them."""
    return tuple(subnet24(rng, "residential") for _ in range(n))


def cloud_ips(rng: random.Random, n: int) -> tuple[str, ...]:
    """``n`` addresses in one cloud /24 (one company's egress)."""
    prefix = subnet24(rng, "cloud")
    return tuple(sorted({host(rng, prefix) for _ in range(n)}))


_OPENAI_PY = "openai-python/1.{}.{}"
_ANTHROPIC_PY = "anthropic-python/0.{}.{}"
_ANTHROPIC_TS = "anthropic-typescript/0.{}.{}"
_OPENAI_JS = "OpenAI/JS 4.{}.{}"
_BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/{}.0.0.0 Safari/537.36")
_BROWSER_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/{}.0.0.0 Safari/537.36 Edg/{}.0.0.0")
_MOBILE_APP = "{}/{}.{}.{} (iPhone; iOS 18.{}; Scale/3.00)"
_APP_NAMES = ("ChatNest", "Quillbot-lite", "AskAway", "PocketMind", "Threadly", "NoteGenie")


def sdk_user_agent(rng: random.Random, family: str) -> str:
    """A version-realistic UA of one SDK family (``anthropic-python``, ``openai-python``, …)."""
    if family == "openai-python":
        return _OPENAI_PY.format(rng.randrange(30, 59), rng.randrange(0, 4))
    if family == "anthropic-python":
        return _ANTHROPIC_PY.format(rng.randrange(34, 50), rng.randrange(0, 3))
    if family == "anthropic-typescript":
        return _ANTHROPIC_TS.format(rng.randrange(24, 40), rng.randrange(0, 3))
    if family == "openai-js":
        return _OPENAI_JS.format(rng.randrange(50, 78), rng.randrange(0, 3))
    if family == "browser":
        v = rng.randrange(120, 132)
        return _BROWSER.format(v) if rng.random() < 0.6 else _BROWSER_WIN.format(v, v)
    if family == "python-requests":
        return f"python-requests/2.{rng.randrange(28, 33)}.{rng.randrange(0, 4)}"
    if family == "mobile-app":
        return _MOBILE_APP.format(rng.choice(_APP_NAMES), rng.randrange(1, 6), rng.randrange(10),
                                  rng.randrange(10), rng.randrange(0, 3))
    raise ValueError(f"unknown user-agent family {family!r}")


# The most frequent exact SDK strings among paying customers (user agent, its endpoint).
COMMON_USER_AGENTS: tuple[tuple[str, str], ...] = (
    ("openai-python/1.54.3", "/v1/chat/completions"),
    ("openai-python/1.52.0", "/v1/chat/completions"),
    ("anthropic-python/0.42.0", "/v1/messages"),
    ("anthropic-typescript/0.32.1", "/v1/messages"),
)

ENDPOINT_FOR_FAMILY = {
    "openai-python": "/v1/chat/completions",
    "openai-js": "/v1/chat/completions",
    "anthropic-python": "/v1/messages",
    "anthropic-typescript": "/v1/messages",
    "browser": "/v1/messages",
    "mobile-app": "/v1/messages",
    "python-requests": "/v1/completions",
}


@dataclass(frozen=True, slots=True)
class ProxyNetwork:
    """A commercial proxy reseller's egress: a few hosting /24s and its HTTP client's UA.

    Its paying customers and any hydra campaign it fronts are indistinguishable by network origin.
    """

    prefixes: tuple[str, ...]
    user_agent: str

    def ip(self, rng: random.Random) -> str:
        return host(rng, rng.choice(self.prefixes))


def proxy_network(seed: int) -> ProxyNetwork:
    """The one proxy network of a simulation (same for every actor that routes through it)."""
    rng = random.Random(derive_seed(seed, "proxy-network"))
    return ProxyNetwork(tuple(subnet24(rng, "hosting") for _ in range(3)), "Go-http-client/2.0")
