"""How much of a request's input is new: content-defined chunks of its text, sampled by hash.

A harvester can pad every request with text it already sent -- a fixed few-shot header, examples
drawn again and again from a pool -- so that its answers look short *per input token*, the ratio
that spares translation, summarisation and retrieval. What it cannot do cheaply is make that
input new. This module cuts each text field of a request (system prompt and every message, each
capped as the analysis caps it) into content-defined chunks and hands the windows two numbers
per request: how many chunks it had, and the few chunk hashes that fall in a fixed sample of the
hash space (the *theta* sample). A window's KMV sketch of those samples estimates how many
distinct chunks the key sent (:func:`distinct_share`); their share of all chunks is the share of
its input that was new in that window.

Chunks are cut on words (runs of bytes between ASCII whitespace): a chunk ends after a word once
it holds :data:`MIN_WORDS` words and the word's hash ends in :data:`BOUNDARY_BITS` zero bits
(about one word in eight), or once it reaches :data:`MAX_CHUNK_BYTES`. Because the cut points
depend only on the words near them, a constant header gives the same chunks in every request
whatever follows it, and text that shares a passage with an earlier request shares that
passage's chunks. A chunk's hash is the seeded xxh3 of its words joined by single spaces, so a
change of spacing or line breaks does not make text new; a change of case or of one word does
(for that chunk only).

When it works: repeated headers, system prompts, shared examples and conversation history are
counted once per window; new documents, questions and passages count in full. When it fails:
text changed a little everywhere (a word swapped in every sentence) reads as new; a language
written without spaces is cut only at line breaks and at the size cap, so its chunks are coarse
and one changed character makes a whole chunk new. Assumes the windows read the samples with
:data:`SAMPLE_SHIFT` (one chunk in four is kept) and a KMV of :data:`SKETCH_K` hashes.

Cost: one regular-expression pass and one xxh3 per word, one per chunk; the compiled twin
(``ChunkKernel.input``) reads the request's fields itself, caps them and cuts them in one call
per request (about 4 µs for the mean request of a simulated day, 1.5 KB of text). At most
:data:`SKETCH_K` samples per request travel to the windows, so a long prompt costs the windows
what a short one does.

>>> header = " ".join(f"Example {i}: the answer is {i * 7}." for i in range(40))
>>> a = chunk_hashes((header + " Q: Who wrote Hamlet?").encode())
>>> b = chunk_hashes((header + " Q: What is the boiling point of ethanol at sea level?").encode())
>>> len(a), sum(x == y for x, y in zip(a, b))   # all but the chunks the question runs into
(41, 39)
>>> chunk_hashes(b"a  b\\n c d") == chunk_hashes(b"a b c d")
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from xxhash import xxh3_64_intdigest

from detector import compiled
from detector.record import Event
from detector.text import HEAD_CHARS, MAX_ANALYSED_CHARS, SEED, cap, utf8

MIN_WORDS = 4
"""Words a chunk holds before a word's hash can end it (no chunk of one or two common words)."""

BOUNDARY_BITS = 3
"""A word ends a chunk when the low bits of its hash are zero: one word in 2**3, on average."""

MAX_CHUNK_BYTES = 512
"""A chunk ends after the word that takes it to this many bytes (text without spaces)."""

SAMPLE_SHIFT = 62
"""A chunk is sampled when its hash is below ``2**SAMPLE_SHIFT``: one chunk in four."""

SAMPLE_RATE = 1 << (64 - SAMPLE_SHIFT)
"""One sampled chunk stands for this many."""

SKETCH_K = 16
"""Hashes in a window bucket's sketch of sampled chunks; a request sends at most its k smallest."""

MAX_INPUT_CHARS = 65_536
"""Characters of a request's (capped) text fields that are chunked: the system prompt, then the
turns from the newest back, while they fit. A long agent history costs no more than this."""

_WORD = re.compile(rb"[^ \t\n\r\x0b\x0c]+")
_BOUNDARY = (1 << BOUNDARY_BITS) - 1


