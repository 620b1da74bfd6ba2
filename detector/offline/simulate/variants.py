"""Simulator variants: today's traffic with one thing changed, to test a detector's robustness.

Each variant changes one aspect of the attack traffic and names the campaigns it concerns (the ones
an evaluation should report for it). Some variants add a campaign of their own to the ``all``
scenario; the benign background is the same in every variant except ``router_hidden``, where the
router organisation's harvested keys move from its benign persona to the campaign.

* ``default`` — today's campaigns, unchanged.
* ``fake_end_users`` — every campaign sends made-up ``end_user_id``s (random per request, or a
  small fake pool per key), as resellers do for real end users.
* ``people_like_ids`` — every campaign sends made-up ``end_user_id``s shaped like an app's users
  (a few hundred ids, the busiest reused most, in short sessions): the ids a harvester who read
  how they are judged would invent.
* ``human_hours`` — the single-key campaigns and the release pivot send the same daily volume
  shaped like a person's day in one time zone (quiet at night, busy in the evening) instead of
  around the clock; the hydra keeps its central scheduler.
* ``padded_inputs`` — the single-key campaigns and the release pivot put a fixed few-shot header
  (~460 tokens) in front of every request and ask for concise answers (150-900 tokens), so their
  answers are no longer long against their input.
* ``hydra_stealth`` — hydra keys on their own residential IPs, the commonest SDK user agents,
  accounts created months apart with their own payment instruments.
* ``hydra_own_wording`` — each hydra key has its own system prompt and wrapper, still behind the
  shared proxy with the one-hour account-creation burst.
* ``working_hours`` — low-and-slow only on weekdays 09–18 in one time zone.
* ``router_hidden`` — a harvester spread over some keys of a router organisation, mixed with the
  router's real end-user traffic, with made-up end-user ids.
* ``domain_clone`` — one domain (grade-school maths or code) harvested systematically at volume.
* ``broad_sweep`` — one key, ~15k long reasoning answers over every domain in 4 hours.
* ``sample_harvest`` — one key asking for ``n`` = 4 or 8 long worked answers per item.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Variant:
    """A variant's name, the campaigns it adds to ``all`` and the campaigns it concerns."""

    name: str
    adds: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()  # empty: every base campaign


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("default"),
    Variant("fake_end_users"),
    Variant("people_like_ids"),
    Variant("human_hours"),
    Variant("padded_inputs"),
    Variant("hydra_stealth", concerns=("hydra",)),
    Variant("hydra_own_wording", concerns=("hydra",)),
    Variant("working_hours", concerns=("low_and_slow",)),
    Variant("router_hidden", adds=("router_hidden",), concerns=("router_hidden",)),
    Variant("domain_clone", adds=("domain_clone",), concerns=("domain_clone",)),
    Variant("broad_sweep", adds=("broad_sweep",), concerns=("broad_sweep",)),
    Variant("sample_harvest", adds=("sample_harvest",), concerns=("sample_harvest",)),
)}


def variant(name: str) -> Variant:
    """The variant ``name``; ValueError for an unknown name."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; expected one of {', '.join(VARIANTS)}") from None
