"""Assembling a scenario and writing its files: events, labels, allow-list, manifest.

Files: ``events.jsonl.gz`` (one canonical record per line, sorted by ``(ts, request_id)``),
``labels.jsonl`` (one row per key that appears in the events, sorted by key: ``kind``, ``campaign``
and ``persona`` — for attack keys the persona is the campaign name), ``accounts.jsonl`` (one
account profile per account in the events, sorted by account; see :mod:`.accounts`),
``allowlist.json`` (the contracted synthetic-data account) and ``manifest.json`` (arguments,
counts, text sources).

A scenario is the benign background (every persona in :data:`PERSONAS`) plus zero, one or all
attack campaigns (:data:`CAMPAIGNS`, plus the variant's own campaign, see :mod:`.variants`), with
campaign wrappers from one wording family (:mod:`.wording`). Actors' streams are merged lazily by ``(ts, request_id)``
and written as they come, so memory stays bounded by the timestamp plans, not by the events.

Determinism: every random draw comes from RNGs seeded by ``(seed, persona/campaign, index)``;
gzip is written with ``mtime=0`` and no file name; JSON is serialised by orjson with fixed key
order. Same arguments therefore give byte-identical files. The benign background does not depend
on the scenario, so ``benign`` is a subset of ``all`` event for event.
"""

from __future__ import annotations

import gzip
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import campaigns, lookalikes, personas, variant_campaigns
from .accounts import profile
from .clock import Span, iso_ms
from .context import Actor, SimContext
from .corpora import TextBank
from .records import MODEL_1, MODEL_2, RecordFactory
from .variants import variant as get_variant
from .wording import family

_PERSONA_BUILDERS: dict[str, Callable[[SimContext], Actor]] = {
    **personas.BUILDERS,
    "yes_no_classifier": lookalikes.yes_no_classifier,
    "label_vendor": lookalikes.label_vendor,
    "emotion_tagger": lookalikes.emotion_tagger,
    "llm_judge": lookalikes.llm_judge,
    "release_mover": lookalikes.release_mover,
    "content_saas": lookalikes.content_saas,
    "variants_app": lookalikes.variants_app,
    "regression_suite": lookalikes.regression_suite,
    "tutoring_anon": lookalikes.tutoring_anon,
    "cot_eval": lookalikes.cot_eval,
    "translation": lookalikes.translation,
    "saas_fleet": lookalikes.saas_fleet,
    "router_org": lookalikes.router_org,
}
_CAMPAIGN_BUILDERS = {**campaigns.BUILDERS, **variant_campaigns.BUILDERS}
PERSONAS: tuple[str, ...] = tuple(_PERSONA_BUILDERS)
CAMPAIGNS: tuple[str, ...] = tuple(campaigns.BUILDERS)
VARIANT_CAMPAIGNS: tuple[str, ...] = tuple(variant_campaigns.BUILDERS)
SCENARIOS: tuple[str, ...] = ("all", "benign", *CAMPAIGNS, *VARIANT_CAMPAIGNS)

EVENTS_FILE = "events.jsonl.gz"
LABELS_FILE = "labels.jsonl"
ACCOUNTS_FILE = "accounts.jsonl"
ALLOWLIST_FILE = "allowlist.json"
MANIFEST_FILE = "manifest.json"
GZIP_LEVEL = 4  # ~25% faster than 6 for ~7% more bytes
_PROGRESS_EVERY = 10_000
_FLUSH_EVERY = 2_000


@dataclass(frozen=True)
class SimulationResult:
    """Where the files are and what is in them (events/keys per persona and campaign)."""

    out_dir: Path
    events_path: Path
    labels_path: Path
    accounts_path: Path
    allowlist_path: Path
    manifest_path: Path
    events: int
    keys: int
    events_by_actor: dict[str, int] = field(default_factory=dict)
    keys_by_actor: dict[str, int] = field(default_factory=dict)


