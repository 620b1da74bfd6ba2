"""Slack Block Kit messages for extraction alerts, and the pure flow control in front of Slack.

What: :func:`build_message` renders one ``extraction.alert/v1`` alert; :func:`build_digest` renders
many at once; :func:`render` picks one of the two for a :class:`Notification`.
:func:`enforce_limits` / :func:`check_limits` keep any payload inside the Block Kit limits.
:class:`NotifyPolicy` decides *whether and how* alerts reach Slack (severity threshold, dedupe by
``alert_id``, cooldown per subject with escalation, digest when many alerts arrive together) and
:class:`TokenBucket` paces posts per webhook. The I/O shell is :mod:`detector.outputs.notifier`.

Assumptions:
* Alerts follow ``detector/schemas/alert.v1.json``. Only whitelisted fields are read (subject, keys,
  accounts, severity, action, TTL, score, window, reasons, requests, ids); anything else an alert
  carries — unknown future fields included — is never rendered, so prompt text or secrets cannot
  leak even if a producer misbehaves. Every alert string is escaped for Slack mrkdwn (``& < >``),
  so an id such as ``<!channel>`` cannot ping anyone or forge a link.
* Time is passed in explicitly (seconds; the notifier passes wall-clock epoch seconds, so times saved
  by one process mean the same to the next): everything here is deterministic.

Cost: rendering is O(reasons + listed keys/accounts) with fixed caps (5 reasons, 10 replay keys,
10 accounts, 10 digest subjects), whatever the size of a cluster. ``NotifyPolicy`` keeps one entry
per subject notified within the cooldown and a bounded LRU of ``alert_id`` values.

Failure modes: :func:`build_message` / :func:`build_digest` raise ``KeyError`` / ``ValueError`` on
alerts missing required fields (validate first). ``NotifyPolicy`` itself lives in memory; the
notifier (:mod:`detector.outputs.notifier`) saves what it decided to Redis and hands it back with
:meth:`NotifyPolicy.restore`, so dedupe and cooldowns survive a restart.

>>> TokenBucket(rate_per_s=1.0, capacity=1.0).wait_s(now=0.0)
0.0
"""

from __future__ import annotations

import copy
import shlex
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Any, Literal

from detector.levels import ENFORCED, Severity

SEVERITY_RANK: dict[str, int] = {s.value: s.rank for s in Severity}
SEVERITY_EMOJI: dict[str, str] = {
    Severity.LOW: ":large_blue_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.CRITICAL: ":red_circle:",
}
DEFAULT_REPLAY_SOURCE = "--topic gateway-logs"

# Block Kit limits (docs.slack.dev block reference; slack_sdk block validators).
MAX_BLOCKS = 50
MAX_HEADER_TEXT = 150
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_BLOCK_ID = 255
MAX_MESSAGE_TEXT = 40_000
# Observed (undocumented) ceiling on all block text of one message: `msg_blocks_too_long`.
MAX_TOTAL_BLOCK_TEXT = 12_000

MAX_REASONS = 5
MAX_REPLAY_KEYS = 10
MAX_LISTED_ACCOUNTS = 10
MAX_DIGEST_SUBJECTS = 10
# Budget of one rendered value (an id, an account list) so no field can crowd out the others.
_VALUE_BUDGET = 300
# Room the header keeps for "<emoji> Model extraction: cluster " before the subject id.
_HEADER_PREFIX = 50
# Budget of the replay command: leaves room for the code fence and the "+N more" line.
_COMMAND_BUDGET = 2500
_ELLIPSIS = "…"


# ---------------------------------------------------------------- text helpers


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``…`` when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - 1] + _ELLIPSIS


def escape(text: str) -> str:
    """Escape the three characters Slack mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _value(text: str) -> str:
    """An alert string made safe and short enough to render in mrkdwn."""
    return escape(clip(text, _VALUE_BUDGET))


def _duration(seconds: int) -> str:
    """Compact human duration: ``90`` -> ``1m30s``, ``86400`` -> ``24h``."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts)


