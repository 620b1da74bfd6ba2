"""Prompt text for the simulation: real corpora read in place, or generated stand-ins.

Each *pool* is one corpus file under the ``corpora`` directory (``shared/corpora`` layout: one
folder per source with a ``PROVENANCE.md``). Files are read only when a persona first asks for the
pool, never copied. A pool whose file is absent (or ``corpora`` is ``None``) is filled by
:func:`.text_fallback.generate_rows` instead, and the manifest says so. The manifest lists, for
every pool used, the file with the attribution lines of its ``PROVENANCE.md`` (title, source
repository, commit, licence).
"""

from __future__ import annotations

import gzip
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .identity import derive_seed
from .text_fallback import Prose, Row, generate_rows

FALLBACK = "generated fallback text"

POOL_FILES: dict[str, str] = {
    "chat": "hh-rlhf-harmless-base/hh_rlhf_harmless_base_test_human_turns.jsonl.gz",
    "mtbench": "fastchat-mtbench-vicuna/mt_bench_questions.jsonl.gz",
    "vicuna": "fastchat-mtbench-vicuna/vicuna_bench_questions.jsonl.gz",
    "gsm8k": "gsm8k-test/gsm8k_test.jsonl.gz",
    "bbh": "big-bench-hard/bbh_task_inputs.jsonl.gz",
    "bbh_cot": "big-bench-hard/bbh_cot_fewshot_prompts.jsonl.gz",
    "humaneval": "humaneval/humaneval_prompts.jsonl.gz",
    "codegen": "gpteacher/gpteacher_codegen_instruct.jsonl.gz",
    "roleplay": "gpteacher/gpteacher_roleplay_instruct.jsonl.gz",
    "toolformer": "gpteacher/gpteacher_toolformer_sim06.jsonl.gz",
    "seed_tasks": "self-instruct/self_instruct_seed_tasks.jsonl.gz",
    "user_instructions": "self-instruct/self_instruct_user_oriented_instructions.jsonl.gz",
    "alpaca_prompt": "stanford-alpaca-prompt/alpaca_generate_instruction_prompt.jsonl.gz",
    "ni": "natural-instructions-sample/ni_instances.jsonl.gz",
    "forbidden": "jailbreak-llms/forbidden_question_set.jsonl.gz",
    "jailbreak": "jailbreak-llms/jailbreak_prompts_2023_05_07.jsonl.gz",
}

_ATTRIBUTION_LABELS = {
    "Source repository": "source_repository",
    "Upstream dataset": "upstream_dataset",
    "Repository the files were taken from (a verbatim third-party copy)": "copied_from",
    "Commit": "commit",
    "License": "license",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One prompt-text unit. ``answer``: reference solution / target / output; ``group``: task,
    entry point or category; ``instruction``/``input``: the two halves of an instruction row."""

    text: str
    turns: tuple[str, ...]
    answer: str = ""
    group: str = ""
    instruction: str = ""
    input: str = ""

    @property
    def final_answer(self) -> str:
        """The short final answer (the part after ``####`` in GSM8K solutions)."""
        return self.answer.rsplit("####", 1)[-1].strip()


def _item(row: Row) -> Item | None:
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    turns = row.get("turns")
    answer: Any = row.get("answer", row.get("target", row.get("output", "")))
    if isinstance(answer, list):
        answer = answer[0] if answer else ""
    return Item(
        text=text,
        turns=tuple(t for t in turns if isinstance(t, str) and t) if isinstance(turns, list)
        else (text,),
        answer=str(answer),
        group=str(row.get("task") or row.get("entry_point") or row.get("category") or ""),
        instruction=str(row.get("instruction") or row.get("definition") or ""),
        input=str(row.get("input") or "").strip(),
    )


def attribution(provenance: Path) -> dict[str, str]:
    """Title plus the source, commit and licence lines of a ``PROVENANCE.md``."""
    out: dict[str, str] = {}
    try:
        lines = provenance.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        if line.startswith("# ") and "title" not in out:
            out["title"] = line[2:].strip()
        for label, field in _ATTRIBUTION_LABELS.items():
            marker = f"- **{label}:**"
            if line.startswith(marker) and field not in out:
                out[field] = line[len(marker):].strip()
    return out


class TextBank:
    """Lazily loaded prompt pools plus a prose generator for model-written text."""

    def __init__(self, corpora: Path | None, seed: int) -> None:
        self._dir = corpora if corpora is not None and corpora.is_dir() else None
        self._seed = seed
        self._pools: dict[str, list[Item]] = {}
        self._sources: dict[str, dict[str, Any]] = {}
        self.prose = Prose(random.Random(derive_seed(seed, "prose")))

    def pool(self, name: str) -> list[Item]:
        items = self._pools.get(name)
        if items is None:
            items = self._load(name)
            self._pools[name] = items
        return items

    def pick(self, name: str, rng: random.Random) -> Item:
        items = self.pool(name)
        return items[int(rng.random() * len(items))]

    def sources(self) -> list[dict[str, Any]]:
        """Manifest entries for every pool used so far, sorted by pool name."""
        return [self._sources[name] for name in sorted(self._sources)]

    def _load(self, name: str) -> list[Item]:
        rel = POOL_FILES[name]
        if self._dir is not None:
            path = self._dir / rel
            items = _read_jsonl_gz(path)
            if items:
                entry: dict[str, Any] = {"pool": name, "file": rel, "rows": len(items)}
                entry.update(attribution(path.parent / "PROVENANCE.md"))
                self._sources[name] = entry
                return items
        rows = generate_rows(name, random.Random(derive_seed(self._seed, "fallback", name)))
        items = [it for it in map(_item, rows) if it is not None]
        self._sources[name] = {"pool": name, "file": None, "rows": len(items), "text": FALLBACK}
        return items


def _read_jsonl_gz(path: Path) -> list[Item]:
    """Rows of one corpus file; an unreadable or empty file yields ``[]`` (use the fallback)."""
    try:
        with gzip.open(path, "rb") as fh:
            rows = [orjson.loads(line) for line in fh if line.strip()]
    except (OSError, orjson.JSONDecodeError, EOFError):
        return []
    return [it for r in rows if isinstance(r, dict) and (it := _item(r)) is not None]
