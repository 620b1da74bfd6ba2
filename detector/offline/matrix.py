"""The evaluation matrix: scenarios x variants x wording families x seeds, scored apart from tuning.

Every cell simulates one variant (:mod:`detector.offline.simulate.variants`) with one wording family and
seed into a cache directory (the benign background plus the campaign the variant concerns, or
every campaign for variants that concern them all), replays it with the current detector
(:func:`detector.offline.evaluate.replay_dir`: allow-list, and account profiles once replay takes them) and
scores the alerts: per campaign the variant concerns, whether a ``throttle``/``block`` alert named
its keys, the share of keys named, requests and hours until the first one, the most severe action;
per benign persona, how many keys were at most observed, throttled or blocked.

The split is fixed so that the held-out figures cannot be fitted: TUNING = wording ``classic`` and
``tuning`` with seeds 1 and 2; HELD-OUT = wording ``heldout`` with seeds 11 and 12. A third block
scores ``shared/eval/independent_traffic.py`` (default seed) the way ``score_independent.py``
does. Cells run in parallel processes; simulations are cached under a fingerprint of the simulator
source, so a changed simulator never reuses stale traffic. Cost at scale 0.1 over 24 h: 110k–160k
events per cell, 20–35 s per cell on one core (replay ~5–8k events/s).
"""

from __future__ import annotations

import bisect
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import xxhash

from detector.offline.evaluate import ACTION_RANK, Labels, key_outcomes, key_timelines, replay_dir

SPLITS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {
    "tuning": (("classic", "tuning"), (1, 2)),
    "heldout": (("heldout",), (11, 12)),
}
INDEPENDENT = "independent"
_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Cell:
    """One simulated run of the matrix."""

    split: str
    variant: str
    wording: str
    seed: int


@dataclass(frozen=True, slots=True)
class Settings:
    """What every cell shares: traffic size, text, caches, parallelism."""

    hours: float = 24.0
    scale: float = 0.1
    corpora: Path | None = None
    cache: Path = Path("out/matrix")
    jobs: int = 2


def cells(split: str = "all", variants: Iterable[str] | None = None,
          seeds: Iterable[int] | None = None) -> list[Cell]:
    """The cells of ``split`` (``tuning``, ``heldout`` or ``all``) for ``variants`` (default: all),
    with the split's own seeds unless ``seeds`` overrides them."""
    from detector.offline.simulate.variants import VARIANTS

    names = list(variants) if variants is not None else list(VARIANTS)
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; expected some of {', '.join(VARIANTS)}")
    splits = list(SPLITS) if split == "all" else [split]
    if any(s not in SPLITS for s in splits):
        raise ValueError(f"unknown split {split!r}; expected tuning, heldout or all")
    chosen = tuple(seeds) if seeds is not None else None
    return [Cell(s, v, w, seed) for s in splits for v in names for w in SPLITS[s][0]
            for seed in (chosen or SPLITS[s][1])]


def score_run(labels: dict[str, tuple[str, str]], times: dict[str, list[int]],
              alerts: list[dict[str, Any]], campaigns: set[str] | None = None) -> dict[str, Any]:
    """Score one replay. ``labels``: key -> (kind, campaign or persona); ``times``: key -> sorted
    request times (ms); ``campaigns``: report only these (default: every campaign present).
    Keys without requests are ignored."""
    out = key_outcomes(alerts)
    by_campaign: dict[str, list[str]] = {}
    by_persona: dict[str, list[str]] = {}
    for key, (kind, name) in sorted(labels.items()):
        if key in times:
            (by_campaign if kind == "attack" else by_persona).setdefault(name, []).append(key)
    camp: dict[str, Any] = {}
    for name, keys in by_campaign.items():
        if campaigns is not None and name not in campaigns:
            continue
        hit = [k for k in keys if k in out.detected_at]
        when = min((out.detected_at[k] for k in hit), default=None)
        merged = sorted(t for k in keys for t in times[k])
        camp[name] = {
            "keys": len(keys), "keys_named": len(hit), "share": round(len(hit) / len(keys), 4),
            "requests": len(merged), "detected": when is not None,
            "requests_to_detect": bisect.bisect_right(merged, when) if when is not None else None,
            "hours_to_detect": round((when - merged[0]) / _HOUR_MS, 2) if when is not None else None,
            "best_action": max((out.best.get(k, "none") for k in keys), key=ACTION_RANK.__getitem__),
        }
    personas = {}
    for name, keys in by_persona.items():
        best = Counter(out.best.get(k, "none") for k in keys)
        personas[name] = {"keys": len(keys), "observed": best["observe"],
                          "throttled": best["throttle"], "blocked": best["block"]}
    return {"campaigns": camp, "personas": personas}


