"""Text primitives for per-event features: normalisation, prompt skeletons, hashes, scripts.

Everything here turns attacker-controlled prompt text into short strings, 64-bit integers or small
enums, in time linear in the text and bounded by :data:`MAX_ANALYSED_CHARS`. Nothing keeps text
beyond the memo caches of skeleton-derived values (templates, not prompts).

* :func:`normalise` / :func:`fingerprint` -- casefolded, whitespace-collapsed text and its xxh3
  hash: prompts that differ only in case or spacing count as one prompt.
* :func:`skeleton` -- the prompt's *template*: numbers, quoted spans, code, URLs and the content
  words of the slots are masked, list items beyond the third are folded. Prompts stamped out of one
  template by a prompt factory share a skeleton although every slot filler is new.
* :func:`simhash` / :func:`hamming` -- a 64-bit SimHash of the skeleton's token bigrams; near-equal
  templates (a rotated instruction line, an added sentence) are a few bits apart.
* :func:`analyse` -- all of the above for one field in one pass, as :mod:`detector.features` uses it;
  the compiled kernel in ``detector/native`` (Rust) computes it when built, :func:`analyse_folded`
  is its Python reference, and property tests hold the two byte-identical.
* :func:`dominant_script`, :func:`ua_family`, :func:`ip_prefix` -- coarse, cheap categorical
  attributes for linkage and multilingual-sweep signals.

Cost model. CPython string primitives (``casefold``, ``bytes.translate``, ``split``, ``in``,
``replace``) run at C speed. Per-token Python work is one ``dict.get`` per whitespace token (via
``map``); the few regexes are anchored on rare bytes (backtick, quote, ``://``, ``@``) or run on the
short one-char-per-token code string, and are possessive or backtrack at most once per line, so
they are linear on any input. Values that depend only on the skeleton (readable form, fingerprint,
SimHash) are memoised, so a templated stream pays for them once per template.

Determinism. Hashes are xxh3-64 with the fixed seed :data:`SEED`; Python's ``hash()`` (salted per
process) is never used, so fingerprints agree across workers, restarts and replays.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from enum import IntEnum
from functools import lru_cache
from itertools import product, repeat
from typing import Any, NamedTuple

import xxhash

from detector import compiled

MAX_ANALYSED_CHARS = 4096
"""Characters of one field (system prompt, user turn) that are analysed; longer text keeps its
first 3072 and last 1023 characters joined by a newline, so a 1 MB prompt costs what 4 KB does."""

HEAD_CHARS = 3072
"""Characters :func:`cap` keeps from the start of a longer field (the rest from its end)."""
_TAIL_CHARS = MAX_ANALYSED_CHARS - HEAD_CHARS - 1

SEED = 0x5EED_0F_D15C_0DE5
"""xxh3-64 seed shared by every fingerprint; changing it changes every stored fingerprint."""

_xxh = xxhash.xxh3_64_intdigest
# Lone surrogates (possible in Python strings, invalid in UTF-8) pass through as their 3-byte form.
_UTF8, _LONE = "utf-8", "surrogatepass"


def cap(text: str) -> str:
    """The analysed part of ``text``: all of it up to :data:`MAX_ANALYSED_CHARS`, else head + tail.

    >>> len(cap("x" * 10_000)), cap("short")
    (4096, 'short')
    """
    if len(text) <= MAX_ANALYSED_CHARS:
        return text
    return text[:HEAD_CHARS] + "\n" + text[-_TAIL_CHARS:]


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, a lone surrogate (possible in a Python string, invalid in UTF-8) as its
    3-byte form, as every hash here reads it.

    >>> utf8("é"), utf8("\\ud800")
    (b'\\xc3\\xa9', b'\\xed\\xa0\\x80')
    """
    return text.encode(_UTF8, _LONE)


def hash_str(value: str) -> int:
    """xxh3-64 (seed :data:`SEED`) of ``value`` exactly as given (identifiers, not prompt text).

    >>> hash_str("user-42") == hash_str("user-42") != hash_str("User-42")
    True
    """
    return _xxh(value.encode(_UTF8, _LONE), SEED)


# --------------------------------------------------------------------------------------------
# normalisation

