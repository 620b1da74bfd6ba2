"""Task domain of one request, from the shape of its text: code, maths, choice puzzles, tools, ...

A harvester that distils a general model sweeps many task domains (code, maths, reasoning,
writing, dialogue); an application is narrow (a ticket classifier, a tutoring app, a translation
service). :func:`domain_of` puts one request into one of a few coarse domains, and the windows count
them, so a key's *breadth* (how many domains carry a real share of its traffic) is a window feature.

The classifier reads structure, not vocabulary: the share of code punctuation, numbers, option
labels like ``(a)``/``(b)``, line structure, tool definitions and text length -- things a
translation of the prompt keeps. The only words it looks at are names of programming languages and
code keywords, which stay in English inside prompts in any language (a language name alone
suffices; a keyword such as ``return`` needs code punctuation beside it).

When it works: corpus-style tasks (GSM8K, BBH, HumanEval, code-generation, instructions, chat)
separate into distinct domains, so a sweep across them shows as breadth >= 3 while an application
shows one or two. When it fails: short prose questions about code or maths ("what is a monad?")
read as chat; a domain clone (one domain, deep) shows breadth 1 -- it is caught by volume and
economics, not here. Never a verdict on its own.

Cost: a handful of C-speed ``bytes.translate`` and substring passes over at most
:data:`detector.text.MAX_ANALYSED_CHARS` bytes and one regex for language names (~5 µs for a
250-byte prompt).

>>> from detector.text import analyse
>>> a = analyse("def add(a, b):\\n    return a + b  # fix the bug")
>>> Domain(domain_of(a, tools=False, chars=45)).name
'CODE'
>>> a = analyse("Janet has 16 eggs and eats 3 each day. She sells the rest for $2 each. How much does she earn?")
>>> Domain(domain_of(a, tools=False, chars=95)).name
'MATH'
>>> Domain(domain_of(analyse("How do I keep my cat off the sofa?"), tools=False, chars=34)).name
'CHAT'
"""

from __future__ import annotations

import re
from enum import IntEnum
from functools import cached_property
from typing import Any, NamedTuple

from detector import compiled
from detector.text import CODE_TOKEN, NUMBER_TOKEN, Analysis


class Domain(IntEnum):
    """Coarse task domains (at most 8: :mod:`detector.signals` gives each a bit)."""

    NONE = 0      # no text (empty or not logged)
    CODE = 1      # programming: code symbols, code spans, language names
    MATH = 2      # quantitative word problems, arithmetic, formulas
    CHOICE = 3    # multiple-choice / logic puzzles: option labels, true/false chains
    TOOL = 4      # agentic: tool definitions attached or tool results in the turn
    DOCUMENT = 5  # long input text (summarise, extract, review)
    CHAT = 6      # a short conversational question or request
    PROSE = 7     # instructions and writing tasks of moderate length


_CODE_CHARS = b"{};=<>[]()_|&\\"
_MATH_CHARS = b"+-*/=^%$"
_DIGITS = b"0123456789"
_KEEP_ONLY = {name: bytes(c for c in range(256) if c not in keep)
              for name, keep in (("code", _CODE_CHARS), ("math", _MATH_CHARS), ("digit", _DIGITS))}
_LANGUAGES = (b"python", b"javascript", b"typescript", b"java", b"c++", b"c#", b"golang", b"rust", b"sql", b"bash",
              b"regex", b"html", b"css", b"json", b"yaml", b"php", b"ruby", b"kotlin", b"swift", b"haskell", b"scala",
              b"matlab", b"pandas", b"numpy", b"react", b"node.js", b"api", b"linux", b"git")
_CODE_WORDS = (b"def", b"return", b"function", b"import", b"class", b"print", b"console.log", b"var", b"const",
               b"lambda", b"struct", b"select", b"algorithm", b"array", b"string", b"integer", b"variable", b"loop",
               b"compile", b"debug")
_OPTIONS = (b"(a)", b"(b)", b"options:", b"options :", b"true and ", b"false or ", b"not ( ")


def _any_of(words: tuple[bytes, ...], *, whole_words: bool) -> re.Pattern[bytes]:
    alternatives = b"|".join(map(re.escape, words))
    return re.compile(rb"\b(?:" + alternatives + rb")\b" if whole_words else alternatives)