def _number(x: float) -> str:
    """Short rendering of a reason value: integers stay integers, others get 3 significant digits."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.3g}"


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(clip(text, MAX_SECTION_TEXT))}


def _fields(pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [_mrkdwn(clip(f"*{label}*\n{value}", MAX_FIELD_TEXT)) for label, value in pairs[:MAX_FIELDS]],
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(clip(text, MAX_FIELD_TEXT))]}


# ---------------------------------------------------------------- replay command


def replay_command(source: str, since: str, until: str, keys: Sequence[str]) -> tuple[str, int]:
    """The replay CLI invocation for ``keys`` and how many keys it had to leave out.

    ``source`` is the operator-configured log source, inserted verbatim (``--topic gateway-logs``
    or a path). Window bounds and keys are shell-quoted, so the command is copy-paste exact. At most
    :data:`MAX_REPLAY_KEYS` keys are listed, fewer when ids are so long the command would exceed
    its budget.
    """
    cmd = f"detector replay {source} --since {shlex.quote(since)} --until {shlex.quote(until)}"
    listed = 0
    for key in keys[:MAX_REPLAY_KEYS]:
        part = f" --key {shlex.quote(key)}"
        if len(escape(cmd + part)) > _COMMAND_BUDGET:
            break
        cmd += part
        listed += 1
    return cmd, len(keys) - listed


def _replay_block(source: str, since: str, until: str, keys: Sequence[str], title: str) -> dict[str, Any]:
    cmd, left_out = replay_command(source, since, until, keys)
    text = f"*{title}*\n```{escape(cmd)}```"
    if left_out:
        text += f"\n{_ELLIPSIS} +{left_out} more keys not listed"
    return _section(text)


# ---------------------------------------------------------------- alert rendering


def _subject_title(alert: Mapping[str, Any]) -> str:
    """``key k`` or ``cluster xc_… (N keys)``: plain text, clipped so the key count survives."""
    n = len(alert["api_key_ids"])
    if alert["kind"] == "cluster":
        suffix = f" ({n} keys)"
        return "cluster " + clip(alert["subject_id"], MAX_HEADER_TEXT - _HEADER_PREFIX - len(suffix)) + suffix
    return "key " + clip(alert["subject_id"], MAX_HEADER_TEXT - _HEADER_PREFIX)


def _accounts(account_ids: Sequence[str]) -> str:
    if not account_ids:
        return "unknown"
    shown = ", ".join(_value(a) for a in account_ids[:MAX_LISTED_ACCOUNTS])
    more = len(account_ids) - MAX_LISTED_ACCOUNTS
    return clip(shown, 1500) + (f" {_ELLIPSIS} (+{more} more)" if more > 0 else "")


def _reason_line(reason: Mapping[str, Any]) -> str:
    horizon = f" ({reason['horizon']})" if reason.get("horizon") in ("10m", "1h", "24h") else ""
    value, baseline = _number(reason["value"]), _number(reason["baseline"])
    return f"• `{_value(reason['signal'])}`: {value} vs baseline {baseline}{horizon}"


def build_message(alert: Mapping[str, Any], *, replay_hint: str) -> dict[str, Any]:
    """One Block Kit payload (``text`` + ``blocks``) for one alert.

    ``replay_hint`` is the log source part of the replay command (e.g. ``--topic gateway-logs``).
    Reasons are shown in the order the detector ranked them, at most five.
    """
    severity = alert["severity"]
    emoji = SEVERITY_EMOJI[severity]
    subject = _subject_title(alert)
    window = alert["window"]
    keys = list(alert["api_key_ids"])
    fields = [
        ("Severity", f"{emoji} {severity}"),
        ("Action", f"{alert['action']} · TTL {_duration(int(alert['ttl_s']))}"),
        ("Account(s)", _accounts(alert["account_ids"])),
        ("Requests in window", f"{int(alert['requests']):,}"),
        ("Window", f"{_value(window['start'])} \N{EN DASH} {_value(window['end'])}"),
        ("Score", f"{float(alert['score']):.3f}"),
    ]
    if alert["kind"] == "cluster":
        fields.append(("Keys", f"{len(keys):,}"))
    reasons = alert["reasons"][:MAX_REASONS]
    reason_text = "*Top reasons*\n" + "\n".join(_reason_line(r) for r in reasons)
    if len(alert["reasons"]) > MAX_REASONS:
        reason_text += f"\n{_ELLIPSIS} +{len(alert['reasons']) - MAX_REASONS} more"
    blocks = [
        _header(f"{emoji} Model extraction: {subject}"),
        _fields(fields),
        _section(reason_text),
        _replay_block(replay_hint, window["start"], window["end"], keys, "Investigate"),
        _context(
            f"alert `{_value(alert['alert_id'])}` · model {_value(alert['model_version'])}"
            f" · detected {_value(alert['detected_at'])}"
        ),
    ]
    text = (
        f"{severity.upper()} model extraction: {escape(subject)} — {alert['action']} for "
        f"{_duration(int(alert['ttl_s']))}, {int(alert['requests']):,} requests, score {float(alert['score']):.2f}"
    )
    return enforce_limits({"text": text, "blocks": blocks})


def _window_bounds(alerts: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """Earliest window start and latest window end, as the alerts spelled them."""
    def ts(s: str) -> datetime:
        return datetime.fromisoformat(s)

    start = min((a["window"]["start"] for a in alerts), key=ts)
    end = max((a["window"]["end"] for a in alerts), key=ts)
    return start, end


def _rank(alert: Mapping[str, Any]) -> tuple[int, float, int]:
    return (SEVERITY_RANK[alert["severity"]], float(alert["score"]), int(alert["requests"]))


def build_digest(alerts: Sequence[Mapping[str, Any]], *, replay_hint: str = DEFAULT_REPLAY_SOURCE) -> dict[str, Any]:
    """One Block Kit payload summarising many alerts: counts, top subjects, one replay command.

    The replay command covers the union of the alert windows and the keys of the top subjects
    (most severe first). Raises ``ValueError`` on an empty list.
    """
    if not alerts:
        raise ValueError("build_digest needs at least one alert")
    ranked = sorted(alerts, key=_rank, reverse=True)
    top = ranked[0]["severity"]
    counts = {s: sum(1 for a in alerts if a["severity"] == s) for s in reversed(Severity)}
    actions = {act: sum(1 for a in alerts if a["action"] == act) for act in reversed(ENFORCED)}
    n_keys = len({k for a in alerts for k in a["api_key_ids"]})
    fields = [(f"{SEVERITY_EMOJI[s]} {s}", str(n)) for s, n in counts.items() if n]
    fields.append(("Actions", " · ".join(f"{act} {n}" for act, n in actions.items() if n)))
    fields.append(("Keys involved", f"{n_keys:,}"))
    lines = [
        f"• {SEVERITY_EMOJI[a['severity']]} {escape(_subject_title(a))} — {a['action']}, "
        f"score {float(a['score']):.2f}, {int(a['requests']):,} req"
        for a in ranked[:MAX_DIGEST_SUBJECTS]
    ]
    if len(ranked) > MAX_DIGEST_SUBJECTS:
        lines.append(f"{_ELLIPSIS} +{len(ranked) - MAX_DIGEST_SUBJECTS} more alerts")
    # Round-robin over subjects, so the command covers as many of the top subjects as it can.
    rows = zip_longest(*(a["api_key_ids"] for a in ranked))
    keys = list(dict.fromkeys(k for row in rows for k in row if k is not None))
    since, until = _window_bounds(alerts)
    blocks = [
        _header(f"{SEVERITY_EMOJI[top]} Model extraction: {len(alerts)} alerts"),
        _fields(fields),
        _section("*Top subjects*\n" + "\n".join(lines)),
        _replay_block(replay_hint, since, until, keys, "Investigate (most severe first)"),
    ]
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return enforce_limits({"text": f"{len(alerts)} model-extraction alerts: {summary}", "blocks": blocks})


# ---------------------------------------------------------------- Block Kit limits


def _block_texts(block: Mapping[str, Any]) -> list[str]:
    """Every text string a block carries (for the aggregate-size check)."""
    texts: list[str] = []
    if isinstance(block.get("text"), Mapping):
        texts.append(str(block["text"].get("text", "")))
    for key in ("fields", "elements"):
        for item in block.get(key) or ():
            if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                texts.append(item["text"])
    return texts


def check_limits(payload: Mapping[str, Any]) -> list[str]:
    """Human-readable violations of the Block Kit limits; empty when the payload is postable."""
    problems: list[str] = []
    text = payload.get("text", "")
    blocks = payload.get("blocks") or []
    if not text and not blocks:
        problems.append("payload has neither text nor blocks")
    if len(text) > MAX_MESSAGE_TEXT:
        problems.append(f"text: {len(text)} > {MAX_MESSAGE_TEXT} chars")
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"blocks: {len(blocks)} > {MAX_BLOCKS}")
    total = 0
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if len(str(block.get("block_id", ""))) > MAX_BLOCK_ID:
            problems.append(f"blocks[{i}].block_id > {MAX_BLOCK_ID} chars")
        inner = block.get("text")
        inner_len = len(inner.get("text", "")) if isinstance(inner, Mapping) else 0
        if kind == "header" and inner_len > MAX_HEADER_TEXT:
            problems.append(f"blocks[{i}] header text: {inner_len} > {MAX_HEADER_TEXT} chars")
        if kind == "section":
            if inner_len > MAX_SECTION_TEXT:
                problems.append(f"blocks[{i}] section text: {inner_len} > {MAX_SECTION_TEXT} chars")
            fields = block.get("fields") or []
            if len(fields) > MAX_FIELDS:
                problems.append(f"blocks[{i}] fields: {len(fields)} > {MAX_FIELDS}")
            for j, f in enumerate(fields):
                if len(f.get("text", "")) > MAX_FIELD_TEXT:
                    problems.append(f"blocks[{i}].fields[{j}]: {len(f['text'])} > {MAX_FIELD_TEXT} chars")
        if kind == "context" and len(block.get("elements") or []) > MAX_CONTEXT_ELEMENTS:
            problems.append(f"blocks[{i}] context elements > {MAX_CONTEXT_ELEMENTS}")
        total += sum(len(t) for t in _block_texts(block))
    if total > MAX_TOTAL_BLOCK_TEXT:
        problems.append(f"all block text: {total} > {MAX_TOTAL_BLOCK_TEXT} chars")
    return problems


def _clip_text_object(obj: dict[str, Any], limit: int) -> None:
    if isinstance(obj.get("text"), str):
        obj["text"] = clip(obj["text"], limit)


def enforce_limits(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``payload`` truncated into the Block Kit limits (``check_limits`` is then empty).

    Texts are clipped with ``…``, surplus fields/elements/blocks dropped; when all block text is
    still above the aggregate ceiling, trailing blocks are dropped (the first block always stays).
    """
    out = copy.deepcopy(dict(payload))
    out["text"] = clip(str(out.get("text") or ""), MAX_MESSAGE_TEXT) or "Model extraction alert"
    blocks = list(out.get("blocks") or [])[:MAX_BLOCKS]
    for block in blocks:
        if "block_id" in block:
            block["block_id"] = clip(str(block["block_id"]), MAX_BLOCK_ID)
        kind = block.get("type")
        if isinstance(block.get("text"), dict):
            _clip_text_object(block["text"], MAX_HEADER_TEXT if kind == "header" else MAX_SECTION_TEXT)
        if kind == "section" and "fields" in block:
            block["fields"] = block["fields"][:MAX_FIELDS]
            for f in block["fields"]:
                _clip_text_object(f, MAX_FIELD_TEXT)
        if kind == "context":
            block["elements"] = block.get("elements", [])[:MAX_CONTEXT_ELEMENTS]
            for e in block["elements"]:
                _clip_text_object(e, MAX_FIELD_TEXT)
    while len(blocks) > 1 and sum(len(t) for b in blocks for t in _block_texts(b)) > MAX_TOTAL_BLOCK_TEXT:
        blocks.pop()
    if blocks:
        out["blocks"] = blocks
    else:
        out.pop("blocks", None)
    return out


