"""What a harvest looks like in one window: long answers, new items, new conversations.

The building blocks of :mod:`detector.evidence`, :mod:`detector.linkage` and
:mod:`detector.calibration`, all pure functions of a window's feature dict
(:func:`detector.summary.bucket_stats`):

* :func:`economics` -- long answers (the price of a dataset);
* :func:`harvest_shape` -- distinct prompts, each opening a new conversation, with long answers;
* :func:`harvested_tokens` -- answer tokens weighted by that shape (what calibration compares);
* :func:`people_discount` -- end-user ids that behave like people;
* :func:`reasoning_share` -- reasoning-eliciting wording or returned reasoning (a weak input).

When it works: a harvest must buy many long answers to new items, whatever its wording. When it
fails: benign apps that are single-shot with long answers (content generation, tutoring) share the
shape; the evidence rules need breadth, depth beyond the benign extreme, or timing on top of it.

>>> harvest_shape({"n": 10.0, "out_tokens_mean": 50.0, "distinct_prompt_ratio": 1.0, "conversations": 10.0})
0.0
"""

from __future__ import annotations


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear in between."""
    if x <= lo:
        return 0.0
    if x >= hi:
        return 1.0
    return (x - lo) / (hi - lo)


def conf(n: float, n0: float) -> float:
    """Volume confidence: how much a window of ``n`` requests can be trusted."""
    return min(1.0, n / n0)


MAX_PEOPLE_DISCOUNT = 0.5
"""End-user ids are client-supplied: however people-like they look, they at most halve a rule."""


def people_discount(day: dict[str, float]) -> float:
    """1 for a single caller; down to 0.5 for a key whose end-user ids behave like people.

    People use an app in sessions (several requests from one id within ten minutes: >= 2 per
    id-session for full effect), or come back as a population (>= 100 ids, 2.5-15 requests per id in
    a day). Ids a harvester invents per request show one request per id; a small pool drawn at
    random shows neither sessions nor a population's size. Read from the 24-hour window; the ids
    are never trusted alone (:data:`MAX_PEOPLE_DISCOUNT`).

    >>> people_discount({"end_user_share": 1.0, "end_users": 500.0, "end_user_repeat": 3.0})
    0.5
    >>> people_discount({"end_user_share": 1.0, "end_users": 5000.0, "end_user_repeat": 1.0})
    1.0
    """
    repeat = day.get("end_user_repeat", 0.0)
    sessions = ramp(day.get("end_user_session_len", 0.0), 1.3, 2.0)
    population = (ramp(day.get("end_users", 0.0), 30.0, 100.0) * ramp(repeat, 1.5, 2.5)
                  * (1.0 - ramp(repeat, 15.0, 40.0)))
    people = max(sessions, population) * ramp(day.get("end_users", 0.0), 5.0, 30.0)
    return 1.0 - MAX_PEOPLE_DISCOUNT * day.get("end_user_share", 0.0) * people


def economics(s: dict[str, float]) -> float:
    """Long answers: the price of a dataset (>= 900 tokens at >= 4 output tokens per *new* input
    token, or >= 1,600 tokens).

    The ratio counts only the input the window had not seen (``out_new_in_ratio``: input tokens
    times the window's ``new_input_share``, :mod:`detector.chunks`), so a header or a pool of
    examples sent again and again does not make the answers look short, while a new document
    to translate or summarise does. Requests for ``n`` short samples each (``SHORT_SAMPLES``:
    options a user picks from) do not count, however many tokens their samples add up to.

    >>> economics({"out_new_in_ratio": 6.0, "out_tokens_mean": 950.0})
    1.0
    >>> economics({"out_new_in_ratio": 6.0, "out_tokens_mean": 950.0, "rate_short_samples": 1.0})
    0.0
    """
    mean = s.get("out_tokens_mean", 0.0)
    long = max(ramp(s.get("out_new_in_ratio", 0.0), 1.5, 4.0) * ramp(mean, 250.0, 900.0),
               ramp(mean, 900.0, 1600.0))
    return long * (1.0 - s.get("rate_short_samples", 0.0))


def novelty(s: dict[str, float], ratio: str, count: str) -> float:
    """Share of new items, or (for windows larger than a corpus) their number."""
    return max(ramp(s.get(ratio, 0.0), 0.5, 0.85), ramp(s.get(count, 0.0), 300.0, 1500.0))


def harvest_shape(s: dict[str, float]) -> float:
    """Distinct prompts, each opening a new conversation, with long answers: a dataset being
    generated, in [0, 1]. Conversations with follow-ups (chat, agent loops) repeat their opening.

    >>> harvest_shape({"n": 50.0, "out_new_in_ratio": 8.0, "out_tokens_mean": 2000.0, "distinct_prompt_ratio": 1.0,
    ...                "conversations": 50.0})
    1.0
    """
    n = s.get("n", 0.0)
    fresh = dict(s, fresh_ratio=s.get("conversations", 0.0) / n if n else 0.0)
    return (economics(s) * novelty(fresh, "fresh_ratio", "conversations")
            * novelty(s, "distinct_prompt_ratio", "distinct_prompts"))


def reasoning_share(s: dict[str, float]) -> float:
    """Share of requests eliciting or returning reasoning (wording, thinking budgets, worked answers)."""
    return max(s.get("rate_cot", 0.0), s.get("rate_reverse_rationale", 0.0), s.get("rate_thinking", 0.0),
               s.get("rate_system_explain", 0.0), s.get("rate_reasoned_output", 0.0))


def harvested_tokens(s: dict[str, float], shape: float | None = None) -> float:
    """Answer tokens of a window weighted by how dataset-shaped it is (``shape``: its
    :func:`harvest_shape`, when the caller has it already)."""
    return s.get("out_tokens_sum", 0.0) * (harvest_shape(s) if shape is None else shape)
