"""The ``detector`` command: simulate, replay, eval, bench, and the live services.

Every subcommand is a thin shell over a library function, so what the CLI does is what the tests
exercise. Run ``detector --help`` for the list and ``detector COMMAND --help`` for options.
"""

from __future__ import annotations

import datetime as dt
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from detector.config import Config

if TYPE_CHECKING:
    from detector.profiles import AccountProfile
    from detector.record import Rejection

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  pretty_exceptions_show_locals=False,   # a traceback must never print a secret held in a local
                  help="Streaming model-extraction detector for LLM API gateway logs.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print figures and ratios.")
app.add_typer(bench_app, name="bench")
profiles_app = typer.Typer(no_args_is_help=True, help="Account profiles (the side input from the account system).")
app.add_typer(profiles_app, name="profiles")
console = Console(stderr=True, soft_wrap=True)   # messages never wrap: one line stays one line when piped

# Width of tables written to something other than a terminal (a pipe, a file): wide enough that a
# table takes its content's width and no cell is wrapped or cut.
_PIPED_TABLE_WIDTH = 10_000
_ALERTS_ON_TERMINAL = 40   # alert lines replay prints to a terminal; all of them when piped


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _print_table(table: Table, *, stderr: bool = True, terminal_width: int | None = None) -> None:
    """Print a Rich table: at the terminal's width (or ``terminal_width``) on a terminal, long cells
    folded rather than cut; as wide as its content when the stream is piped or a file."""
    stream = sys.stderr if stderr else sys.stdout
    for column in table.columns:
        column.overflow = "fold"
    width = terminal_width if _isatty(stream) else _PIPED_TABLE_WIDTH
    Console(stderr=stderr, width=width).print(table)


def _short_id(value: str, keep: int = 40) -> str:
    """An id for human eyes: unchanged up to ``keep`` characters, else its head and tail (``--json``
    always carries full ids)."""
    return value if len(value) <= keep else f"{value[:keep - 11]}…{value[-10:]}"


def _alert_line(a: dict) -> Text:  # type: ignore[type-arg]
    """One alert as one line: event time, action, severity, kind, subject, keys, score, top reason,
    short alert id. Ids are plain text (never Rich markup)."""
    r = a["reasons"][0]
    n = len(a["api_key_ids"])
    horizon = f' ({r["horizon"]})' if r.get("horizon") else ""
    return Text.assemble(
        f'{a["detected_at"]}  ', (f'{a["action"]:8}', "bold"),
        f' {a["severity"]:8} {a["kind"]:7} {_short_id(a["subject_id"])} ({n} key{"s" if n != 1 else ""})  '
        f'score {a["score"]:.2f}  {r["signal"]}={r["value"]:.3g}{horizon}  {a["alert_id"][:11]}')


def _print_alerts(alerts: list[dict], as_json: bool, out: Console,  # type: ignore[type-arg]
                  limit: int | None = None) -> None:
    """Alerts on ``out``: one JSON line each (full record) with ``as_json``, else one text line each
    that never wraps (``out`` must be a ``soft_wrap`` console); at most ``limit`` lines of text."""
    if as_json:
        for a in alerts:
            out.file.write(orjson.dumps(a).decode() + "\n")
        out.file.flush()
        return
    for a in alerts[:limit]:
        out.print(_alert_line(a))
    if limit is not None and len(alerts) > limit:
        console.print(f"... {len(alerts) - limit} more alerts (all of them: --json, --alerts-out, or pipe the output)")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True)