_LANGUAGE_RE = _any_of(_LANGUAGES, whole_words=True)
_CODE_WORD_RE = _any_of(_CODE_WORDS, whole_words=True)
_OPTION_RE = _any_of(_OPTIONS, whole_words=False)
_LANGUAGE_SCAN = 512   # a task names its language up front ("Write a Python function ...")
_DOCUMENT_CHARS = 3000
_CHAT_CHARS = 240


class Marks(NamedTuple):
    """What :func:`domain_of` decides on, from the normalised text alone."""

    code: int         # code punctuation bytes
    math: int         # arithmetic operator bytes
    digits: int       # ASCII digits
    language: bool    # a programming-language name in the first :data:`_LANGUAGE_SCAN` bytes
    code_word: bool   # a code keyword anywhere
    option: bool      # an option label or a true/false chain


def _count(b: bytes, name: str) -> int:
    return len(b.translate(None, _KEEP_ONLY[name]))


class ReferenceMarks:
    """The Python reference of the compiled ``DomainMarks`` kernel: each mark is computed when
    first read, as :func:`domain_of` reads them in order and stops early (the regexes are the cost).

    >>> ReferenceMarks(b"write a python function: def f(x): return x+1").as_marks()
    Marks(code=2, math=1, digits=1, language=True, code_word=True, option=False)
    """

    def __init__(self, b: bytes) -> None:
        self._b = b

    @cached_property
    def code(self) -> int:
        return _count(self._b, "code")

    @cached_property
    def math(self) -> int:
        return _count(self._b, "math")

    @cached_property
    def digits(self) -> int:
        return _count(self._b, "digit")

    @cached_property
    def language(self) -> bool:
        return _LANGUAGE_RE.search(self._b, 0, _LANGUAGE_SCAN) is not None

    @cached_property
    def code_word(self) -> bool:
        return _CODE_WORD_RE.search(self._b) is not None

    @cached_property
    def option(self) -> bool:
        return _OPTION_RE.search(self._b) is not None

    def as_marks(self) -> Marks:
        """All six marks."""
        return Marks(self.code, self.math, self.digits, self.language, self.code_word, self.option)


KERNEL: Any = compiled.kernel("DomainMarks", _LANGUAGES, _LANGUAGE_SCAN, _CODE_WORDS, _OPTIONS,
                              (_CODE_CHARS, _MATH_CHARS, _DIGITS),
                              (CODE_TOKEN, NUMBER_TOKEN, _DOCUMENT_CHARS, _CHAT_CHARS, {d.name: int(d) for d in Domain}))
"""The compiled marks (:func:`marks`) and, for :mod:`detector.features`, :func:`domain_of`'s decision
(:mod:`detector.compiled`); None when it is not built."""


def marks(b: bytes) -> Marks | ReferenceMarks:
    """The marks of normalised text: all of them from the compiled kernel when built, else the
    lazy reference."""
    if KERNEL is not None and compiled.ON:
        return Marks(*KERNEL.marks(b))
    return ReferenceMarks(b)


def domain_of(a: Analysis, *, tools: bool, chars: int) -> int:
    """The :class:`Domain` of a user turn analysed as ``a`` (``chars``: its full length).

    Order of tests: tools, code, choice puzzle, maths, long document, short chat, prose. A turn
    with tool definitions or tool results is TOOL whatever it says.
    """
    b = a.norm_bytes
    if tools:
        return Domain.TOOL
    if not b:
        return Domain.NONE
    size = len(b)
    m = marks(b)
    if (CODE_TOKEN in a.tokens or m.code >= 6 and m.code * 25 >= size or m.language
            or m.code >= 2 and m.code_word):
        return Domain.CODE
    if m.option:
        return Domain.CHOICE
    numbers = a.tokens.count(NUMBER_TOKEN)
    if numbers >= 2 and (numbers >= 4 or m.math >= 1 or m.digits * 40 >= size):
        return Domain.MATH
    if chars >= _DOCUMENT_CHARS:
        return Domain.DOCUMENT
    if chars <= _CHAT_CHARS:
        return Domain.CHAT
    return Domain.PROSE