# ---------------------------------------------------------------- flow control


@dataclass(frozen=True, slots=True)
class Notification:
    """What to post: one alert (``kind="alert"``) or a digest of several."""

    kind: Literal["alert", "digest"]
    alerts: tuple[Mapping[str, Any], ...]


def render(notification: Notification, *, replay_hint: str) -> dict[str, Any]:
    """The Block Kit payload of a :class:`Notification`."""
    if notification.kind == "digest":
        return build_digest(notification.alerts, replay_hint=replay_hint)
    return build_message(notification.alerts[0], replay_hint=replay_hint)


Verdict = Literal["queued", "below_threshold", "duplicate", "cooldown"]


@dataclass(slots=True)
class NotifyPolicy:
    """Decides which alerts reach Slack, and whether together (digest) or one by one.

    * ``offer`` drops alerts below ``min_severity``, alerts whose ``alert_id`` was already offered,
      and alerts whose subject was notified less than ``cooldown_s`` ago at the same or a higher
      severity (a higher severity passes and restarts the cooldown at that severity). Within the
      pending window, a later alert for a pending subject replaces it.
    * The first queued alert opens a gather window of ``gather_s``; ``flush`` at or after its end
      returns one digest when more than ``digest_over`` alerts are pending, else one notification
      per alert (most severe first). Added latency is at most ``gather_s``.
    """

    min_severity: str = "medium"
    cooldown_s: float = 15 * 60.0
    gather_s: float = 10.0
    digest_over: int = 5
    dedupe_capacity: int = 100_000
    _pending: dict[str, Mapping[str, Any]] = field(default_factory=dict, init=False, repr=False)
    _window_end: float | None = field(default=None, init=False, repr=False)
    _last: dict[str, tuple[float, int]] = field(default_factory=dict, init=False, repr=False)
    _seen: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITY_RANK:
            raise ValueError(f"min_severity must be one of {tuple(SEVERITY_RANK)}, not {self.min_severity!r}")

    @property
    def pending(self) -> int:
        """Number of alerts waiting for the gather window to close."""
        return len(self._pending)

    def next_flush_at(self) -> float | None:
        """When :meth:`flush` will have something to return, or ``None`` when nothing is pending."""
        return self._window_end

    def last_notified(self, subject: str) -> tuple[float, int] | None:
        """``(time, severity rank)`` the cooldown of ``subject`` counts from, or ``None``."""
        return self._last.get(subject)

    def restore(self, seen: Iterable[str], last: Mapping[str, tuple[float, int]]) -> None:
        """Merge state saved by an earlier process: alert ids already handled, and per subject the
        ``(time, severity rank)`` of its last notification. For a subject known both ways the later
        time wins (then the higher rank), so restoring is idempotent and order-independent."""
        for alert_id in seen:
            self._remember(alert_id)
        for subject, saved in last.items():
            mine = self._last.get(subject)
            if mine is None or saved > mine:
                self._last[subject] = saved

    def offer(self, alert: Mapping[str, Any], now: float) -> Verdict:
        """Consider one alert at time ``now``; returns what happened to it."""
        alert_id = alert["alert_id"]
        if alert_id in self._seen:
            self._seen.move_to_end(alert_id)
            return "duplicate"
        self._remember(alert_id)
        rank = SEVERITY_RANK[alert["severity"]]
        if rank < SEVERITY_RANK[self.min_severity]:
            return "below_threshold"
        subject = alert["subject_id"]
        last = self._last.get(subject)
        if last is not None and now - last[0] < self.cooldown_s and rank <= last[1]:
            return "cooldown"
        self._last[subject] = (now, rank)
        self._pending[subject] = alert
        if self._window_end is None:
            self._window_end = now + self.gather_s
        return "queued"

    def _remember(self, alert_id: str) -> None:
        self._seen[alert_id] = None
        self._seen.move_to_end(alert_id)
        if len(self._seen) > self.dedupe_capacity:
            self._seen.popitem(last=False)

    def flush(self, now: float) -> list[Notification]:
        """The notifications due at ``now`` (empty before the gather window closes)."""
        if self._window_end is None or now < self._window_end:
            return []
        alerts = sorted(self._pending.values(), key=_rank, reverse=True)
        self._pending.clear()
        self._window_end = None
        self._last = {s: v for s, v in self._last.items() if now - v[0] < self.cooldown_s}
        if len(alerts) > self.digest_over:
            return [Notification("digest", tuple(alerts))]
        return [Notification("alert", (a,)) for a in alerts]