def score_dir(sim_dir: Path, campaigns: set[str] | None = None) -> dict[str, Any]:
    """Replay a directory of labelled traffic with the current detector and score it."""
    started = time.perf_counter()
    result = replay_dir(sim_dir)
    _, times = key_timelines(sim_dir / "events.jsonl.gz")
    scored = score_run(Labels.load(sim_dir / "labels.jsonl").by_key, times, result.alerts, campaigns)
    events = result.counts.get("events", 0)
    scored.update(events=events, alerts=len(result.alerts), replay_seconds=round(result.seconds, 2),
                  events_per_second=round(events / result.seconds) if result.seconds else None,
                  seconds=round(time.perf_counter() - started, 2))
    return scored


def _fingerprint(paths: Iterable[Path]) -> str:
    h = xxhash.xxh3_64()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def simulator_fingerprint() -> str:
    """A hash of the simulator's source: part of every cache directory name."""
    return _fingerprint((Path(__file__).parent / "simulate").glob("*.py"))


def run_cell(cell: Cell, settings: Settings) -> dict[str, Any]:
    """Simulate (or reuse the cached simulation of) one cell, replay it and score it."""
    from detector.offline.simulate import VARIANTS, simulate

    sim_dir = settings.cache / (f"sim-{simulator_fingerprint()}-{cell.variant}-{cell.wording}-"
                                f"s{cell.seed}-h{settings.hours:g}-x{settings.scale:g}")
    started = time.perf_counter()
    concerns = VARIANTS[cell.variant].concerns
    if not (sim_dir / "manifest.json").exists():
        simulate(sim_dir, seed=cell.seed, scenario=concerns[0] if len(concerns) == 1 else "all",
                 hours=settings.hours, corpora=settings.corpora, scale=settings.scale,
                 variant=cell.variant, wording=cell.wording)
    simulated = time.perf_counter() - started
    scored = score_dir(sim_dir, set(concerns) if concerns else None)
    return {**asdict(cell), **scored, "simulate_seconds": round(simulated, 2)}


def run_independent(script: Path, settings: Settings) -> dict[str, Any]:
    """Generate ``independent_traffic.py``'s traffic (default seed; cached under a hash of the
    script) and score it like ``score_independent.py`` (actionable = throttle or block)."""
    out = settings.cache / f"independent-{_fingerprint([script])}"
    started = time.perf_counter()
    if not (out / "labels.jsonl").exists():
        subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    simulated = time.perf_counter() - started
    return {"split": INDEPENDENT, **score_dir(out), "simulate_seconds": round(simulated, 2)}