def _ts_ms(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise typer.BadParameter(f"timestamp {value!r} needs an offset or Z")
    return int(t.timestamp() * 1000)


def _config(allowlist: Path | None) -> Config:
    cfg = Config.from_env()
    if allowlist is not None:
        cfg = cfg.with_allowlist(orjson.loads(allowlist.read_bytes()).get("accounts", []))
    return cfg


def _load_profiles(path: Path) -> tuple[list[AccountProfile], list[Rejection]]:
    """Profiles of a JSONL file; rejected lines are reported by reason and line, never fatal."""
    from detector.profiles import load_profiles

    profiles, rejected = load_profiles(path)
    for r in rejected[:20]:
        console.print(f"[yellow]rejected profile[/] {r.reason}: {r.detail}")
    if len(rejected) > 20:
        console.print(f"[yellow]... {len(rejected) - 20} more rejected profiles[/]")
    console.print(f"{len(profiles)} account profiles from {path}")
    return profiles, rejected


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="output directory")],
    seed: Annotated[int, typer.Option(help="random seed (same seed, same bytes)")] = 1,
    scenario: Annotated[str, typer.Option(help="campaign name, 'benign' or 'all'")] = "all",
    hours: Annotated[float, typer.Option(help="hours of event time")] = 24.0,
    corpora: Annotated[Optional[Path], typer.Option(help="real prompt corpora (read in place)")] = None,
    scale: Annotated[float, typer.Option(help="multiplier for the number of benign keys")] = 1.0,
    variant: Annotated[str, typer.Option(help="robustness variant (detector.offline.simulate.variants)")] = "default",
    wording: Annotated[str, typer.Option(help="campaign wording: classic|tuning|heldout")] = "classic",
) -> None:
    """Write simulated gateway traffic (events.jsonl.gz), ground truth (labels.jsonl) and account
    profiles (accounts.jsonl)."""
    from detector.offline.simulate import simulate as run

    with _progress() as bar:
        task = bar.add_task("simulating", total=None)
        res = run(out, seed=seed, scenario=scenario, hours=hours, corpora=corpora, scale=scale,
                  variant=variant, wording=wording, progress=lambda n: bar.advance(task, n))
    console.print(f"wrote {res.events} events for {res.keys} keys to {out}")


