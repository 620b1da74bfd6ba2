"""New input against repeated input: content-defined chunks, their sample, and what a window reads.

The prompts are real (GSM8K test problems, Self-Instruct seed tasks, read in place from the shared
corpora); the padding is the kind of few-shot header a harvester prepends to every request.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import orjson
import pytest

from detector import compiled
from detector.chunks import SAMPLE_RATE, SKETCH_K, chunk_hashes, distinct_share, input_chunks, sample
from detector.features import extract
from detector.record import Event, Message
from detector.shape import economics
from detector.summary import bucket_stats
from detector.partition import load_windows
from detector.windows import Bucket, KeyWindows, frame, unframe

CORPORA = Path(__file__).resolve().parents[3] / "shared" / "corpora"


def _questions(n: int) -> list[str]:
    with gzip.open(CORPORA / "gsm8k-test" / "gsm8k_test.jsonl.gz", "rb") as fh:
        return [orjson.loads(line)["text"] for line, _ in zip(fh, range(n))]


def _tasks() -> list[str]:
    out = []
    with gzip.open(CORPORA / "self-instruct" / "self_instruct_seed_tasks.jsonl.gz", "rb") as fh:
        for line in fh:
            rec = orjson.loads(line)
            out.append(f"{rec['instruction']}\n\n{rec['input']}\n\n{rec['output']}")
    return out


HEADER = "\n\n".join(_tasks()[:12])   # ~12 worked examples: a few-shot header of real text


def _window(system: str | None, users: list[str], out_tokens: int) -> dict[str, float]:
    b = Bucket()
    for i, user in enumerate(users):
        ev = Event(1_000 + i, "k", system=system, messages=(Message("user", user),),
                   input_tokens=len(((system or "") + user)) // 4, output_tokens=out_tokens)
        b.add(extract(ev), -1)
    return bucket_stats(b)


def test_a_shared_header_keeps_its_chunks_whatever_follows() -> None:
    q = _questions(2)
    a, b = chunk_hashes((HEADER + "\n\n" + q[0]).encode()), chunk_hashes((HEADER + "\n\n" + q[1]).encode())
    head = chunk_hashes(HEADER.encode())
    assert len(head) > 20
    assert len(set(a) & set(b)) >= len(head) - 2     # all but the chunk the header's end runs into
    assert chunk_hashes(b"Solve  this\n\tnow, please") == chunk_hashes(b"Solve this now, please")
    assert chunk_hashes(b"Solve this now, please") != chunk_hashes(b"solve this now, please")


def test_a_padded_harvest_reads_as_repeated_input_and_new_questions_as_new() -> None:
    questions = _questions(300)
    padded = _window(HEADER, questions, out_tokens=600)
    plain = _window(None, questions, out_tokens=600)
    tasks = _tasks()
    documents = _window(None, ["\n\n".join(tasks[i:i + 3]) for i in range(0, len(tasks) - 2, 3)], out_tokens=600)
    assert padded["new_input_share"] < 0.3
    assert plain["new_input_share"] > 0.7 and documents["new_input_share"] > 0.7
    # per input token the padded answers look short; per *new* input token they are what they are
    assert padded["out_in_ratio"] < 1.5 < 4.0 < padded["out_new_in_ratio"]
    assert economics(padded) > 0.4 and economics(dict(padded, out_new_in_ratio=padded["out_in_ratio"])) == 0.0


def test_one_request_says_little_so_it_reads_as_new() -> None:
    one = _window(HEADER, _questions(1), out_tokens=600)
    assert one["new_input_share"] > 0.15      # the prior: one new sampled chunk
    assert distinct_share(0, 0, False, 0.0) == 1.0
    assert distinct_share(100, 3, False, 3.0) == pytest.approx(4 * SAMPLE_RATE / (100 + SAMPLE_RATE))


def test_samples_are_bounded_and_merging_buckets_is_exact() -> None:
    long = " ".join(f"word{i}" for i in range(20_000))
    chunks, kept = sample([long.encode()])
    assert chunks > 1_000 and len(kept) == SKETCH_K and list(kept) == sorted(set(kept))
    questions = _questions(80)
    whole, halves = Bucket(), [Bucket(), Bucket()]
    for i, q in enumerate(questions):
        f = extract(Event(i, "k", system=HEADER, messages=(Message("user", q),)))
        whole.add(f, -1)
        halves[i % 2].add(f, -1)
    halves[0].merge(halves[1])
    assert halves[0].inputs == whole.inputs and halves[0].in_chunks == whole.in_chunks


def test_a_bucket_written_before_input_chunks_reads_as_none() -> None:
    b = Bucket()
    b.add(extract(Event(5, "k", messages=(Message("user", _questions(1)[0]),))), -1)
    old = frame(unframe(b.to_bytes())[:11])
    back = Bucket.from_bytes(old)
    assert back.in_chunks == 0 and len(back.inputs) == 0 and back.n == 1
    assert struct.unpack("<q", unframe(b.to_bytes())[11])[0] == b.in_chunks > 0


def test_window_state_with_a_bucket_cut_short_is_refused_by_both_loaders() -> None:
    kw = KeyWindows("k")
    kw.observe(extract(Event(5, "k", messages=(Message("user", _questions(1)[0]),))), 60_000)
    parts = unframe(kw.to_bytes())
    cut = frame([parts[0], frame(unframe(parts[1])[:12])])   # a bucket of 12 parts: neither old nor new
    with pytest.raises(ValueError, match="not a serialised Bucket"):
        KeyWindows.from_bytes(cut)
    with pytest.raises(ValueError, match="not a serialised Bucket"):
        load_windows(cut)


@pytest.mark.skipif(not compiled.built(), reason="needs the compiled extension (make install)")
def test_compiled_and_reference_give_the_same_chunks_for_a_request() -> None:
    ev = Event(0, "k", system=HEADER, messages=(Message("user", "Rate this \ud83d"), Message("assistant", "ok"),
                                                Message("user", _questions(1)[0])))
    native = input_chunks(ev)
    with compiled.python_reference():
        assert input_chunks(ev) == native


def test_a_long_history_is_read_from_its_newest_turns_within_the_cap() -> None:
    turns = [" ".join(f"step{t}-{w}" for w in range(700)) for t in range(60)]   # ~6 KB each, capped at 4 KB

    def history(first: str, last: str) -> Event:
        texts = [first, *turns[1:-1], last]
        return Event(0, "k", system="You are a coding agent.",
                     messages=tuple(Message("user" if i % 2 else "tool", t) for i, t in enumerate(texts)))

    base = input_chunks(history(turns[0], turns[-1]))
    assert base[0] < sample([t[:4096].encode() for t in turns])[0] / 3      # ~16 of 60 turns read
    assert input_chunks(history("an oldest turn edited", turns[-1])) == base   # past the cap: not read
    assert input_chunks(history(turns[0], "the newest turn edited " * 50)) != base
