"""HTML replay report for incident reviewers: alerts, per-subject score timelines and plots.

:func:`write_report` turns a :class:`~detector.offline.replay.ReplayResult` into ``out_dir/index.html``
(one self-contained page: inline CSS, no scripts, no external resources) and PNG plots under
``out_dir/plots/``: one overview (alerts per hour by severity) and one timeline per alerted subject
(the ``max_subjects`` most severe, then highest-scoring), showing the score, the strengths of its
top signals, the decision thresholds and the alert times.

Assumptions: alerts follow ``extraction.alert/v1``; only ids, numbers and signal names are read,
and the result carries no prompt text, so none can reach the report. Every string is HTML-escaped.
Output is deterministic: same result, same bytes (no wall-clock time; PNG metadata without the
matplotlib version; plot file names derived from the subject, not from the run). Plots are drawn on
standalone Agg :class:`~matplotlib.figure.Figure` objects, so the global pyplot state and backend are
never touched and nothing stays registered after a plot is written.

Cost: one PNG per plotted subject (~0.3 s each) plus HTML linear in alerts and timeline points.
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib import dates as mdates
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from detector.alerts import LEVELS
from detector.config import Config
from detector.levels import Action, Severity

if TYPE_CHECKING:
    from detector.offline.replay import ReplayResult, Timeline

SIGNAL_HELP: dict[str, str] = {
    "harvest": "Many long answers to new, single-shot prompts -- a dataset being generated -- swept across task "
               "areas, or far beyond what benign keys harvest, or around the clock.",
    "answer_volume": "Harvested answer tokens several times the benign population's extreme for the window.",
    "logit_probe": "Logprobs at one-token outputs with a logit bias that sweeps the vocabulary: the pattern used "
                   "to reconstruct the model's output projection layer.",
    "bias_sweep": "Many distinct logit-bias token sets while probing logprobs (a label classifier keeps one).",
    "empty_turn_harvest": "Empty or template-only user turns that elicit long outputs (Magpie-style harvesting of "
                          "the model's own instruction distribution).",
    "prompt_resampling": "The same prompts sent over and over for long answers (Self-Instruct-style sampling).",
    "release_pivot": "Harvest-shaped traffic split onto a newly released model while keeping the old one, as "
                     "campaigns do within a day of a release (a migrating customer moves everything).",
    "reverse_rationale": "Wording: prompts hand over a finished answer and ask for the reasoning behind it (weak).",
    "rubric_grading": "Wording: prompts ask the model to grade answers against a rubric (weak).",
    "meta_prompt": "Wording: a meta-prompt asks for numbered lists of new instructions (weak).",
    "young_account": "A harvest-shaped key on an account days old (weak).",
    "anomalous_window": "The key's window statistics are far from what the anomaly model learned from normal "
                        "traffic; on its own this can only lead to observe.",
    "analyst_similarity": "Similar to windows analysts confirmed as extraction; on its own only observe.",
    "cluster_harvest": "The pooled traffic of linked keys is a harvest even though each member looks like a "
                       "light user.",
    "synchronised_keys": "Linked keys are active in the same 5-minute slots all day: one scheduler drives them.",
    "shared_payment": "Linked keys' accounts pay with the same instruments.",
    "coordinated_accounts": "Linked keys belong to accounts created within hours of each other.",
}

SEVERITY_COLOURS = {Severity.LOW: "#9ecae1", Severity.MEDIUM: "#f2c14e", Severity.HIGH: "#f57c00",
                    Severity.CRITICAL: "#c62828"}
ACTION_COLOURS = {Action.OBSERVE: "#d4a017", Action.THROTTLE: "#f57c00", Action.BLOCK: "#c62828"}
SIGNAL_COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf")
MAX_SIGNALS = 5
MAX_REASONS = 3
MAX_LISTED_KEYS = 50
PNG_META = {"Software": None}   # matplotlib writes its version here by default
DPI = 100

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;color:#222;
padding:0 1em;line-height:1.4}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85em}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.act-observe{color:#8a6d00}.act-throttle{color:#b35900;font-weight:bold}.act-block{color:#b00020;font-weight:bold}
.sev{padding:0 .4em;border-radius:3px}
.sev-low{background:#deebf7}.sev-medium{background:#fff3c4}.sev-high{background:#ffd8b0}
.sev-critical{background:#ffcdd2;font-weight:bold}
img{max-width:100%;border:1px solid #eee}dt{font-weight:bold;font-family:monospace}dd{margin:0 0 .5em 1.5em}
.muted{color:#666}
"""