@app.command()
def replay(
    inputs: Annotated[Optional[list[Path]], typer.Argument(help="JSONL files (.gz ok), in order")] = None,
    fmt: Annotated[str, typer.Option("--format", help="canonical|litellm|otel|kong")] = "canonical",
    alerts_out: Annotated[Optional[Path], typer.Option(help="write alerts as JSON lines here")] = None,
    report: Annotated[Optional[Path], typer.Option(help="write an HTML report with PNG plots here")] = None,
    key: Annotated[Optional[list[str]], typer.Option(help="only these api_key_ids (repeatable)")] = None,
    since: Annotated[Optional[str], typer.Option(help="RFC 3339 or epoch ms; inclusive")] = None,
    until: Annotated[Optional[str], typer.Option(help="RFC 3339 or epoch ms; exclusive")] = None,
    topic: Annotated[Optional[str], typer.Option(help="read this Kafka topic's time range instead of files")] = None,
    bootstrap: Annotated[Optional[str], typer.Option(envvar="DETECTOR_KAFKA_BOOTSTRAP")] = None,
    compare_live: Annotated[bool, typer.Option(help="diff against alerts on the live alerts topic")] = False,
    allowlist: Annotated[Optional[Path], typer.Option(help="allowlist.json of contract accounts")] = None,
    accounts: Annotated[Optional[Path], typer.Option(help="account profiles, JSONL (.gz ok)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="alerts as JSON lines on stdout (full records)")] = False,
) -> None:
    """Replay stored gateway logs through the detector; same input, same alerts.

    The summary table goes to stderr, the alerts to stdout: one line each (every alert when piped,
    the first 40 on a terminal), or one JSON object per line with --json."""
    from detector.offline.replay import alerts_jsonl, replay_files, replay_lines

    cfg = _config(allowlist)
    since_ms, until_ms = _ts_ms(since), _ts_ms(until)
    keys = set(key) if key else None
    profiles = _load_profiles(accounts)[0] if accounts else None
    with _progress() as bar:
        task = bar.add_task("replaying", total=None)
        common = dict(keys=keys, since_ms=since_ms, until_ms=until_ms, on_progress=lambda n: bar.advance(task, n),
                      profiles=profiles)
        if topic:
            from detector.offline.kafka_range import read_time_range

            if since_ms is None or until_ms is None:
                raise typer.BadParameter("--topic needs --since and --until")
            lines = read_time_range(_kafka(bootstrap), topic, since_ms, until_ms)
            result = replay_lines(lines, cfg, fmt, **common)
        else:
            if not inputs:
                raise typer.BadParameter("give input files or --topic")
            result = replay_files(list(inputs), cfg, fmt, **common)
    data = alerts_jsonl(result.alerts)
    if alerts_out:
        alerts_out.parent.mkdir(parents=True, exist_ok=True)
        alerts_out.write_bytes(data)
    _print_replay(result, as_json)
    if report:
        from detector.offline.report import write_report

        path = write_report(result, report, title="Replay report", command=shlex.join(sys.argv))
        console.print(f"report: {path}")
    if compare_live:
        from detector.offline.kafka_range import compare_with_live

        diff = compare_with_live(_kafka(bootstrap), result.alerts, since_ms, until_ms)
        console.print(diff.describe())
        if not diff.equal:
            raise typer.Exit(1)


def _print_replay(result, as_json: bool = False) -> None:  # type: ignore[no-untyped-def]
    t = Table(title="replay")
    t.add_column("figure")
    t.add_column("value", justify="right")
    rate = result.counts.get("events", 0) / result.seconds if result.seconds else 0.0
    for name, value in [
        ("events", result.counts.get("events", 0)),
        ("rejected", sum(result.rejections.values())),
        ("late (dropped)", result.counts.get("late", 0)),
        ("keys", result.keys_seen),
        ("epochs", result.counts.get("epochs", 0)),
        ("alerts", len(result.alerts)),
        ("seconds", f"{result.seconds:.2f}"),
        ("events/s", f"{rate:,.0f}"),
        ("state bytes per active key", f"{result.state_bytes_per_key:,.0f}"),
    ]:
        t.add_row(name, str(value))
    _print_table(t)
    out = Console(soft_wrap=True, highlight=False)
    limit = _ALERTS_ON_TERMINAL if _isatty(sys.stdout) else None
    _print_alerts(result.alerts, as_json, out, limit)


def _int_list(text: str | None) -> list[int] | None:
    return [int(x) for x in text.split(",") if x.strip()] if text else None


def _eval_matrix(split: str, variants: str | None, seeds: str | None, hours: float, scale: float,
                 corpora: Path, cache: Path, jobs: int, independent: bool, as_json: bool,
                 write_baseline: Path | None) -> None:
    """``detector eval --matrix``: run the matrix, print one table (or JSON), maybe a baseline."""
    from detector.offline import matrix

    todo = matrix.cells(split, variants.split(",") if variants else None, _int_list(seeds))
    settings = matrix.Settings(hours, scale, corpora if corpora.is_dir() else None, cache, jobs)
    script = corpora.parent / "eval" / "independent_traffic.py"
    started = dt.datetime.now(dt.timezone.utc)
    console.print(f"matrix: {len(todo)} runs{' + independent traffic' if independent else ''} on "
                  f"{jobs} processes; account profiles passed to replay")
    results = matrix.run_matrix(todo, settings, script if independent and script.exists() else None,
                                progress=lambda m: console.print(f"[dim]{m}[/]"))
    wall = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    summary = matrix.summarise(results)
    if write_baseline is not None:
        if "heldout" not in summary:
            raise typer.BadParameter("--write-baseline needs the held-out split")
        base = matrix.baseline_of(summary, settings, [c for c in todo if c.split == "heldout"])
        write_baseline.write_bytes(orjson.dumps(base, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                                   + b"\n")
        console.print(f"baseline: {write_baseline}")
    if as_json:
        out = {"settings": {"hours": hours, "scale": scale, "jobs": jobs, "split": split},
               "wall_seconds": round(wall, 1), "runs": results, "summary": summary}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_SORT_KEYS).decode() + "\n")
        return
    _print_table(matrix.render_table(summary, settings, todo), stderr=False, terminal_width=250)
    console.print(f"wall time {wall:.0f} s for {len(results)} runs")


@app.command(name="eval")
def eval_cmd(
    sim_dir: Annotated[Optional[Path], typer.Argument(help="directory written by `detector simulate`")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    baseline_rph: Annotated[int, typer.Option(help="static rate limit: requests per key per hour")] = 600,
    run_matrix: Annotated[bool, typer.Option("--matrix", help="run the variant x wording x seed matrix")] = False,
    split: Annotated[str, typer.Option(help="matrix split: tuning|heldout|all")] = "all",
    variants: Annotated[Optional[str], typer.Option(help="matrix variants, comma-separated")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="override the split's seeds, comma-separated")] = None,
    hours: Annotated[float, typer.Option(help="matrix: hours of traffic per run")] = 24.0,
    scale: Annotated[float, typer.Option(help="matrix: benign key multiplier")] = 0.1,
    corpora: Annotated[Path, typer.Option(help="matrix: prompt corpora")] = Path("../shared/corpora"),
    cache: Annotated[Path, typer.Option(help="matrix: where simulations are cached")] = Path("out/matrix"),
    jobs: Annotated[int, typer.Option(help="matrix: parallel processes")] = 2,
    independent: Annotated[bool, typer.Option(help="matrix: also score shared/eval's traffic")] = True,
    write_baseline: Annotated[Optional[Path], typer.Option(help="matrix: write the held-out baseline here")] = None,
) -> None:
    """Score detections against the labels, side by side with a static per-key rate limit; or
    (--matrix) run the robustness matrix: TUNING (classic+tuning wording, seeds 1,2) beside
    HELD-OUT (heldout wording, seeds 11,12) beside shared/eval's independent traffic."""
    from detector.offline.evaluate import evaluate

    if run_matrix:
        _eval_matrix(split, variants, seeds, hours, scale, corpora, cache, jobs, independent, as_json,
                     write_baseline)
        return
    if sim_dir is None:
        raise typer.BadParameter("give a simulation directory, or --matrix")
    res = evaluate(sim_dir, _config(None), baseline_rph=baseline_rph)
    if as_json:
        sys.stdout.write(orjson.dumps(res, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n")
        return
    det, base = res["detector"], res["baseline_static_rate_limit"]
    t = Table(title=f"campaigns ({res['events']} events, {res['alerts']} alerts)")
    for col in ("campaign", "keys", "detected", "keys named", "requests to detect", "hours to detect",
                "baseline detected", "baseline keys named"):
        t.add_column(col)
    for name, c in det["campaigns"].items():
        b = base["campaigns"][name]
        t.add_row(name, str(c["keys"]), "yes" if c["detected"] else "NO", f'{c["keys_named_share"]:.0%}',
                  str(c["requests_to_detect"]), str(c["hours_to_detect"]),
                  "yes" if b["detected"] else "no", f'{b["keys_named_share"]:.0%}')
    _print_table(t)
    s = Table(title="benign harm and precision")
    s.add_column("figure")
    s.add_column("detector", justify="right")
    s.add_column("static rate limit", justify="right")
    s.add_row("campaign recall", f'{det["campaign_recall"]:.0%}', f'{base["campaign_recall"]:.0%}')
    s.add_row("key precision", str(det["key_precision"]), str(base["key_precision"]))
    s.add_row("benign keys throttled/blocked", f'{det["benign_throttled_or_blocked"]} / {det["benign_keys"]}',
              f'{base["benign_throttled_or_blocked"]} / {base["benign_keys"]}')
    s.add_row("benign share throttled/blocked", f'{det["benign_throttled_or_blocked_share"]:.3%}',
              f'{base["benign_throttled_or_blocked_share"]:.3%}')
    s.add_row("benign blocked", str(det["benign_blocked"]), "-")
    s.add_row("benign flagged (any, incl. observe)", str(det["benign_flagged_any"]), "-")
    _print_table(s)
    if det["benign_flagged_personas"]:
        console.print(f"benign personas flagged: {det['benign_flagged_personas']}")


@bench_app.command(name="replay")
def bench_replay_cmd(
    events: Annotated[Optional[Path], typer.Option(help="events file; generated when omitted")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Replay events/s on one core, against a raw orjson parse of the same bytes."""
    from detector.offline.bench import bench_replay

    _print_figures("bench replay", bench_replay(events), as_json, "{:,.2f}")


@bench_app.command(name="linkage")
def bench_linkage_cmd(
    keys: Annotated[int, typer.Option(help="active keys in the linkage window")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Linkage time per rebuild and per key update at this many active keys, with a hidden hydra."""
    from detector.offline.bench import bench_linkage

    _print_figures("bench linkage", bench_linkage(keys), as_json, "{:,.3f}")


@bench_app.command(name="epoch")
def bench_epoch_cmd(
    keys: Annotated[int, typer.Option(help="active keys in every epoch")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """One scorer epoch (evidence, anomaly, linkage, decisions) at this many active keys, against the slide."""
    from detector.offline.bench import bench_epoch

    _print_figures("bench epoch", bench_epoch(keys), as_json, "{:,.3f}")


def _print_figures(title: str, res: dict, as_json: bool, float_fmt: str) -> None:  # type: ignore[type-arg]
    """A benchmark's result: one JSON object on stdout, or a two-column Rich table."""
    if as_json:
        sys.stdout.write(orjson.dumps(res).decode() + "\n")
        return
    t = Table(title=title)
    t.add_column("figure")
    t.add_column("value", justify="right")
    for k, v in res.items():
        t.add_row(k, float_fmt.format(v) if isinstance(v, float) else str(v))
    _print_table(t, stderr=False)


@bench_app.command(name="stream")
def bench_stream_cmd(
    records: Annotated[int, typer.Option(help="records of simulated traffic to push through")] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Live records/s of the Faust detector against a bare Faust agent, latency, Redis bytes per key."""
    from detector.offline.stream_bench import bench_stream

    err = Console(stderr=True)
    res = bench_stream(n_records=records, progress=lambda m: err.print(f"[dim]bench stream: {m}[/]"))
    _print_figures("bench stream", res, as_json, "{:,.3f}")


@bench_app.command(name="chaos")
def bench_chaos_cmd(
    events: Annotated[int, typer.Option(help="simulated events pushed through each run")] = 1_000_000,
    kills: Annotated[int, typer.Option(help="SIGKILLs of the worker process during the second run")] = 20,
    seed: Annotated[int, typer.Option(help="simulation seed (and kill jitter)")] = 7,
    events_file: Annotated[Optional[Path], typer.Option(help="use this JSONL file instead of simulating")] = None,
    work_dir: Annotated[Optional[Path], typer.Option(help="keep simulation, Faust data and worker logs here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Reliability: the live pipeline uninterrupted vs SIGKILLed K times; Redis state, alert ids and
    final decisions compared. Exits 1 when they differ."""
    from detector.offline.chaos import bench_chaos

    err = Console(stderr=True)
    res = bench_chaos(n_events=events, kills=kills, seed=seed, events_file=events_file, work_dir=work_dir,
                      progress=lambda m: err.print(f"[dim]bench chaos: {m}[/]"))
    _print_figures("bench chaos", res, as_json, "{:,.3f}")
    if not res["identical"]:
        raise typer.Exit(1)


@app.command()
def watch(
    bootstrap: Annotated[Optional[str], typer.Option(help="default: DETECTOR_KAFKA_BOOTSTRAP")] = None,
    topic: Annotated[Optional[str], typer.Option(help="full topic name; default: the prefixed alerts topic")] = None,
    idle: Annotated[float, typer.Option(help="stop after this many seconds without an alert (0: never)")] = 0.0,
    from_beginning: Annotated[bool, typer.Option(help="start at the earliest alert")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per alert (full records)")] = False,
) -> None:
    """Print alerts from the alerts topic (DETECTOR_TOPIC_PREFIX + DETECTOR_ALERTS_TOPIC) as they arrive,
    one line each at any terminal width (or one JSON object per line with --json)."""
    import time

    from streams import kafka_security

    settings = _kafka(bootstrap)
    kafka_security.check_topics(settings, [topic or settings.topic("alerts")])   # ACLs: say so, never wait silently
    consumer = kafka_security.consumer(settings, topic or settings.topic("alerts"), enable_auto_commit=False,
                                       auto_offset_reset="earliest" if from_beginning else "latest",
                                       consumer_timeout_ms=1000)
    out = Console(soft_wrap=True, highlight=False)
    last = time.monotonic()
    seen: set[str] = set()
    while not idle or time.monotonic() - last < idle:
        for msg in consumer:
            if msg.value is None:
                continue
            a = orjson.loads(msg.value)
            last = time.monotonic()
            if a["alert_id"] in seen:   # at-least-once delivery: dedupe by alert id
                continue
            seen.add(a["alert_id"])
            _print_alerts([a], as_json, out)
    consumer.close()


@app.command()
def calibrate(
    recordings: Annotated[list[Path], typer.Argument(help="simulation directories or events files (.jsonl[.gz])")],
    out: Annotated[Path, typer.Option(help="where to write the calibration JSON")],
    labels: Annotated[Optional[Path], typer.Option(help="labels.jsonl of a single events file")] = None,
    accounts: Annotated[Optional[Path], typer.Option(help="account profiles of a single events file")] = None,
    fmt: Annotated[str, typer.Option("--format", help="canonical|litellm|otel|kong")] = "canonical",
) -> None:
    """Derive rule floors from the recordings' benign population; load it with DETECTOR_CALIBRATION_FILE."""
    from detector.offline.calibrate import Recording, calibrate as run

    runs = [Recording.of(p) for p in recordings]
    if labels or accounts or fmt != "canonical":
        if len(runs) != 1 or recordings[0].is_dir():
            raise typer.BadParameter("--labels/--accounts/--format go with a single events file")
        runs = [Recording(recordings[0], labels, accounts, None, fmt)]
    cal = run(runs, Config.from_env())
    out.write_bytes(cal.to_json() + b"\n")
    console.print(f"calibration {cal.version} from {cal.source.get('subjects', 0)} keys -> {out}")
    for rule, floor in sorted(cal.floors.items()):
        console.print(f"  floor {rule:<22} {floor:.3f}")


def _refused_exits(run: Callable[[], object]) -> None:
    """Run a service; a Redis login/ACL refusal (or an unreachable Redis at start), or a metrics port
    another process holds, ends it with the reason on stderr (server, user, refusal; never the
    password) and exit code 2, no traceback."""
    from streams.metrics import MetricsPortInUse
    from streams.redis_conn import RedisAccessError

    try:
        run()
    except (RedisAccessError, MetricsPortInUse) as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        raise typer.Exit(2) from None


@app.command()
def worker() -> None:
    """Run a live detector worker (Faust): ingest, key windows and scorer agents."""
    from streams.settings import Settings
    from streams.worker import run_worker

    _refused_exits(lambda: run_worker(Settings.from_env()))


@app.command()
def notify() -> None:
    """Post alerts from the alerts topic to Slack (webhook from SLACK_WEBHOOK_URL[_FILE])."""
    import asyncio

    from detector.outputs.notifier import run_notifier
    from streams.settings import Settings

    _refused_exits(lambda: asyncio.run(run_notifier(Settings.from_env())))


@app.command()
def enforce() -> None:
    """Reference rate-limiter consumer: decisions topic -> Redis keys + GET /v1/decisions/{api_key_id}."""
    import asyncio

    from detector.outputs.enforcer import run_enforcer
    from streams.settings import Settings

    _refused_exits(lambda: asyncio.run(run_enforcer(Settings.from_env())))


@app.command()
def label(
    verdict: Annotated[str, typer.Option(help="confirmed|dismissed")],
    key: Annotated[Optional[str], typer.Option(help="api_key_id")] = None,
    cluster: Annotated[Optional[str], typer.Option(help="cluster id (xc_...)")] = None,
    note: Annotated[str, typer.Option(help="free text for the record (no prompt text)")] = "",
    ttl: Annotated[str, typer.Option(help="how long a dismissal holds: 30m, 12h, 7d")] = "7d",
    at: Annotated[Optional[str], typer.Option(help="effective time (RFC 3339); default now")] = None,
    bootstrap: Annotated[Optional[str], typer.Option(help="default: DETECTOR_KAFKA_BOOTSTRAP")] = None,
    topic: Annotated[Optional[str], typer.Option(help="full topic name; default: the prefixed labels topic")] = None,
) -> None:
    """Publish an analyst verdict on a key or cluster (to DETECTOR_TOPIC_PREFIX + DETECTOR_LABELS_TOPIC)."""
    from detector.feedback import VERDICTS, Label
    from streams import kafka_security
    from streams.settings import Settings

    if (key is None) == (cluster is None):
        raise typer.BadParameter("give exactly one of --key or --cluster")
    if verdict not in VERDICTS:
        raise typer.BadParameter(f"--verdict must be one of {', '.join(VERDICTS)}")
    units = {"m": 60, "h": 3600, "d": 86400}
    if not ttl[:-1].isdigit() or ttl[-1] not in units:
        raise typer.BadParameter("--ttl looks like 30m, 12h or 7d")
    when = _ts_ms(at) if at else int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    lb = Label("key" if key else "cluster", key or cluster or "", verdict, int(when or 0),
               int(ttl[:-1]) * units[ttl[-1]], note)
    settings = Settings.from_env()
    topic = topic or settings.topic("labels")
    producer = kafka_security.producer(_kafka(bootstrap))
    producer.send(topic, key=lb.subject.encode(), value=lb.to_json()).get(timeout=30)
    producer.close()
    console.print(f"published {verdict} for {lb.subject} to {topic}")


@profiles_app.command(name="publish")
def profiles_publish(
    path: Annotated[Path, typer.Argument(help="account profiles, JSONL (.gz ok)")],
) -> None:
    """Publish profiles to the compacted profiles topic (key = account_id); bad lines are not sent.

    Kafka and the topic come from DETECTOR_KAFKA_BOOTSTRAP, DETECTOR_TOPIC_PREFIX and
    DETECTOR_PROFILES_TOPIC, like the workers. Exits 1 when any line was rejected.
    """
    from detector.offline.feed import produce
    from streams.settings import Settings

    settings = Settings.from_env()
    topic = settings.topic("profiles")
    profiles, rejected = _load_profiles(path)
    sent = produce(settings, topic, [(p.to_json(), p.account_id.encode(), None) for p in profiles])
    console.print(f"published {sent} profiles to {topic}")
    if rejected:
        raise typer.Exit(1)


def _kafka(bootstrap: str | None):  # type: ignore[no-untyped-def]
    """The Kafka settings of a command: the environment's (``DETECTOR_KAFKA_*``: servers and
    security), with ``--bootstrap`` replacing only the servers."""
    from streams.settings import Settings

    return Settings.from_env(**({"kafka_bootstrap": bootstrap} if bootstrap else {}))


def main() -> None:
    """Console-script entry point. Kafka refusing the credentials or TLS setup (or no bootstrap
    server answering a secured connection) ends any command with one line on stderr naming what was
    refused, never the password, and exit code 2 (as a Redis refusal does), no traceback."""
    from streams.kafka_security import KafkaSecurityError, KafkaUnreachableError

    try:
        app()
    except (KafkaSecurityError, KafkaUnreachableError) as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
