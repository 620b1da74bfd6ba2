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

from detector.text import Analysis


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
_LANGUAGE_RE = re.compile(
    rb"\b(?:python|javascript|typescript|java|c\+\+|c#|golang|rust|sql|bash|regex|html|css|json|yaml|php|ruby"
    rb"|kotlin|swift|haskell|scala|matlab|pandas|numpy|react|node\.js|api|linux|git)\b")
_CODE_WORD_RE = re.compile(
    rb"\b(?:def|return|function|import|class|print|console\.log|var|const|lambda|struct|select|algorithm"
    rb"|array|string|integer|variable|loop|compile|debug)\b")
_OPTION_RE = re.compile(rb"\([ab]\)|options ?:|true and |false or |not \( ")
_LANGUAGE_SCAN = 512   # a task names its language up front ("Write a Python function ...")
_DOCUMENT_CHARS = 3000
_CHAT_CHARS = 240


def _count(b: bytes, name: str) -> int:
    return len(b.translate(None, _KEEP_ONLY[name]))


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
    code_marks = _count(b, "code")
    if ("\ue003" in a.tokens or code_marks >= 6 and code_marks * 25 >= size
            or _LANGUAGE_RE.search(b, 0, _LANGUAGE_SCAN) is not None
            or code_marks >= 2 and _CODE_WORD_RE.search(b) is not None):
        return Domain.CODE
    if _OPTION_RE.search(b) is not None:
        return Domain.CHOICE
    numbers = a.tokens.count("\ue001")
    if numbers >= 2 and (numbers >= 4 or _count(b, "math") >= 1 or _count(b, "digit") * 40 >= size):
        return Domain.MATH
    if chars >= _DOCUMENT_CHARS:
        return Domain.DOCUMENT
    if chars <= _CHAT_CHARS:
        return Domain.CHAT
    return Domain.PROSE