def run_matrix(todo: list[Cell], settings: Settings, independent: Path | None = None,
               progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Run ``todo`` (and the independent traffic, when its script is given) over ``settings.jobs``
    processes; results in the order of ``todo``, the independent one last."""
    settings.cache.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=settings.jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_cell, c, settings): i for i, c in enumerate(todo)}
        if independent is not None:
            futures[pool.submit(run_independent, independent, settings)] = len(todo)
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if progress is not None:
                r = results[i]
                progress(f"{r['split']} {r.get('variant', '')} {r.get('wording', '')} "
                         f"{r.get('seed', '')}: {r['events']} events in {r['seconds']} s")
    return [results[i] for i in sorted(results)]


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per split: per (campaign, variant) over runs, and per benign persona over runs."""
    out: dict[str, Any] = {}
    for r in results:
        split = out.setdefault(r["split"], {"campaigns": {}, "personas": {}, "runs": 0})
        split["runs"] += 1
        for name, c in r["campaigns"].items():
            row = split["campaigns"].setdefault(f"{name}|{r.get('variant', INDEPENDENT)}", {
                "campaign": name, "variant": r.get("variant", INDEPENDENT), "runs": 0,
                "detected_runs": 0, "keys": 0, "shares": [], "requests_to_detect": [],
                "hours_to_detect": [], "actions": Counter()})
            row["runs"] += 1
            row["detected_runs"] += c["detected"]
            row["keys"] = max(row["keys"], c["keys"])
            row["shares"].append(c["share"])
            row["actions"][c["best_action"]] += 1
            if c["detected"]:
                row["requests_to_detect"].append(c["requests_to_detect"])
                row["hours_to_detect"].append(c["hours_to_detect"])
        for name, p in r["personas"].items():
            row = split["personas"].setdefault(name, Counter())
            row.update(p)
    for split in out.values():
        for row in split["campaigns"].values():
            row["share"] = round(statistics.fmean(row.pop("shares")), 4)
            for f in ("requests_to_detect", "hours_to_detect"):
                row[f] = statistics.median(row[f]) if row[f] else None
            row["actions"] = dict(row["actions"])
        split["personas"] = {k: dict(v) for k, v in sorted(split["personas"].items())}
    return out


def baseline_of(summary: dict[str, Any], settings: Settings, todo: list[Cell]) -> dict[str, Any]:
    """The held-out figures a quality gate compares against, with the matrix that produced them."""
    held = summary["heldout"]
    return {
        "matrix": {"split": "heldout", "hours": settings.hours, "scale": settings.scale,
                   "seeds": sorted({c.seed for c in todo}),
                   "variants": sorted({c.variant for c in todo})},
        "campaigns": {k: {"detected_runs": v["detected_runs"], "runs": v["runs"], "keys": v["keys"],
                          "share": v["share"]} for k, v in sorted(held["campaigns"].items())},
        "benign_throttled": sum(p["throttled"] for p in held["personas"].values()),
        "benign_blocked": sum(p["blocked"] for p in held["personas"].values()),
    }


def regressions(current: dict[str, Any], baseline: dict[str, Any],
                share_drop: float = 0.1) -> list[str]:
    """Why ``current`` (a :func:`baseline_of`) is worse than ``baseline``; empty when it is not.

    Fails on: a campaign-variant detected in fewer runs than in the baseline (or missing), a
    multi-key campaign's named-key share down by more than ``share_drop``, more benign keys
    throttled than in the baseline, any benign key blocked."""
    problems = []
    for name, base in baseline["campaigns"].items():
        now = current["campaigns"].get(name)
        if now is None:
            problems.append(f"{name}: no longer in the matrix")
            continue
        if now["detected_runs"] < base["detected_runs"]:
            problems.append(f"{name}: detected in {now['detected_runs']} runs, baseline "
                            f"{base['detected_runs']}")
        if base["keys"] > 1 and now["share"] < base["share"] - share_drop:
            problems.append(f"{name}: keys named {now['share']:.0%}, baseline {base['share']:.0%}")
    if current["benign_throttled"] > baseline["benign_throttled"]:
        problems.append(f"benign keys throttled: {current['benign_throttled']}, baseline "
                        f"{baseline['benign_throttled']}")
    if current["benign_blocked"]:
        problems.append(f"benign keys blocked: {current['benign_blocked']}")
    return problems


def _campaign_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    req, hrs = row["requests_to_detect"], row["hours_to_detect"]
    detect = f"{req:,.0f} req, {hrs:.1f} h" if req is not None else "-"
    action = "/".join(sorted(row["actions"], key=ACTION_RANK.__getitem__, reverse=True))
    return (f"{row['detected_runs']}/{row['runs']} det | keys {row['share']:.0%} of {row['keys']} | "
            f"{detect} | {action}")


def _persona_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return ""
    return f"{row['keys']} keys | obs {row['observed']} | thr {row['throttled']} | blk {row['blocked']}"


def render_table(summary: dict[str, Any], settings: Settings, todo: list[Cell]) -> Any:
    """One Rich table: campaigns x variants, then benign personas, tuning | held-out | independent."""
    from rich.table import Table

    splits = [s for s in (*SPLITS, INDEPENDENT) if s in summary]
    seeds = {s: sorted({c.seed for c in todo if c.split == s}) for s in SPLITS}
    heads = {"tuning": f"TUNING ({'+'.join(SPLITS['tuning'][0])}, seeds {seeds['tuning']})",
             "heldout": f"HELD-OUT ({'+'.join(SPLITS['heldout'][0])}, seeds {seeds['heldout']})",
             INDEPENDENT: "INDEPENDENT (shared/eval, default seed)"}
    t = Table(title=f"evaluation matrix: {settings.hours:g} h, scale {settings.scale:g}; campaign: "
                    "runs detected (throttle/block naming its keys) | keys named | requests, hours "
                    "to detect (median) | best actions; benign: key-runs | at most observed | "
                    "throttled | blocked")
    for col in ("", "name", "variant", *(heads[s] for s in splits)):
        t.add_column(col)
    rows = sorted({(r["campaign"], r["variant"]) for s in splits
                   for r in summary[s]["campaigns"].values()}, key=lambda r: (r[1] == INDEPENDENT, r))
    for name, variant in rows:
        t.add_row("campaign", name, variant,
                  *(_campaign_cell(summary[s]["campaigns"].get(f"{name}|{variant}")) for s in splits))
    t.add_section()
    for name in sorted({p for s in splits for p in summary[s]["personas"]}):
        t.add_row("benign", name, "", *(_persona_cell(summary[s]["personas"].get(name)) for s in splits))
    return t