def chunk_hashes(data: bytes) -> list[int]:
    """The hashes of the content-defined chunks of ``data``, in order.

    >>> chunk_hashes(b""), len(chunk_hashes(b"one two three"))
    ([], 1)
    """
    out: list[int] = []
    words: list[bytes] = []
    size = 0
    for m in _WORD.finditer(data):
        w = m.group()
        words.append(w)
        size += len(w) + 1
        if (len(words) >= MIN_WORDS and not xxh3_64_intdigest(w, SEED) & _BOUNDARY) or size >= MAX_CHUNK_BYTES:
            out.append(xxh3_64_intdigest(b" ".join(words), SEED))
            words, size = [], 0
    if words:
        out.append(xxh3_64_intdigest(b" ".join(words), SEED))
    return out


def sample(fields: Iterable[bytes]) -> tuple[int, tuple[int, ...]]:
    """``(chunks, samples)`` of the text fields ``fields``: the number of chunks and the
    :data:`SKETCH_K` smallest distinct sampled chunk hashes, ascending.

    >>> sample([b"one two three", b"one two three"])[0]
    2
    """
    chunks = 0
    kept: set[int] = set()
    limit = 1 << SAMPLE_SHIFT
    for data in fields:
        hashes = chunk_hashes(data)
        chunks += len(hashes)
        kept.update(h for h in hashes if h < limit)
    return chunks, tuple(sorted(kept)[:SKETCH_K])


KERNEL = compiled.kernel("ChunkKernel", MIN_WORDS, BOUNDARY_BITS, MAX_CHUNK_BYTES, SAMPLE_SHIFT, SKETCH_K, SEED,
                          MAX_INPUT_CHARS, MAX_ANALYSED_CHARS, HEAD_CHARS)
"""The compiled :func:`input_chunks` (``ChunkKernel.input``, with this module's constants and
:func:`detector.text.cap`'s), None when not built."""


def input_chunks(ev: Event) -> tuple[int, tuple[int, ...]]:
    """:func:`sample` of the request's system prompt and message texts (each capped as
    :func:`detector.text.cap` caps it; the newest turns first when they add up to more than
    :data:`MAX_INPUT_CHARS`): what :class:`~detector.features.EventFeatures` keeps as
    ``input_chunks`` and ``input_samples``.

    >>> from detector.record import Message
    >>> ev = Event(0, "k", system="Answer briefly and cite the source of every fact you give.",
    ...            messages=(Message("user", "Why is the sky blue?"), Message("assistant", None)))
    >>> input_chunks(ev)[0]
    2
    >>> long = Event(0, "k", messages=tuple(Message("user", f"turn {i} " * 500) for i in range(100)))
    >>> input_chunks(long)[0] < sample([cap(f"turn {i} " * 500).encode() for i in range(100)])[0]
    True
    """
    if KERNEL is not None and compiled.ON:
        return KERNEL.input(ev)  # type: ignore[no-any-return]
    texts = [cap(ev.system)] if ev.system else []
    room = MAX_INPUT_CHARS - (len(texts[0]) if texts else 0)
    turns: list[str] = []
    for m in reversed(ev.messages):
        if m.content:
            text = cap(m.content)
            if len(text) > room:
                break
            room -= len(text)
            turns.append(text)
    texts.extend(reversed(turns))
    return sample(utf8(t) for t in texts)


def distinct_share(chunks: int, kept: int, full: bool, estimate: float) -> float:
    """The share of a window's ``chunks`` that were distinct, from its sketch of sampled chunk
    hashes: ``kept`` hashes, ``full`` when it holds k of them (then ``estimate`` is its KMV
    estimate), else each kept hash stands for :data:`SAMPLE_RATE` chunks. One unseen sampled chunk
    is added to the count and, while the sketch is not full, to the distinct ones too, so a window
    of a few requests, whose sample says little, reads as new rather than as repeated. 1.0 for a
    window without text.

    >>> round(distinct_share(400, 5, False, 5.0), 3)   # 24 of 404: a header repeated 100 times
    0.059
    >>> distinct_share(0, 0, False, 0.0)
    1.0
    """
    if chunks <= 0:
        return 1.0
    distinct = estimate if full else (kept + 1) * SAMPLE_RATE
    return min(1.0, distinct / (chunks + SAMPLE_RATE))