@dataclass(slots=True)
class TokenBucket:
    """Token bucket pacing posts: ``rate_per_s`` tokens per second, at most ``capacity`` saved up.

    Time is passed in (seconds, monotonic). ``wait_s`` says how long until a token is available;
    ``take`` spends one (the caller waits first). ``pause_until`` empties the bucket until a moment
    (used for HTTP 429 ``Retry-After``).
    """

    rate_per_s: float = 1.0
    capacity: float = 1.0
    _tokens: float | None = field(default=None, init=False, repr=False)
    _at: float = field(default=0.0, init=False, repr=False)

    def _refill(self, now: float) -> None:
        if self._tokens is None:
            self._tokens, self._at = self.capacity, now
        elif now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate_per_s)
            self._at = now

    def wait_s(self, now: float) -> float:
        """Seconds to wait from ``now`` until one token is available."""
        self._refill(now)
        assert self._tokens is not None
        return max(self._at - now, 0.0) + max(1.0 - self._tokens, 0.0) / self.rate_per_s

    def take(self, now: float) -> None:
        """Spend one token at ``now`` (may go negative if called early; later waits grow)."""
        self._refill(now)
        assert self._tokens is not None
        self._tokens -= 1.0

    def pause_until(self, when: float) -> None:
        """No token before ``when``; exactly one at ``when``."""
        if self._tokens is None or when > self._at:
            self._tokens, self._at = 1.0, when
