"""Per-event features: everything the detector keeps of one request, without its text.

``extract(event)`` turns an :class:`~detector.record.Event` into an :class:`EventFeatures`: 64-bit
fingerprints of the normalised prompt and of its *skeleton* (slots masked), a SimHash signature of
the skeleton for near-duplicate matching across keys, a bitmask of extraction signals, and the
numbers the windows aggregate. Prompt text is dropped here; nothing downstream sees it.

Cost: linear in the analysed text, which is capped at :data:`detector.text.MAX_ANALYSED_CHARS`
per field, so a 1 MB prompt costs the same as a 16 KB one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

from xxhash import xxh3_64_intdigest
from typing import Any, NamedTuple

from detector import compiled, domains, signals, text
from detector.chunks import KERNEL as CHUNK_KERNEL
from detector.chunks import input_chunks
from detector.domains import domain_of
from detector.record import Event, Message
from detector.signals import (estimated_input_tokens, last_user_message, output_signals, parameter_signals,
                              shape_signals, system_signals, text_signals, turn_signals, uses_tools)
from detector.text import (SEED, Analysis, analyse, cap, dominant_script, fingerprint, hash_str, ip_prefix,
                           joined_fingerprint, signature, skeleton_fp, ua_family)


@dataclass(slots=True)
class EventFeatures:
    """What one request contributes to the windows. No prompt text, no secrets."""

    ts_ms: int
    api_key_id: str
    account_id: str | None
    account_created_ms: int | None
    prompt_fp: int          # xxh3-64 of the normalised last user turn (+ system prompt)
    skeleton_fp: int        # xxh3-64 of the skeleton of that text
    skeleton_sig: int       # 64-bit SimHash of the skeleton's tokens (near-duplicates)
    system_fp: int          # xxh3-64 of the normalised system prompt, 0 if none
    flags: int              # detector.signals.Signal bitmask
    script: int             # dominant writing system of the user text (detector.text.Script)
    prompt_chars: int       # characters of user text (before the analysis cap)
    input_tokens: int
    output_tokens: int
    depth: int              # number of messages in the request
    model: str              # "" when absent
    ip_prefix: str          # "/24" for IPv4, "/48" for IPv6, "" when absent
    user_agent: str         # SDK family and major version, "" when absent
    end_user_fp: int        # xxh3-64 of end_user_id, 0 when absent
    status: int             # HTTP status, 0 when absent
    bias_fp: int = 0        # xxh3-64 of the request's set of logit-bias token ids (or of its size), 0 if none
    head_fp: int = 0        # xxh3-64 of the conversation's first user turn: equal along one conversation
    request_fp: int = 0     # xxh3-64 of request_id, 0 when absent (drops retried duplicates)
    input_chunks: int = 0   # content-defined chunks of the request's text (detector.chunks)
    input_samples: tuple[int, ...] = ()  # their theta-sampled hashes, ascending, at most chunks.SKETCH_K


FEATURE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(EventFeatures))
"""The :class:`EventFeatures` field names in order: the values of a keyed row (:mod:`detector.stages.records`)."""

ROW_HEAD = 3
"""Items before the feature values in a keyed row: source offset, index in its message, ``pre`` watermark."""


class _SystemView(NamedTuple):
    analysis: Analysis
    fp: int       # fingerprint of the system prompt, 0 if it is empty
    flags: int    # signals.system_signals of it
    part: Any     # the compiled kernel's SystemPart of it, None without the kernel


_KERNEL: Any = (compiled.kernel("FeatureKernel", text.KERNEL, signals.KERNEL, domains.KERNEL)
                if text.READABLE_FOLDED else None)
"""The compiled user-turn features (:mod:`detector.compiled`), None when it is not built."""


@lru_cache(maxsize=1 << 10)
def _system_view(system: str) -> _SystemView:
    """Everything derived from one (capped) system prompt; memoised, as system prompts repeat.

    The memo holds up to 1024 distinct system prompts (capped) in process memory -- the one place
    prompt text outlives its event, and only inside this stage; nothing of it leaves here."""
    a = analyse(system)
    part = _KERNEL.system(a.norm_bytes, a.codes) if _KERNEL is not None else None
    return _SystemView(a, joined_fingerprint(a) if a.norm_bytes else 0, system_signals(a.norm), part)


def system_view_of(system: str | None) -> _SystemView:
    """The memoised view of a request's system prompt (capped; ``""`` when it has none)."""
    return _system_view(cap(system) if system else "")