@dataclass(frozen=True, slots=True)
class _Subject:
    kind: str
    subject: str
    alerts: tuple[dict[str, Any], ...]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}"

    @property
    def slug(self) -> str:
        """Stable, file- and anchor-safe name (the subject id itself may hold any character)."""
        return f"{self.kind}-" + hashlib.blake2b(self.subject.encode(), digest_size=8).hexdigest()

    @property
    def rank(self) -> tuple[int, float]:
        return max((Severity(a["severity"]).rank, a["score"]) for a in self.alerts)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(rfc3339: str) -> datetime:
    return datetime.fromisoformat(rfc3339)


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


Point = tuple[int, float, dict[str, float]]


def _runs(points: list[Point], gap_ms: int) -> list[list[Point]]:
    """``points`` split where two are more than ``gap_ms`` apart (windows that were not recorded)."""
    runs: list[list[Point]] = []
    for point in points:
        if runs and point[0] - runs[-1][-1][0] <= gap_ms:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def _subjects(alerts: Iterable[dict[str, Any]], limit: int) -> list[_Subject]:
    """Alerted subjects, most severe first (then highest score, then id), at most ``limit``."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in alerts:
        grouped[(a["kind"], a["subject_id"])].append(a)
    subjects = [_Subject(k, s, tuple(al)) for (k, s), al in grouped.items()]
    subjects.sort(key=lambda s: (-s.rank[0], -s.rank[1], s.kind, s.subject))
    return subjects[:limit]


def _save(fig: Figure, path: Path) -> None:
    fig.savefig(path, dpi=DPI, metadata=PNG_META)


def _time_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(tz=timezone.utc)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=timezone.utc))
    ax.set_xlabel("event time (UTC)")


def _top_signals(timeline: Timeline | None) -> list[str]:
    best: dict[str, float] = {}
    for _, _, strengths in timeline.points if timeline else ():
        for name, value in strengths.items():
            best[name] = max(best.get(name, 0.0), value)
    return sorted(best, key=lambda n: (-best[n], n))[:MAX_SIGNALS]


def _plot_timeline(subject: _Subject, timeline: Timeline | None, thresholds: dict[str, float], gap_ms: int,
                   path: Path) -> None:
    """Score and top signal strengths over time; lines break where windows more than ``gap_ms`` apart."""
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax = fig.subplots()
    signals = list(zip(_top_signals(timeline), SIGNAL_COLOURS))
    for i, run in enumerate(_runs(timeline.points if timeline else [], gap_ms)):
        times = [_from_ms(t) for t, _, _ in run]
        ax.plot(times, [score for _, score, _ in run], color="black", linewidth=2.5, marker=".",
                label=None if i else "score")
        for name, colour in signals:   # drawn over the score: visible where they coincide
            ax.plot(times, [strengths.get(name, 0.0) for _, _, strengths in run], color=colour, linewidth=1.3,
                    label=None if i else name)
    for action, level in thresholds.items():
        ax.axhline(level, color=ACTION_COLOURS[action], linestyle="--", linewidth=0.8)
        ax.annotate(action, xy=(1.0, level), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=7, color=ACTION_COLOURS[action])
    marked: set[str] = set()
    for a in subject.alerts:
        action = a["action"]
        ax.axvline(_time(a["detected_at"]), color=ACTION_COLOURS.get(action, "grey"), linewidth=1.5, alpha=0.8,
                   label=None if action in marked else f"alert: {action}")
        marked.add(action)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score / strength")
    ax.set_title(f"{subject.kind} {subject.subject}"[:120], fontsize=10, loc="left", parse_math=False)
    _time_axis(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.06, 1.0), fontsize=7, frameon=False)
    _save(fig, path)


def _plot_overview(alerts: list[dict[str, Any]], path: Path) -> None:
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    per_hour: dict[datetime, Counter[str]] = defaultdict(Counter)
    for a in alerts:
        per_hour[_time(a["detected_at"]).replace(minute=0, second=0, microsecond=0)][a["severity"]] += 1
    if per_hour:
        first, last = min(per_hour), max(per_hour)
        hours = [first + timedelta(hours=i) for i in range((last - first) // timedelta(hours=1) + 1)]
        bottom = [0] * len(hours)
        for sev in Severity:
            counts = [per_hour.get(h, Counter())[sev] for h in hours]
            if any(counts):
                ax.bar([h + timedelta(minutes=30) for h in hours], counts, width=1 / 24 * 0.9, bottom=bottom,
                       color=SEVERITY_COLOURS[sev], label=sev)
                bottom = [b + c for b, c in zip(bottom, counts)]
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], loc="upper left", fontsize=8, frameon=False)   # as stacked
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        _time_axis(ax)
    else:
        ax.text(0.5, 0.5, "no alerts", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("alerts per hour")
    ax.set_title("Alerts per hour by severity", fontsize=10, loc="left")
    _save(fig, path)


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table; ``rows`` hold already-rendered (escaped) cells."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "\n".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _td(value: object, cls: str = "") -> str:
    return f'<td class="{_e(cls)}">{_e(value)}</td>' if cls else f"<td>{_e(value)}</td>"


def _reason(r: dict[str, Any]) -> str:
    horizon = f" ({r['horizon']})" if r.get("horizon") else ""
    text = f"{r['signal']} {r['value']:g} vs {r['baseline']:g}{horizon}"
    return f'<span title="{_e(SIGNAL_HELP.get(r["signal"], ""))}">{_e(text)}</span>'


def _alert_rows(alerts: Iterable[dict[str, Any]], anchors: dict[str, str]) -> list[list[str]]:
    rows = []
    for a in alerts:
        key = f"{a['kind']}:{a['subject_id']}"
        subject = _e(a["subject_id"])
        if key in anchors:
            subject = f'<a href="#{_e(anchors[key])}">{subject}</a>'
        rows.append([
            _td(a["detected_at"]), f'<td class="id">{subject}</td>', _td(a["kind"]),
            _td(len(a["api_key_ids"]), "num"), _td(a["action"], f"act-{a['action']}"),
            f'<td><span class="sev sev-{_e(a["severity"])}">{_e(a["severity"])}</span></td>',
            _td(f"{a['score']:.3f}", "num"),
            "<td>" + "<br>".join(_reason(r) for r in a["reasons"][:MAX_REASONS]) + "</td>",
            _td(a["alert_id"], "id"),
        ])
    return rows


ALERT_HEADERS = ("time (UTC)", "subject", "kind", "members", "action", "severity", "score",
                 "top reasons: signal value vs baseline (horizon)", "alert id")


def _count_rows(result: ReplayResult) -> list[list[str]]:
    counts = result.counts
    rows: list[tuple[str, object]] = [(name, counts.get(name, 0)) for name in ("events", "late", "epochs")]
    rows += [(name, counts[name]) for name in sorted(counts) if name not in {"events", "late", "epochs", "alerts"}]
    rows.append(("rejected", sum(result.rejections.values())))
    rows += [(f"rejected: {reason}", n) for reason, n in sorted(result.rejections.items())]
    rows.append(("alerts", len(result.alerts)))
    for field, values in (("action", LEVELS[1:]), ("severity", tuple(Severity))):
        c = Counter(a[field] for a in result.alerts)
        rows += [(f"alerts: {field} {v}", c[v]) for v in values]
    rows += [("keys seen", result.keys_seen), ("state bytes per key", f"{result.state_bytes_per_key:,.0f}"),
             ("replay seconds", f"{result.seconds:.2f}")]
    return [[_td(name), _td(value, "num")] for name, value in rows]


def _id_list(label: str, ids: set[str]) -> str:
    """``N label(s): a, b, ...`` listing at most :data:`MAX_LISTED_KEYS` ids, sorted."""
    shown = ", ".join(_e(i) for i in sorted(ids)[:MAX_LISTED_KEYS])
    more = f' <span class="muted">(+{len(ids) - MAX_LISTED_KEYS} more)</span>' if len(ids) > MAX_LISTED_KEYS else ""
    return f'{len(ids)} {_e(label)}(s): <span class="id">{shown}</span>{more}'


def _subject_section(subject: _Subject, plot: str) -> str:
    keys = {k for a in subject.alerts for k in a["api_key_ids"]}
    accounts = {acc for a in subject.alerts for acc in a["account_ids"]}
    lines = [_id_list("key", keys)] + ([_id_list("account", accounts)] if accounts else [])
    return "\n".join([
        f'<h3 id="{_e(subject.slug)}">{_e(subject.kind)} <span class="id">{_e(subject.subject)}</span></h3>',
        "<p>" + "<br>".join(lines) + "</p>",
        f'<img src="plots/{_e(plot)}" alt="score timeline of {_e(subject.kind)} {_e(subject.subject)}">',
        _table(ALERT_HEADERS, _alert_rows(subject.alerts, {})),
    ])


def write_report(result: ReplayResult, out_dir: Path, *, title: str, command: str, max_subjects: int = 30,
                 config: Config | None = None) -> Path:
    """Write ``out_dir/index.html`` and ``out_dir/plots/*.png``; return the HTML path.

    ``command`` is the command line that produced ``result`` (shown verbatim, escaped); ``config``
    supplies the threshold lines drawn on the timelines (defaults: :class:`Config`).
    """
    cfg = config or Config()
    thresholds = {"observe": cfg.observe_threshold, "throttle": cfg.throttle_threshold, "block": cfg.block_threshold}
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    _plot_overview(result.alerts, plots / "overview.png")
    subjects = _subjects(result.alerts, max_subjects)
    sections = []
    for s in subjects:
        name = f"{s.slug}.png"
        every = cfg.linkage_rebuild_epochs if s.kind == "cluster" else 1   # clusters are scored less often
        _plot_timeline(s, result.timelines.get(s.key), thresholds, every * cfg.fine_bucket_ms, plots / name)
        sections.append(_subject_section(s, name))
    anchors = {s.key: s.slug for s in subjects}
    alerted = len({(a["kind"], a["subject_id"]) for a in result.alerts})
    seen_signals = sorted({r["signal"] for a in result.alerts for r in a["reasons"]} - SIGNAL_HELP.keys())
    glossary = list(SIGNAL_HELP.items())
    glossary += [(name, "(no description)") for name in seen_signals]
    doc = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        "<p>Produced by:</p>",
        f"<pre><code>{_e(command)}</code></pre>",
        "<h2>Summary</h2>",
        '<img src="plots/overview.png" alt="alerts per hour by severity">',
        _table(("count", "value"), _count_rows(result)),
        f"<h2>Alerts ({len(result.alerts)})</h2>",
        _table(ALERT_HEADERS, _alert_rows(result.alerts, anchors)) if result.alerts else "<p>No alerts.</p>",
        f"<h2>Subjects ({len(subjects)} of {alerted} alerted)</h2>",
        "<p class=\"muted\">Score (black) and the strengths of its top signals per closed window; dashed lines are "
        "the observe / throttle / block thresholds, vertical lines the alerts, coloured by action. Windows "
        "scoring below the replay's timeline minimum are not recorded.</p>",
        *sections,
        "<h2>Signals</h2>",
        "<dl>" + "".join(f"<dt>{_e(n)}</dt><dd>{_e(t)}</dd>" for n, t in glossary) + "</dl>",
        "</body></html>",
        "",
    ])
    index = out_dir / "index.html"
    index.write_text(doc, encoding="utf-8")
    return index