def simulate(
    out_dir: Path,
    *,
    seed: int = 1,
    scenario: str = "all",
    hours: float = 24.0,
    corpora: Path | None = None,
    scale: float = 1.0,
    start: str = "2026-11-20T00:00:00Z",
    variant: str = "default",
    wording: str = "classic",
    progress: Callable[[int], None] | None = None,
) -> SimulationResult:
    """Simulate ``hours`` of gateway traffic from ``start`` and write it into ``out_dir``.

    ``scenario``: ``all`` (background + every campaign), ``benign`` (background only) or one
    campaign name (background + that campaign; a variant's own campaign only with that
    ``variant``). ``scale`` multiplies the number of benign keys. ``variant``: one of
    :data:`.variants.VARIANTS`; ``wording``: ``classic``, ``tuning`` or ``heldout``.
    ``corpora``: directory of prompt corpora (``shared/corpora`` layout); generated text is used
    for any corpus file that is missing. ``progress`` is called every 10,000 events (and at the end) with
    the number of events written since its previous call (an increment, as progress bars take).
    """
    var = get_variant(variant)
    words = family(wording)
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    if scenario in VARIANT_CAMPAIGNS and scenario not in var.adds:
        raise ValueError(f"scenario {scenario!r} needs --variant {scenario}")
    if not hours > 0:
        raise ValueError("hours must be positive")
    if not scale > 0:
        raise ValueError("scale must be positive")
    span = Span.of(start, hours)
    bank = TextBank(corpora, seed)
    ctx = SimContext(seed, span, bank, RecordFactory(seed), scale, variant, words)

    chosen = (*CAMPAIGNS, *var.adds) if scenario == "all" else () if scenario == "benign" \
        else (scenario,)
    actors = [_PERSONA_BUILDERS[name](ctx) for name in PERSONAS]
    actors += [_CAMPAIGN_BUILDERS[name](ctx) for name in chosen]
    owner: dict[str, Actor] = {}
    identity = {}
    for actor in actors:
        for key in actor.keys:
            identity[key.api_key_id] = key
            if key.api_key_id in owner:
                raise RuntimeError(f"api_key_id collision: {key.api_key_id}")
            owner[key.api_key_id] = actor

    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / EVENTS_FILE
    seen: dict[str, Actor] = {}
    events_by_actor = {a.name: 0 for a in actors}
    n = 0
    with open(events_path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                       compresslevel=GZIP_LEVEL, mtime=0) as gz:
        buffer: list[bytes] = []
        for _, _, api_key_id, line in heapq.merge(*(s for a in actors for s in a.streams)):
            buffer.append(line)
            actor = seen.get(api_key_id)
            if actor is None:
                actor = seen[api_key_id] = owner[api_key_id]
            events_by_actor[actor.name] += 1
            n += 1
            if len(buffer) >= _FLUSH_EVERY:
                gz.write(b"\n".join(buffer) + b"\n")
                buffer.clear()
            if progress is not None and n % _PROGRESS_EVERY == 0:
                progress(_PROGRESS_EVERY)
        if buffer:
            gz.write(b"\n".join(buffer) + b"\n")
    if progress is not None and n % _PROGRESS_EVERY:
        progress(n % _PROGRESS_EVERY)

    keys_by_actor = {a.name: 0 for a in actors}
    labels = []
    for api_key_id in sorted(seen):
        actor = seen[api_key_id]
        keys_by_actor[actor.name] += 1
        labels.append(orjson.dumps({"api_key_id": api_key_id, "kind": actor.kind,
                                    "campaign": actor.campaign, "persona": actor.name}))
    labels_path = out_dir / LABELS_FILE
    labels_path.write_bytes(b"".join(line + b"\n" for line in labels))

    profiles: dict[str, bytes] = {}
    for api_key_id in sorted(seen):
        key = identity[api_key_id]
        if key.account_id not in profiles:
            profiles[key.account_id] = orjson.dumps(profile(ctx, seen[api_key_id], key))
    accounts_path = out_dir / ACCOUNTS_FILE
    accounts_path.write_bytes(b"".join(profiles[a] + b"\n" for a in sorted(profiles)))

    allowlisted = sorted({acct for a in actors for acct in a.allowlisted_accounts})
    allowlist_path = out_dir / ALLOWLIST_FILE
    allowlist_path.write_bytes(_json({"accounts": allowlisted}))

    manifest: dict[str, Any] = {
        "generator": "detector.offline.simulate",
        "seed": seed,
        "scenario": scenario,
        "variant": variant,
        "wording": wording,
        "hours": hours,
        "start": start,
        "end": iso_ms(span.end_ms),
        "scale": scale,
        "models": {"default": MODEL_1, "released": MODEL_2,
                   "released_at": iso_ms(span.release_ms)},
        "events": n,
        "keys": len(seen),
        "accounts": len(profiles),
        "personas": {a.name: {"keys": keys_by_actor[a.name], "events": events_by_actor[a.name]}
                     for a in actors if a.kind == "benign"},
        "campaigns": {a.name: {"keys": keys_by_actor[a.name], "events": events_by_actor[a.name]}
                      for a in actors if a.kind == "attack"},
        "allowlisted_accounts": allowlisted,
        "corpora": bank.sources(),
    }
    manifest_path = out_dir / MANIFEST_FILE
    manifest_path.write_bytes(_json(manifest))
    return SimulationResult(out_dir, events_path, labels_path, accounts_path, allowlist_path,
                            manifest_path, n, len(seen), events_by_actor, keys_by_actor)


def _json(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