_REQUEST: Any = (compiled.kernel("RequestKernel", _KERNEL, CHUNK_KERNEL, {s.name: int(s) for s in signals.Signal},
                                 (signals.WIDE_BIAS_TOKENS, signals.TEMPLATE_MAX_CHARS, signals.DOMAIN_SHIFT,
                                  text.MAX_ANALYSED_CHARS, signals.SHORT_SAMPLE_TOKENS),
                                 {"features_class": EventFeatures, "system_view": system_view_of, "cap": cap,
                                  "template_only": signals.template_only, "output_signals": output_signals,
                                  "ip_prefix": ip_prefix, "ua_family": ua_family, "fingerprint": fingerprint,
                                  "hash_str": hash_str})
                 if _KERNEL is not None else None)
"""All of :func:`extract` compiled around ``_KERNEL`` (:mod:`detector.compiled`), None when not built."""


_Turn = tuple[str, int, int, int, int, int, int, int]
"""(norm, prompt_fp, skeleton_fp, skeleton_sig, norm_fp, text flags, script, domain) of a user turn."""


def _turn(user: str, s: _SystemView, tools: bool) -> _Turn:
    """What :func:`extract` derives from the text of the user turn ``user`` given the system view:
    its normalised text, ``joined_fingerprint(system, user)``, ``skeleton_fp``, the SimHash of
    both, the fingerprint of the normalised turn (0 if empty), :func:`text_signals`, its
    :class:`~detector.text.Script` and :func:`domain_of`.

    One call into the compiled kernel when it is built (and takes the text: not a lone surrogate),
    else the Python reference, which gives the same values."""
    if _KERNEL is not None and compiled.ON and s.part is not None and (
            t := _KERNEL.turn(cap(user), s.part, tools, len(user))) is not None:
        return t
    u = analyse(user)
    script = dominant_script(u.norm)
    return (u.norm, joined_fingerprint(s.analysis, u), skeleton_fp(u), signature(s.analysis, u),
            xxh3_64_intdigest(u.norm_bytes, SEED) if u.norm_bytes else 0, text_signals(u.norm, u.tokens, script),
            int(script), domain_of(u, tools=tools, chars=len(user)))


