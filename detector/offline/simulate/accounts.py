"""Account profiles (``gateway-log-schema.md``, "Account profiles"): what the billing system knows.

One profile per account that appears in the events, written to ``accounts.jsonl``. Defaults per
account: its own organisation and payment instrument, a billing country, a tier by persona
(individual chat users mostly free, businesses paid or enterprise, routers ``reseller``), verified
for enterprise and reseller tiers (and most paid ones), allow-listed only for the contracted
synthetic-data account, last updated between creation and the span's start. An actor overrides any
field per account (:attr:`.context.Actor.profiles`): farmed hydra accounts share a small pool of
payment instruments, a SaaS fleet's tenant accounts share one ``org_id``.
"""

from __future__ import annotations

from typing import Any

from .clock import iso_s, parse_rfc3339
from .context import Actor, SimContext
from .identity import KeyIdentity, hex_id

_TIERS: dict[str, tuple[str, ...]] = {
    "chat": ("free", "free", "free", "paid"),
    "agentic_coding": ("paid", "paid", "enterprise"),
    "proxy_customers": ("free", "paid"),
    "reseller": ("reseller",),
    "router_org": ("reseller",),
}
_BUSINESS_TIERS = ("paid", "enterprise")
_COUNTRIES = ("US", "US", "US", "GB", "DE", "FR", "CA", "IN", "JP", "BR", "NL", "SG", "KR", "AU",
              "ES", "SE", "PL", "IL")


def profile(ctx: SimContext, actor: Actor, key: KeyIdentity) -> dict[str, Any]:
    """The profile of ``key``'s account (deterministic from the seed and the account id)."""
    acct = key.account_id
    rng, _ = ctx.rngs("profile", acct)
    tier = rng.choice(_TIERS.get(actor.name, _BUSINESS_TIERS))
    created_ms = parse_rfc3339(key.account_created_at)
    updated_ms = created_ms + int(rng.random() * max(0, ctx.span.start_ms - created_ms))
    org = "org_" + hex_id(12, ctx.seed, "org", acct)
    out: dict[str, Any] = {
        "account_id": acct,
        "created_at": key.account_created_at,
        "org_id": org,
        "tier": tier,
        "payment_fp": "pm_" + hex_id(16, ctx.seed, "payment", org),
        "country": rng.choice(_COUNTRIES),
        "verified": tier in ("enterprise", "reseller") or (tier == "paid" and rng.random() < 0.7),
        "allowlisted": acct in actor.allowlisted_accounts,
        "updated_at": iso_s(updated_ms),
    }
    out.update(actor.profiles.get(acct, {}))
    return out