# Every character str.split() treats as whitespace: the ASCII ones by table, the others by regex.
_WS_TABLE = bytes.maketrans(b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f", b" " * 9)
_UNICODE_WS_RE = re.compile(
    rb"\xc2[\x85\xa0]|\xe1\x9a\x80|\xe2\x80[\x80-\x8a\xa8\xa9\xaf]|\xe2\x81\x9f|\xe3\x80\x80"
)


def _normalise_bytes(raw: bytes) -> bytes:
    """UTF-8 of ``" ".join(text.split())`` given ``raw`` = UTF-8 of ``text`` (C-speed passes)."""
    b = raw.translate(_WS_TABLE)
    if not b.isascii():
        b = _UNICODE_WS_RE.sub(b" ", b)
    while b"  " in b:
        b = b.replace(b"  ", b" ")
    return b.strip(b" ")


def normalise(text: str) -> str:
    """Casefolded text with every whitespace run collapsed to one space, stripped and capped.

    Used for exact-duplicate counting (:func:`fingerprint`) and as the input of the phrase
    signals in :mod:`detector.signals`. Punctuation and digits are untouched, so it is robust only
    to case and spacing; :func:`skeleton` is the tolerant form.

    Cost: one ``casefold`` and a few C-speed byte passes over at most
    :data:`MAX_ANALYSED_CHARS` characters; no per-word objects.

    >>> normalise("  Solve:\\n\\tJanet has   16 EGGS. ")
    'solve: janet has 16 eggs.'
    """
    return _normalise_bytes(cap(text).casefold().encode(_UTF8, _LONE)).decode(_UTF8, _LONE)


def fingerprint(text: str) -> int:
    """xxh3-64 (seed :data:`SEED`) of :func:`normalise` (``text``): equal for case/space variants.

    >>> fingerprint("Hello  World") == fingerprint("hello world\\n")
    True
    >>> fingerprint("hello world") == fingerprint("hello, world")
    False
    """
    folded = cap(text).casefold()
    if KERNEL is not None and compiled.ON and (fp := KERNEL.fingerprint(folded)) is not None:
        return fp
    return _xxh(_normalise_bytes(folded.encode(_UTF8, _LONE)), SEED)


# --------------------------------------------------------------------------------------------
# skeleton vocabulary and token codes

KEEP_WORDS: tuple[str, ...] = tuple("""
a an the this that these those some any each every all both either neither no none other another
such what which who whom whose whatever whichever
i me my mine myself you your yours yourself we us our ours he him his she her hers it its itself
they them their theirs one someone something anything everything nothing anyone everyone
of in on at by for with about against between into through during before after above below to
from up down over under again off out around across along among per via within without upon onto
toward towards than like as
and or but nor so yet if then else because while although though whether unless until since when
where why how
is are was were be been being am have has had having do does did doing done can could will would
shall should may might must need needs
don't doesn't didn't isn't aren't wasn't weren't can't cannot couldn't won't wouldn't shouldn't
i'm i've i'd i'll you're you've you'll it's that's what's let's there's here's
not only very too also just more most less least much many few several own same here there now
once always never often still even ever already really quite rather
write rewrite explain describe answer answers question questions following follows below above
given provide give generate create make list summarize summarise translate classify identify
solve calculate compute find determine choose select pick rank rate rating score scores scale
evaluate grade grader judge compare analyze analyse think thinking reason reasoning rationale step
steps show justify justification derive thought chain response responses text sentence sentences
paragraph passage article word words example examples task tasks instruction instructions context
option options choice choices correct incorrect final true false yes format json code function
program user assistant system human model please briefly detailed concise simple using use based
first second third last next previous new best better value number result label category title
summary topic language english point points way help tell know want okay ok sure thanks thank
hello hi dear note output input solution problem read consider assume imagine act pretend role
q b c d e
behind leads lead backwards reconstruct aloud loud rubric verdict assess reward diverse requirements
prompts neutral safe safer censorship politically rephrase reword paraphrase reformulate restate
sensitive uncontroversial apolitical step-by-step chain-of-thought censorship-safe backward evaluator
explanation derivation
paso étape schritt passo
""".split())
"""Function and instruction words that survive in a skeleton; every other word is a slot filler.

English function words (articles, pronouns, prepositions, auxiliaries, conjunctions), the words
prompt templates are built from (``write``, ``answer``, ``following``, ``step`` ...), option labels,
and the anchor words :mod:`detector.signals` gates its phrase regexes on. Changing this list
changes every skeleton."""

# Placeholder codes (private-use code points: no collision with keep-word or punctuation codes).
_W, _N, _Q, _C, _U, _NL, _MORE = "\ue000", "\ue001", "\ue002", "\ue003", "\ue004", "\ue005", "\ue006"
_START = "\ue0ff"  # SimHash start-of-field token
CONTENT_TOKEN, NUMBER_TOKEN, CODE_TOKEN = _W, _N, _C
"""Codes in :attr:`Analysis.tokens` of a content word, a number and a code span, for the modules
that read token strings (:mod:`detector.signals`, :mod:`detector.domains`)."""
_KEEP_BASE = 0xE100  # keep word i has code chr(_KEEP_BASE + i)

# Marker tokens written into the byte stream (control bytes are blanked before they are written).
_M_CODE, _M_URL, _M_QUOTE, _M_NL = b" \x01 ", b" \x02 ", b" \x03 ", b" \x04 "

_PUNCT = ".,:;?!()[]{}<>\"'`-*#/\\|=+&%$@~^_"
_PUNCT_ALIASES = {"—": "-", "–": "-", "•": "-", "·": "-", "▪": "-", "◦": "-", "→": ">", "…": "."}
# Affixes glued to a keep word or number that still name a known token ("(a)", "**answer:**",
# "$0.00", "0)"). Digits all read as "0"; sentence and label punctuation before a space is split
# off beforehand, so "answer." and "0." never need an entry.
_AFFIXES = (("", ""), ("", ","), ("", ")"), ("(", ")"), ("(", ""), ("", "),"), ("**", "**"), ("**", ":**"),
            ("*", "*"), ('"', '"'), ('"', ""), ("", '"'))
_NUM_PREFIXES = ("", "$", "(", "#", "€", "£")
_NUM_ENDS = ("", ",", ")", "),", ")%", "%", "%,", "%)")
_NUM_UNITS = ("th", "st", "nd", "rd", "s", "k", "m", "h", "x", "am", "pm")  # after integers


def _number_cores() -> list[str]:
    """Digit-run shapes of common numbers: integers, decimals, thousands, times, ratios, dates."""
    z = ["0" * k for k in range(1, 7)]
    return (z
            + [f"{a}.{b}" for a in z[:4] for b in z[:3]]
            + [f"{a},000{b}" for a in z[:3] for b in ("", ",000", ".00")]
            + [f"{a}:00{b}" for a in z[:2] for b in ("", ":00")]
            + [f"{a}{sep}{b}" for a in z[:4] for b in z[:4] for sep in "/-"]
            + ["0000-00-00", "00/00/0000", "0/0/0000", "00-00-0000"])


def _punct_code(p: str) -> str:
    return "".join(_PUNCT_ALIASES.get(ch, ch) for ch in p)


def _build_codes() -> tuple[dict[str, str], dict[str, str]]:
    """(whitespace token -> code string, code char -> readable token)."""
    codes: dict[str, str] = {}
    readable = {_W: "<w>", _N: "<n>", _Q: "<q>", _C: "<code>", _U: "<url>", _NL: "<nl>",
                _MORE: "<more>", _START: "<s>"}
    for i, word in enumerate(dict.fromkeys(KEEP_WORDS)):
        c = chr(_KEEP_BASE + i)
        readable[c] = word
        for form, (pre, suf) in product(dict.fromkeys((word, word.replace("'", "\u2019"))), _AFFIXES):
            codes.setdefault(pre + form + suf, _punct_code(pre) + c + _punct_code(suf))
    for p in list(_PUNCT) + list(_PUNCT_ALIASES):
        for k in (1, 2, 3, 4):
            codes.setdefault(p * k, _punct_code(p))
    cores = _number_cores() + ["0" * k + unit for k in range(1, 5) for unit in _NUM_UNITS]
    for pre, core, end in product(_NUM_PREFIXES, cores, _NUM_ENDS):
        codes.setdefault(pre + core + end, _N + _punct_code(end.replace("%", "")))
    for marker, code in ((_M_CODE, _C), (_M_URL, _U), (_M_QUOTE, _Q), (_M_NL, _NL)):
        codes[marker.strip().decode()] = code
    for code in list(readable):
        codes[readable[code]] = code  # a skeleton re-reads as itself
    for code in codes.values():
        for ch in code:
            readable.setdefault(ch, ch)
    return codes, readable


_CODES, _READABLE_OF = _build_codes()
_CODE_GET = _CODES.get
_KEEP_CODE_RE = re.compile(f"[{chr(_KEEP_BASE)}-{chr(_KEEP_BASE + len(KEEP_WORDS))}]")

# digits -> '0'; control bytes and ASCII whitespace other than '\n' -> ' '
_BYTE_TABLE = bytes.maketrans(
    b"0123456789" + bytes(range(0, 10)) + bytes(range(11, 32)) + b"\x7f",
    b"0" * 10 + b" " * 32,
)
_CODE_RE = re.compile(rb"```.*?(?:```|\Z)|`[^`\n]{1,200}+`", re.S)
_URL_RE = re.compile(rb"[a-z][a-z0-9+.-]{1,15}+://[^\s<>\"'`]++")
_EMAIL_RE = re.compile(rb"(?<![\w.+-])[\w.+-]{1,64}+@[\w.-]{1,253}+")
_QUOTE_RE = re.compile(
    rb'"[^"\n]{1,400}+"'
    rb"|'(?<![^\s(\[:]')[^'\n]{1,200}+'(?![^\s.,;:!?)\]])"  # 'x' after a space, not an apostrophe
    rb"|\xe2\x80\x9c[^\n]{1,400}?\xe2\x80\x9d"  # “ ”
    rb"|\xe2\x80\x98[^\n]{1,200}?\xe2\x80\x99(?![a-z])"  # ‘ ’
    rb"|\xc2\xab[^\n]{1,400}?\xc2\xbb"  # « »
    rb"|\xe3\x80\x8c[^\n]{1,400}?\xe3\x80\x8d"  # 「 」
)
_OPEN_QUOTES = (b"\xe2\x80\x9c", b"\xe2\x80\x98", b"\xc2\xab", b"\xe3\x80\x8c")  # “ ‘ « 「
# every ASCII byte except the ones that gate an optional pass (non-ASCII bytes are kept)
_GATE_DELETE = bytes(c for c in range(128) if c not in b"`@:/\"'\n!")


def _tokens(raw: bytes) -> str:
    """Token codes of casefolded UTF-8 text: one code per keep word, punctuation mark, number,
    quote, code span, URL or line break, and ``_W`` for every other word."""
    b = raw.translate(_BYTE_TABLE) + b" "
    gate = b.translate(None, _GATE_DELETE)  # the few bytes that decide which passes to run
    if gate:
        if b"`" in gate:
            b = _CODE_RE.sub(_M_CODE, b)
        if b":/" in gate:
            b = _URL_RE.sub(_M_URL, b)
        if b"@" in gate:
            b = _EMAIL_RE.sub(_M_URL, b)
        # quotes: skipped for the usual apostrophes-only text
        if (b'"' in gate or (b"'" in gate and (b" '" in b or b[:1] == b"'"))
                or (not gate.isascii() and any(q in b for q in _OPEN_QUOTES))):
            b = _QUOTE_RE.sub(_M_QUOTE, b)
        if b"\n" in gate:
            b = b.replace(b"\n", _M_NL)
        if b"!" in gate:
            b = b.replace(b"! ", b" ! ")
        if b":" in gate:  # label colons too ("question: ...")
            b = b.replace(b": ", b" : ")
    # sentence punctuation ending a word is split off, so slots keep their sentence ends
    b = b.replace(b". ", b" . ").replace(b"? ", b" ? ")
    return "".join(map(_CODE_GET, b.decode("utf-8", "replace").split(), repeat(_W)))


# --------------------------------------------------------------------------------------------
# skeleton

_LONG_SLOT_TOKENS = 12
"""A slot spanning at least this many tokens is free text: it also absorbs the tokens before it
back to the line start or a colon, and after it to the end of its sentence."""
_SEG = f"[^{_NL}:]"  # any token inside one line/colon segment
_BULLET = f"(?:{_N}[.)]|[-*+])"  # list-item marker at a line start
# A long slot starts right after a boundary (line start or colon; after a line's bullet, which
# stays), swallows the template-free tokens before its first content word and those after its
# last one up to the sentence end. The lookbehinds keep the replacement a literal (a group
# reference in a replacement costs a Python call per match).
_AFTER_BOUNDARY = f"(?:(?<=:)|(?<={_NL})(?!{_BULLET})|(?<={_NL}[-*+])|(?<={_NL}{_N}[.)]))"
_LONG = (f"{_AFTER_BOUNDARY}[^{_W}{_NL}:]*+{_W}{_SEG}{{{_LONG_SLOT_TOKENS - 2},}}{_W}"
         f"[^{_NL}:.?!]*+[.?!]?+")
_SHORT = f"{_W}{_SEG}*{_W}"
_LONG_RE = re.compile(_LONG)
_SHORT_RE = re.compile(_SHORT)
_ITEM = f"{_BULLET}[^{_NL}]*+{_NL}"
_LIST_RE = re.compile(f"{_NL}((?:{_ITEM}){{3}})(?:{_ITEM})++")


def _slots(tokens: str) -> str:
    """Skeleton codes from token codes: merge slots, fold long lists, squeeze blank lines.

    The slot regexes backtrack only from a segment's end to its last ``_W`` (linear). If folding
    the long slots leaves no template word, the first long slot (the opening instruction) is kept;
    if that leaves none either (a single stretch of free text), no long slot is folded."""
    s = _NL + tokens + _NL
    out, n = _LONG_RE.subn(_W, s)
    if n and not _KEEP_CODE_RE.search(out):
        out = s
        if n > 1:
            end = _LONG_RE.search(s).end()  # type: ignore[union-attr]  # n > 1 matches exist
            kept = s[:end] + _LONG_RE.sub(_W, s[end:])
            if _KEEP_CODE_RE.search(_SHORT_RE.sub(_W, kept)):
                out = kept
    out = _SHORT_RE.sub(_W, out)
    if _NL in tokens:
        while _NL + _NL in out:
            out = out.replace(_NL + _NL, _NL)
        if out.count(_NL) > 5:  # at least four lines: maybe a list to fold
            out = _LIST_RE.sub(rf"{_NL}\1{_MORE}{_NL}", out)
    return out.strip(_NL)


class Analysis(NamedTuple):
    """One field (system prompt or user turn) analysed once: see :func:`analyse`.

    ``tokens`` and ``codes`` are opaque one-char-per-token strings: the token codes before slot
    merging (what :func:`keep_word_codes` names) and the skeleton codes."""

    norm: str
    norm_bytes: bytes
    tokens: str
    codes: str


def analyse_folded(folded: str) -> Analysis:
    """The Python reference of :func:`analyse` on capped, casefolded text.

    The compiled kernel (:mod:`detector_native`) computes the same four fields; property tests
    hold the two equal byte for byte, and this one runs wherever the kernel cannot (a lone
    surrogate, or the extension not built).

    >>> analyse_folded("rate this reply: 'ok'").codes == analyse("Rate this reply: 'OK'").codes
    True
    """
    raw = folded.encode(_UTF8, _LONE)
    nb = _normalise_bytes(raw)
    tokens = _tokens(raw)
    return Analysis(nb.decode(_UTF8, _LONE), nb, tokens, _slots(tokens))


def analyse(text: str) -> Analysis:
    """Normalised text and skeleton of one field, sharing the casefold and encode passes.

    ``analyse(t).norm == normalise(t)`` and ``skeleton_of(analyse(t)) == skeleton(t)``. Runs the
    compiled kernel when it is built (about three times faster), else :func:`analyse_folded`.

    >>> a = analyse("Question: Who wrote Hamlet?\\nAnswer briefly.")
    >>> a.norm, skeleton_of(a)
    ('question: who wrote hamlet? answer briefly.', 'question : who <w> ? <nl> answer briefly .')
    """
    folded = cap(text).casefold()
    if KERNEL is not None and compiled.ON and (fields := KERNEL.analyse(folded)) is not None:
        return Analysis(*fields)
    return analyse_folded(folded)


# Memo caches hold skeleton codes (templates, no slot text). Only short skeletons go into the big
# caches, so adversarial 4K-token skeletons cannot grow them: worst case ~60 MB in all (the
# 1024-entry SimHash counter cache takes any length), typically a few MB.
_MEMO_SIZE = 1 << 13
_MEMO_MAX_CODES = 256


def _readable_raw(codes: str) -> str:
    return " ".join(map(_READABLE_OF.__getitem__, codes))


_readable_memo = lru_cache(maxsize=_MEMO_SIZE)(_readable_raw)


def _readable(codes: str) -> str:
    return _readable_memo(codes) if len(codes) <= _MEMO_MAX_CODES else _readable_raw(codes)


def skeleton_of(a: Analysis) -> str:
    """The readable skeleton of an :class:`Analysis` (memoised per distinct skeleton).

    >>> skeleton_of(analyse("Translate 'hello' into Italian, please."))
    'translate <q> into <w> please .'
    """
    return _readable(a.codes)


READABLE_FOLDED = all(token.casefold() == token for token in _READABLE_OF.values())
"""The compiled kernels fingerprint readable skeletons without casefolding them: true of this vocabulary."""


def _codes_fp_raw(codes: str) -> int:
    if KERNEL is not None and compiled.ON and READABLE_FOLDED and (fp := KERNEL.skeleton_fp(codes)) is not None:
        return fp
    return fingerprint(_readable_raw(codes))


_codes_fp_memo = lru_cache(maxsize=_MEMO_SIZE)(_codes_fp_raw)


def skeleton_fp(a: Analysis) -> int:
    """``fingerprint(skeleton_of(a))``, memoised per distinct skeleton.

    >>> skeleton_fp(analyse("Rate this reply: 'ok'")) == skeleton_fp(analyse("Rate this reply: 'fine'"))
    True
    """
    c = a.codes
    return _codes_fp_memo(c) if len(c) <= _MEMO_MAX_CODES else _codes_fp_raw(c)


def joined_fingerprint(*parts: Analysis) -> int:
    """``fingerprint("\\n".join(texts))`` of the analysed texts, each capped on its own: xxh3 of
    the non-empty normalised parts joined by one space.

    >>> joined_fingerprint(analyse("Be brief."), analyse("Hi  there")) == fingerprint("be brief.\\nHI there")
    True
    """
    return _xxh(b" ".join([a.norm_bytes for a in parts if a.norm_bytes]), SEED)


def skeleton(text: str) -> str:
    """The prompt's template: slot fillers masked, template words kept, casefolded.

    Masks: numbers -> ``<n>``; quoted spans ("...", “...”, «...», '...' after a space) -> ``<q>``;
    fenced or inline code -> ``<code>``; URLs and e-mail addresses -> ``<url>``; every word not in
    :data:`KEEP_WORDS` is a content word, and the stretch from the first to the last content word
    of a line (or of a colon-separated part of it) becomes one slot ``<w>``. A slot that spans at
    least 12 tokens is free text: it also swallows the template words before it back to the line
    start or colon and after it to the end of its sentence -- unless that would leave no template
    word at all, so free chat keeps its function-word frame ("how do i <w> ?"). Line breaks become
    ``<nl>``, blank lines are squeezed, list lines (``1.``, ``2)``, ``-``, ``*``) after the third
    in a run become one ``<more>``.

    When it works: prompt factories (eval harnesses, batch jobs, distillation pipelines) put new
    content into fixed instruction text; the instruction text survives, the content collapses. On
    500 GSM8K questions put into one "Question: ...\\nAnswer step by step" template, 98% share one
    skeleton; 500 hh-rlhf opening turns give ~320 distinct skeletons.
    When it fails: short free chat reduces to common frames ("how can i <w> ?"), so unrelated users
    share skeletons; instruction text made of content words ("write a haiku about {x}") merges
    into the slot; and a template whose slot is a short question leaks the question's function
    words. Treat skeleton repetition as evidence together with volume and the other signals.

    Cost: one ``bytes.translate``, a ``split`` and one dict lookup per token over at most
    :data:`MAX_ANALYSED_CHARS` characters; the regexes are linear (see module notes).

    >>> t = "Question: {}\\nAnswer step by step and give the final answer."
    >>> skeleton(t.format("Janet's ducks lay 16 eggs per day. She eats three for breakfast "
    ...                   "and bakes muffins with four. How much does she make every day?"))
    'question : <w> <nl> answer step by step and give the final answer .'
    >>> skeleton(t.format("A robe takes 2 bolts of blue fiber and half that much white fiber. "
    ...                   "How many bolts in total does it take?"))
    'question : <w> <nl> answer step by step and give the final answer .'
    >>> skeleton("How do I open a lock?"), skeleton("What is the capital of Peru?")
    ('how do i <w> ?', 'what is the <w> ?')
    >>> skeleton('Translate "good morning" into French:\\n- red\\n- blue\\n- green\\n- pink\\n- grey')
    'translate <q> into <w> : <nl> - <w> <nl> - <w> <nl> - <w> <nl> <more>'
    """
    return _readable(_slots(_tokens(cap(text).casefold().encode(_UTF8, _LONE))))


def content_tokens(tokens: str) -> int:
    """How many tokens of :attr:`Analysis.tokens` are content words (not keep words, not marks).

    >>> content_tokens(analyse("Please summarise this quarterly report").tokens)
    2
    """
    return tokens.count(_W)


def keep_word_codes(words: Iterable[str]) -> frozenset[str]:
    """The codes of keep words as they appear in :attr:`Analysis.tokens` (one char per token).

    Lets :mod:`detector.signals` test for words with a charset regex over the short token string
    instead of scanning the text. Raises ``KeyError`` for a word that is not in :data:`KEEP_WORDS`.

    >>> codes = keep_word_codes(["step", "rubric"])
    >>> any(c in codes for c in analyse("Think step by step").tokens)
    True
    """
    return frozenset(_CODES[w] for w in words)


# --------------------------------------------------------------------------------------------
# SimHash

_FIELD_BITS = 16  # 64 counters of 16 bits packed into one int: one big-int add per bigram
_FIELD_SPREAD = sum(1 << (_FIELD_BITS * i) for i in range(64))
_TOP_BIT_TABLE = bytes.maketrans(bytes(range(256)), b"0" * 128 + b"1" * 128)


class _BigramCounters(dict[str, int]):
    """Code-char pair -> its xxh3 bits spread one per 16-bit counter field (memoised; the code
    alphabet is fixed, so this stays bounded)."""

    def __missing__(self, pair: str) -> int:
        h = _xxh(f"{_READABLE_OF[pair[0]]} {_READABLE_OF[pair[1]]}".encode(), SEED)
        spread = sum(1 << (_FIELD_BITS * i) for i in range(64) if h >> i & 1)
        if len(self) < _MAX_BIGRAMS:
            self[pair] = spread
        return spread


_BIGRAMS = _BigramCounters()
_MAX_BIGRAMS = 50_000  # real traffic uses a few thousand of the ~170k possible code pairs


@lru_cache(maxsize=1 << 10)  # any length: a long system prompt's skeleton is reused every event
def _counters(codes: str) -> tuple[int, int]:
    """(packed per-bit counters, number of bigrams) of ``<s>`` + ``codes``."""
    s = _START + codes
    return sum(map(_BIGRAMS.__getitem__, [s[i:i + 2] for i in range(len(codes))])), len(codes)


def _signature_raw(parts: tuple[str, ...]) -> int:
    total = n = 0
    for codes in parts:
        c, k = _counters(codes)
        total += c
        n += k
    if not n:
        return 0
    # bit i is set when more than half of the n bigram hashes have bit i set
    biased = total + ((1 << (_FIELD_BITS - 1)) - n // 2 - 1) * _FIELD_SPREAD
    return int(biased.to_bytes(128, "big")[0::2].translate(_TOP_BIT_TABLE), 2)


_signature_memo = lru_cache(maxsize=_MEMO_SIZE)(_signature_raw)


def signature(*parts: Analysis) -> int:
    """SimHash of the pooled skeleton bigrams of analysed fields (see :func:`simhash`); memoised
    per combination of skeletons, so a templated stream pays for it once.

    >>> signature(analyse("Be brief."), analyse("Hi")) == simhash("Be brief.", "Hi")
    True
    """
    key = tuple([a.codes for a in parts])
    return _signature_memo(key) if sum(map(len, key)) <= _MEMO_MAX_CODES else _signature_raw(key)


def simhash(*texts: str) -> int:
    """64-bit SimHash over the skeleton bigrams of one or more texts (pooled), 0 when all empty.

    Each text contributes the bigrams of ``<s>`` followed by its skeleton tokens; bit *i* of the
    result is the majority vote of bit *i* of the bigrams' xxh3 hashes. Skeletons that share most
    bigrams land a few bits apart (see :func:`hamming`); unrelated ones are ~32 bits apart.

    When it works: near-duplicate templates (one line changed, a rotated system prompt). When it
    fails: very short skeletons (a handful of bigrams) are noisy, and long prompts that share only
    generic structure can look close. Assumes :func:`skeleton` has already removed the content.

    >>> a = simhash("Question: Who wrote Hamlet?\\nThink step by step, then give the final answer.")
    >>> b = simhash("Question: Where is Lima?\\nThink step by step, then give the final answer.")
    >>> c = simhash("I need the home address for mark gordon")
    >>> hamming(a, b) < hamming(a, c)
    True
    """
    return signature(*map(analyse, texts))


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two 64-bit signatures.

    >>> hamming(0b1011, 0b0001)
    2
    """
    return (a ^ b).bit_count()


# --------------------------------------------------------------------------------------------
# writing system


class Script(IntEnum):
    """Dominant writing system of a text. ``NONE``: no letters at all (digits, symbols, empty)."""

    NONE = 0
    LATIN = 1
    CYRILLIC = 2
    GREEK = 3
    ARABIC = 4
    HEBREW = 5
    DEVANAGARI = 6
    CJK = 7
    HANGUL = 8
    KANA = 9
    THAI = 10
    OTHER = 11


def _script_table() -> bytes:
    """UTF-8 lead byte -> class letter; continuation bytes, digits and symbols -> '.'."""
    table = bytearray(b"." * 256)
    for lo, hi, cls in ((0x41, 0x5A, b"L"), (0x61, 0x7A, b"L"), (0xC3, 0xC9, b"L"), (0xCE, 0xCF, b"G"),
                        (0xD0, 0xD3, b"C"), (0xD4, 0xD5, b"O"), (0xD6, 0xD7, b"H"), (0xD8, 0xDB, b"A"),
                        (0xDC, 0xDC, b"O"), (0xDD, 0xDD, b"A"), (0xDE, 0xDF, b"O"), (0xE0, 0xE0, b"E"),
                        (0xE1, 0xE1, b"O"), (0xE3, 0xE3, b"K"), (0xE4, 0xE9, b"J"), (0xEA, 0xED, b"U")):
        table[lo:hi + 1] = cls * (hi - lo + 1)
    return bytes(table)


_SCRIPT_TABLE = _script_table()
_SCRIPT_SAMPLE_CHARS = 320
_WIDE_WEIGHT = 3  # one ideograph or syllable block carries about as much as three letters
_ASCII_LETTER_RE = re.compile(r"[A-Za-z]")


def dominant_script(text: str) -> Script:
    """The writing system with the most letters in the first 320 characters of ``text``.

    Counts UTF-8 lead bytes by code-point block (no ``unicodedata``): Latin (ASCII letters and
    Latin-1/Extended), Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai, CJK ideographs, Hangul
    and kana. CJK, Hangul and kana characters weigh three letters each; Japanese text is ``KANA``
    when kana are at least a fifth of its ideographs + kana. Other scripts are ``OTHER``; no
    letters at all is ``NONE``.

    When it fails: the sample is the head of the text, so a Latin-script preamble followed by a
    long foreign passage reads as ``LATIN``; Yi and rare blocks near Hangul count as Hangul.

    Cost: ASCII text returns after ``isascii`` and one regex probe; otherwise one encode, one
    ``bytes.translate`` and a few ``count`` calls over at most ~1.3 KB.

    >>> dominant_script("Solve for x"), dominant_script("Реши задачу шаг за шагом")
    (<Script.LATIN: 1>, <Script.CYRILLIC: 2>)
    >>> dominant_script("请一步一步地解释"), dominant_script("ステップバイステップで説明して"), dominant_script("42")
    (<Script.CJK: 7>, <Script.KANA: 9>, <Script.NONE: 0>)
    """
    sample = text[:_SCRIPT_SAMPLE_CHARS]
    if sample.isascii():
        return Script.LATIN if _ASCII_LETTER_RE.search(sample) else Script.NONE
    raw = sample.encode(_UTF8, _LONE)
    cls = raw.translate(_SCRIPT_TABLE)
    counts = {
        Script.LATIN: cls.count(b"L"),
        Script.CYRILLIC: cls.count(b"C"),
        Script.GREEK: cls.count(b"G"),
        Script.ARABIC: cls.count(b"A"),
        Script.HEBREW: cls.count(b"H"),
        Script.HANGUL: cls.count(b"U") * _WIDE_WEIGHT,
        Script.OTHER: cls.count(b"O"),
    }
    if b"E" in cls:  # U+0800-0FFF: Indic scripts, Thai, ...; the second byte names the block
        deva = raw.count(b"\xe0\xa4") + raw.count(b"\xe0\xa5")
        thai = raw.count(b"\xe0\xb8") + raw.count(b"\xe0\xb9")
        counts[Script.DEVANAGARI] = deva
        counts[Script.THAI] = thai
        counts[Script.OTHER] += cls.count(b"E") - deva - thai
    cjk = cls.count(b"J")
    kana = raw.count(b"\xe3\x81") + raw.count(b"\xe3\x82") + raw.count(b"\xe3\x83") if b"K" in cls else 0
    counts[Script.KANA if 5 * kana >= kana + cjk > 0 else Script.CJK] = (kana + cjk) * _WIDE_WEIGHT
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else Script.NONE


# --------------------------------------------------------------------------------------------
# client attributes

_UA_MAX = 64
_UA_RE = re.compile(r"\s*+([a-z][a-z0-9._+-]{0,48}+(?:/[a-z][a-z0-9._+-]{0,48}+)?)(?:[/ ]v?([0-9]{1,6}+))?")


def ua_family(user_agent: str | None) -> str:
    """SDK/client family and major version of a User-Agent, e.g. ``anthropic-python/0``.

    Takes the first product token (``name`` or ``vendor/name``), casefolded, and the major version
    that follows it; browsers all read as ``mozilla/5``. Empty or unparsable -> ``""``. At most 64
    characters. Memoised (user agents repeat).

    >>> ua_family("anthropic-python/0.34.2"), ua_family("OpenAI/Python 1.35.0")
    ('anthropic-python/0', 'openai/python/1')
    >>> ua_family("Mozilla/5.0 (X11; Linux x86_64)"), ua_family("curl"), ua_family(None)
    ('mozilla/5', 'curl', '')
    """
    return _ua_family(user_agent[:256]) if user_agent else ""


@lru_cache(maxsize=1 << 12)
def _ua_family(user_agent: str) -> str:
    m = _UA_RE.match(user_agent.casefold())
    if m is None:
        return ""
    name, major = m.groups()
    return (f"{name}/{major}" if major else name)[:_UA_MAX]


def ip_prefix(ip: str | None) -> str:
    """The client's network: IPv4 ``/24`` or IPv6 ``/48`` in CIDR form; invalid or empty -> ``""``.

    IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) count as IPv4. Memoised (addresses repeat).

    >>> ip_prefix("203.0.113.77"), ip_prefix("2001:db8:abcd:12::1"), ip_prefix("not-an-ip")
    ('203.0.113.0/24', '2001:db8:abcd::/48', '')
    """
    return _ip_prefix(ip) if ip and len(ip) <= _IP_MAX_CHARS else ""


_IP_MAX_CHARS = 64  # longest textual IPv6 with a zone id; longer is not an address


@lru_cache(maxsize=1 << 14)
def _ip_prefix(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if isinstance(addr, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Network((int(addr) & 0xFFFFFF00, 24)))
    return str(ipaddress.IPv6Network(((int(addr) >> 80) << 80, 48)))


# --------------------------------------------------------------------------------------------
# compiled kernel (built last: it takes the script table too)

KERNEL: Any = compiled.kernel("TextKernel", _CODES, (_W, _N, _NL, _MORE, _START),
                              (chr(_KEEP_BASE), chr(_KEEP_BASE + len(KEEP_WORDS))), (_M_CODE, _M_URL, _M_QUOTE, _M_NL),
                              _READABLE_OF, (MAX_ANALYSED_CHARS, HEAD_CHARS, _TAIL_CHARS), SEED,
                              (_SCRIPT_TABLE, _SCRIPT_SAMPLE_CHARS, _WIDE_WEIGHT, {s.name: int(s) for s in Script}))
"""The compiled :func:`analyse` kernel (:mod:`detector.compiled`), None when it is not built; it
also serves :func:`dominant_script`, :func:`skeleton_fp` and :func:`signature` to
:mod:`detector.features`."""