def extract(ev: Event) -> EventFeatures:
    """The features of one request: hashes, signal bits and counts, no text.

    * user text: the content of the last ``user``-role message (``""`` if none or not logged);
      ``prompt_chars`` is its full length, everything else looks at the capped text.
    * ``prompt_fp`` = ``fingerprint(system + "\\n" + user)`` (each field capped on its own);
      ``skeleton_fp`` = ``fingerprint(skeleton(user))``; ``skeleton_sig`` = SimHash of the
      skeletons of system prompt and user turn together; ``system_fp`` = ``fingerprint(system)``,
      0 when there is no system prompt.
    * ``flags``: :func:`detector.signals.event_signals`; ``script``: dominant script of the user
      text; ``input_tokens`` falls back to ``len(user) // 4`` when not logged; ``output_tokens``,
      ``status`` fall back to 0 and ``model`` to ``""``.
    * ``ip_prefix`` (/24, /48), ``user_agent`` (SDK family/major), ``end_user_fp`` (xxh3 of
      ``end_user_id``, 0 when absent).
    * ``input_chunks``, ``input_samples``: :func:`detector.chunks.input_chunks` of every text
      field (how much of the input the windows can tell is new).

    When it works: the hashes are stable across processes and replays (fixed-seed xxh3), so the
    windows can count distinct prompts and skeletons and link keys that share them. When it fails:
    only the last user turn is looked at, so a campaign that varies earlier turns and keeps the
    last one fixed looks more repetitive than it is, and the reverse. Assumes the event was
    validated by :mod:`detector.parse`.

    Cost: one call into the compiled kernel (``RequestKernel``: the user turn's analysis, script,
    text signals, domain, fingerprints and SimHash, linear in the capped text, and every request
    bit around it, and the input chunks), memoised work for the system prompt, user agent and IP.
    Without the kernel the Python reference costs about six times as much.

    >>> from detector.record import Message
    >>> ev = Event(ts_ms=1_764_165_787_412, api_key_id="key_7f3a", client_ip="203.0.113.9",
    ...            user_agent="anthropic-python/0.34.2", output_tokens=900,
    ...            messages=(Message("user", "Question: Who wrote Hamlet?\\nThink step by step."),))
    >>> f = extract(ev)
    >>> f.prompt_chars, f.input_tokens, f.ip_prefix, f.user_agent, f.system_fp, f.depth
    (47, 11, '203.0.113.0/24', 'anthropic-python/0', 0, 1)
    >>> from detector.signals import Signal
    >>> Signal(f.flags)
    <Signal.COT|LONG_OUTPUT|DOMAIN_CHAT|SINGLE_SHOT: 10489857>
    >>> from detector.text import fingerprint, skeleton
    >>> f.skeleton_fp == fingerprint(skeleton("Question: Who wrote Hamlet?\\nThink step by step."))
    True
    """
    if _REQUEST is not None and compiled.ON and (features := _REQUEST.extract(ev)) is not None:
        return features  # type: ignore[no-any-return]
    chunks, samples = input_chunks(ev)
    last = last_user_message(ev)
    user = (last.content or "") if last is not None else ""
    s = system_view_of(ev.system)
    norm, prompt_fp, skeleton, sig, norm_fp, text_flags, script, domain = _turn(user, s, uses_tools(ev))
    input_tokens = estimated_input_tokens(ev, len(user))
    flags = (parameter_signals(ev, input_tokens) | turn_signals(ev, norm) | text_flags | s.flags
             | shape_signals(ev, domain) | output_signals(ev.output))
    return EventFeatures(
        ts_ms=ev.ts_ms,
        api_key_id=ev.api_key_id,
        account_id=ev.account_id,
        account_created_ms=ev.account_created_ms,
        prompt_fp=prompt_fp,
        skeleton_fp=skeleton,
        skeleton_sig=sig,
        system_fp=s.fp,
        flags=flags,
        script=script,
        prompt_chars=len(user),
        input_tokens=input_tokens,
        output_tokens=ev.output_tokens or 0,
        depth=len(ev.messages),
        model=ev.model or "",
        ip_prefix=ip_prefix(ev.client_ip),
        user_agent=ua_family(ev.user_agent),
        end_user_fp=hash_str(ev.end_user_id) if ev.end_user_id else 0,
        status=ev.status or 0,
        bias_fp=bias_fingerprint(ev),
        request_fp=hash_str(ev.request_id) if ev.request_id else 0,
        head_fp=norm_fp if last is not None and _first_user(ev) is last else head_fingerprint(ev),
        input_chunks=chunks,
        input_samples=samples,
    )


def _first_user(ev: Event) -> Message | None:
    return next((m for m in ev.messages if m.role == "user"), None)


def head_fingerprint(ev: Event) -> int:
    """Fingerprint of the conversation's opening user turn (normalised), 0 without one.

    Requests along one conversation (a chat, an agent loop) repeat its opening turn; a harvest of
    dataset items -- single prompts or fabricated transcripts -- opens a new conversation every
    time. :func:`extract` reuses its analysis of the last user turn when that is the opening one.

    >>> a = Event(0, "k", messages=(Message("user", "Fix the test"), Message("assistant", "ok"),
    ...                             Message("user", "thanks")))
    >>> head_fingerprint(a) == head_fingerprint(Event(0, "k", messages=(Message("user", "fix the  test"),)))
    True
    """
    first = _first_user(ev)
    return fingerprint(first.content) if first is not None and first.content else 0


def bias_fingerprint(ev: Event) -> int:
    """Fingerprint of the request's logit-bias token set: xxh3 of the sorted ids, or of the map's
    size when only the size was logged; 0 without a bias. A classifier biasing the same two labels
    has one fingerprint all day; a vocabulary sweep has a new one per request.

    >>> bias_fingerprint(Event(0, "k")), bias_fingerprint(Event(0, "k", logit_bias_ids=(5, 9))) != 0
    (0, True)
    """
    if ev.logit_bias_ids:
        return hash_str(",".join(map(str, ev.logit_bias_ids)))
    if ev.logit_bias_size:
        return hash_str(f"size:{ev.logit_bias_size}")
    return 0
