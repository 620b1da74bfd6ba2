"""Per-event extraction signals: a bitmask of what one request looks like, from text and parameters.

Each :class:`Signal` bit is one tell-tale of ``docs/reference/detection.md`` (sections 2, 3, 5)
that can be read off a single request: chain-of-thought elicitation, an answer handed over with a
request for its reasoning, grader prompts, empty or template-only turns (Magpie), instruction-
harvesting meta-prompts (Self-Instruct/Alpaca), logit-bias probing, and the parameter and economy
fingerprints around them. None of them means "attack" on its own -- tutoring apps ask for steps,
eval harnesses use logprobs, LLM-as-judge is common. The windows (:mod:`detector.windows`) count
the bits, and the scorer weighs their *rates* together with volume, repetition and linkage.

Text signals are phrase rules over the normalised (casefolded, whitespace-collapsed) text. A rule
is a precompiled regex that *starts with a literal* (so ``re`` finds candidates with its fast
prefix search) followed by alternations, fixed-width look-behinds and at most short bounded gaps
(``.{0,160}?``) -- linear on any input. A rule runs only when its anchor keep words are among the
prompt's tokens: one charset scan of the short token-code string of
:func:`detector.text.analyse` finds every anchor at once, so a prompt without any (95% of hh-rlhf
chat turns, 92% of GSM8K questions) skips every phrase regex. System-prompt signals are memoised
per system prompt. For :mod:`detector.features` the compiled :data:`KERNEL` runs the gates and the
function-word test and calls these same compiled patterns, so both paths share one set of rules.
"""

from __future__ import annotations

import re
from enum import IntFlag
from functools import lru_cache
from typing import Any, NamedTuple

from detector import compiled
from detector.domains import domain_of
from detector.record import Event, Message
from detector.text import (CONTENT_TOKEN, Script, analyse, cap, content_tokens, dominant_script,
                           keep_word_codes)


class Signal(IntFlag):
    """Per-event signal bits (at most 32: :mod:`detector.windows` keeps one counter per bit)."""

    COT = 1 << 0                  # chain-of-thought elicitation in the user turn
    REVERSE_RATIONALE = 1 << 1    # answer supplied, reasoning requested
    RUBRIC = 1 << 2               # grader / reward-model / LLM-as-judge prompt
    EMPTY_TURN = 1 << 3           # last user turn empty, absent or chat-template markers only
    TEMPLATE_ONLY = 1 << 4        # user turn is chat-template markers only, or prefill only
    META_PROMPT = 1 << 5          # Self-Instruct/Alpaca style "generate N task instructions"
    LOGIT_PROBE = 1 << 6          # logit_bias together with logprobs/top_logprobs
    LOGPROBS = 1 << 7             # logprobs or top_logprobs requested
    ONE_TOKEN = 1 << 8            # max_tokens <= 2
    MULTI_SAMPLE = 1 << 9         # n > 1
    TOOLS = 1 << 10               # tool definitions attached
    THINKING = 1 << 11            # extended thinking budget or reasoning tokens billed
    LONG_OUTPUT = 1 << 12         # output >= 4x input (input floored at 50 tokens)
    NON_ENGLISH = 1 << 13         # user text in a non-Latin script or a non-English Latin language
    SYSTEM_EXPLAIN = 1 << 14      # system prompt demands explanations / step-by-step (Orca)
    CENSOR_REWRITE = 1 << 15      # rewrite a (politically sensitive) question in a neutral/safe way
    # task domain of the user turn (detector.domains.Domain d >= 1 sets bit 15 + d): one-hot
    DOMAIN_CODE = 1 << 16
    DOMAIN_MATH = 1 << 17
    DOMAIN_CHOICE = 1 << 18
    DOMAIN_TOOL = 1 << 19
    DOMAIN_DOCUMENT = 1 << 20
    DOMAIN_CHAT = 1 << 21
    DOMAIN_PROSE = 1 << 22
    SINGLE_SHOT = 1 << 23         # one user turn, no assistant or tool turns: a dataset item, not a dialogue
    REASONED_OUTPUT = 1 << 24     # the logged answer is a worked, multi-step derivation
    GREEDY = 1 << 25              # temperature <= 0.1 requested
    WIDE_BIAS = 1 << 26           # logit_bias over more tokens than a label set (> 8)
    SHORT_SAMPLES = 1 << 27       # n > 1 samples, each shorter than SHORT_SAMPLE_TOKENS: options, not dataset answers


# Plain ints for the hot path: IntFlag arithmetic builds enum objects (~1 µs per operation).
_COT, _REVERSE, _RUBRIC, _EMPTY, _TEMPLATE, _META, _PROBE, _LOGPROBS, _ONE, _MULTI, _TOOLS, _THINK, \
    _LONG, _NON_EN, _SYS_EXPLAIN, _CENSOR = (int(s) for s in list(Signal)[:16])
DOMAIN_SHIFT = 15
_SINGLE, _REASONED, _GREEDY, _WIDE_BIAS, _SHORT_SAMPLES = (int(s) for s in list(Signal)[23:28])
WIDE_BIAS_TOKENS = 8
SHORT_SAMPLE_TOKENS = 400   # an answer this short counts at most a quarter as a dataset answer (shape.economics)


# --------------------------------------------------------------------------------------------
# phrase rules


class _Rule(NamedTuple):
    gate: tuple[frozenset[str], ...]  # token codes: each set must meet the prompt's anchors
    phrase: re.Pattern[str]           # over normalised text; starts with a literal


def _rule(phrase: str, *anchor_groups: tuple[str, ...]) -> _Rule:
    return _Rule(tuple(keep_word_codes(g) for g in anchor_groups), re.compile(phrase))


def _behind(word: str, *contexts: str) -> str:
    """``word`` followed by a check that one of ``contexts`` (each ending in ``word``) precedes."""
    return word + "(?:" + "|".join(f"(?<={re.escape(c)})" for c in contexts) + ")"


_ANSWER = (r"(?:this|the|that|these|a|an) (?:final |correct |right |given |provided |reference |known )?"
           r"(?:answers?|solutions?|results?|conclusions?|outputs?)")
_ANSWERISH = ("answer", "answers", "solution", "result")
_REASONISH = ("explain", "explanation", "reasoning", "rationale", "derive", "derivation", "justify",
              "justification", "steps", "step", "step-by-step", "reconstruct", "thought", "write", "show")
_NOT_A_GUIDE = r"(?! (?:guides?|instructions|tutorials?|directions|walkthroughs?|recipes?|plans?|procedures?))"
_STEP = ("step", "steps", "step-by-step")

_COT_RULES = (
    _rule(r"step(?:[- ]by[- ]step" + _NOT_A_GUIDE + "|"
          + _behind("s", "show your steps", "show all steps", "show all your steps", "explain your steps",
                    "justify your steps", "show the intermediate steps") + "|"
          + _behind("", "think step", "thinking step", "reason step", "reasoning step", "explain each step",
                    "explain every step", "justify each step") + ")", _STEP),
    _rule(r"reasoning(?: process| trace| chain|"
          + _behind("", "explain your reasoning", "explain the reasoning", "show your reasoning",
                    "show the reasoning", "through your reasoning", "through the reasoning",
                    "justify your reasoning", "describe your reasoning", "outline your reasoning",
                    "full reasoning", "complete reasoning", "detailed reasoning", "internal reasoning",
                    "hidden reasoning", "entire reasoning", "raw reasoning") + ")", ("reasoning",)),
    _rule(r"thought process", ("thought",)),
    _rule(r"chain[- ]of[- ]thoughts?", ("chain", "chain-of-thought")),
    _rule(r"justify (?:your|each|every|all|the) (?:answers?|steps?|reasoning|responses?|choices?|solutions?"
          r"|conclusions?)", ("justify",)),
    _rule(r"think (?:aloud|out loud)", ("aloud", "loud")),
    _rule(r"show (?:all )?(?:of )?your (?:work|working|calculations|thinking)\b|show (?:all )?the working",
          ("show",)),
    _rule(r"thinking(?: process|"
          + _behind("", "explain your thinking", "show your thinking", "through your thinking",
                    "full thinking", "internal thinking", "hidden thinking", "raw thinking",
                    "detailed thinking") + ")", ("thinking",)),
    _rule(r"paso a paso|[ée]tape par [ée]tape|schritt f[üu]r schritt|passo (?:a|dopo) passo",
          ("paso", "étape", "schritt", "passo")),
)
# "step by step" in non-Latin scripts (checked without anchors when the script is not Latin)
_COT_INTL_RE = re.compile("一步一步|逐步|шаг за шагом|пошагово|ステップバイステップ|段階的に|단계별|단계적으로"
                          "|خطوة بخطوة|चरण दर चरण")

_REVERSE_RULES = (
    _rule(r"given (?:the|this|that) (?:final|correct|right|reference|known) (?:answer|solution|result)"
          r"|given (?:the|this) answer,? (?:explain|derive|justify|reconstruct|write|show|work)",
          ("given",), _ANSWERISH),
    _rule(r"backwards? from " + _ANSWER, ("backwards", "backward")),
    # "<reasoning> that leads to <the answer | it>", the answer having been handed over
    *(_rule(noun + r" (?:(?:that |which )?(?:leads?|led|leading|arrives?|arrived|gets?) (?:to|at)|behind) (?:"
            + _ANSWER + r"|(?:it|this|that|them)\b)", (anchor,), _ANSWERISH)
      for noun, anchor in (("rationale", "rationale"), ("reasoning", "reasoning"), ("explanation", "explanation"),
                           ("steps", "steps"), ("derivation", "derivation"), ("justification", "justification"),
                           ("thought process", "thought"), ("chain of thought", "chain"))),
    *(_rule(lead + r" answer(?: is|:) .{0,160}?(?:explain (?:why|how)|derive|justify|reconstruct"
            r"|write (?:out |down )?(?:the |your |a )?(?:reasoning|rationale|steps|derivation|solution)"
            r"|show (?:the|your) (?:work|reasoning|steps))", (lead,), ("answer",), _REASONISH)
      for lead in ("correct", "final")),
    *(_rule(lead + r" (?:the|a|an) (?:final |correct |reference |known )?(?:answer|solution)\b.{0,200}?"
            r"(?:explain|reasoning|rationale|derive|justify|derivation|step[- ]by[- ]step)",
            (anchor,), _ANSWERISH, _REASONISH)
      for lead, anchor in (("here is", "here"), ("here's", "here's"), ("here’s", "here's"), ("below is", "below"))),
    *(_rule(verb + r" (?:the |a |your |some )?(?:plausible )?(?:reasoning|thought process|chain of thought"
            r"|rationale)", (verb,), ("reasoning", "thought", "chain", "rationale"))
      for verb in ("imagine", "reconstruct")),
    # "Correct answer: 42. Explain how one arrives at this answer."
    _rule(r"arriv(?:es|e|ed|ing) at (?:this|that) (?:final |correct |given |provided )?(?:answer|solution|result)",
          _ANSWERISH, _REASONISH),
)

_RUBRIC_RULES = (
    _rule(r"rubric", ("rubric",)),
    _rule(r"scale (?:of|from) [0-9]+ ?(?:to|-) ?[0-9]+", ("scale",)),
    _rule(r"score (?:the |this |each |these |both |all |every |my )?(?:following )?(?:responses?|answers?"
          r"|outputs?|completions?|essays?|submissions?|summar(?:y|ies)|translations?|repl(?:y|ies)"
          r"|generations?)", ("score",)),
    _rule(r"rate (?:the|this|each|these|its|their) (?:overall )?(?:quality|helpfulness|accuracy"
          r"|harmlessness|correctness|coherence|relevance|fluency|responses?|answers?|outputs?)", ("rate",)),
    _rule(r"wh(?:ich|at) (?:response|answer|output|completion|reply|summary|assistant)(?: \([a-z0-9]\))? is"
          r" (?:better|more helpful|preferred|best|more accurate)", ("better",)),
    _rule(r"evaluate (?:the|this|each) (?:(?:assistant|ai|model|chatbot)(?:[’']s)? (?:answers?|responses?"
          r"|outputs?|replies|performance)|(?:quality|helpfulness|accuracy|correctness) of)", ("evaluate",)),
    _rule(r"grade (?:the |this |each |these |my |student(?:[’']?s)? )?(?:following )?(?:responses?|answers?"
          r"|essays?|submissions?|outputs?|completions?)", ("grade",)),
    _rule(r"(?:act as|you are) (?:an? )?(?:impartial |fair |strict |expert |helpful )?(?:judge|grader"
          r"|evaluator|reward model)", ("judge", "grader", "evaluator", "reward")),
    _rule(r"reward model", ("reward",)),
    _rule(r"final verdict", ("verdict",)),
    _rule(r"\[\[(?:a|b|c|tie|rating|[0-9]{1,3})\]\]", ("judge", "verdict", "rating")),
)

_GENERATED = r"(?:(?:diverse|different|new|unique|varied|creative|more|additional) ){0,3}(?:task )?"
_META_RULES = (
    _rule(r"come up with (?:a (?:set|list) of )?[0-9]+ " + _GENERATED
          + r"(?:instructions|tasks|questions|prompts|examples)", ("instructions", "tasks", "prompts")),
    _rule(r"(?:generate|create|write|produce|brainstorm|give me|list) (?:a (?:set|list) of )?[0-9]+ "
          + _GENERATED + r"(?:instructions|tasks|prompts|instruction[- ](?:response|output) pairs)",
          ("instructions", "instruction", "tasks", "prompts", "diverse")),
    _rule(r"list of [0-9]+ (?:(?:diverse|different|new) )?(?:tasks|instructions|prompts)",
          ("tasks", "instructions", "prompts")),
    _rule(r"requirements ?: ?(?:1[.)]|-|\*)", ("requirements",)),
    _rule(r"will be given to (?:a|an|the) (?:gpt|language|llm|ai|chatgpt)", ("instructions", "tasks")),
    _rule(r"diverse (?:task )?instructions", ("diverse",)),
)

_REWRITE = r"(?:rewrite|rephrase|reword|paraphrase|reformulate|restate)"
_REWRITE_WORDS = ("rewrite", "rephrase", "reword", "paraphrase", "reformulate", "restate")
_CENSOR_RULES = (
    _rule(_REWRITE + r" .{0,160}?(?:neutral|safe|safer|censorship[- ]safe|politically (?:neutral|correct|safe"
          r"|acceptable|sensitive)|non[- ]?sensitive|uncontroversial|sanitized|sanitised|inoffensive"
          r"|apolitical)", _REWRITE_WORDS, ("neutral", "safe", "safer", "censorship", "politically", "sensitive",
                                        "uncontroversial", "apolitical")),
    _rule(r"politically sensitive .{0,160}?" + _REWRITE, ("politically",), _REWRITE_WORDS),
    _rule(r"censorship[- ](?:safe|compliant|friendly)", ("censorship", "censorship-safe")),
)

_FAMILIES: tuple[tuple[int, tuple[_Rule, ...]], ...] = (
    (_COT, _COT_RULES), (_REVERSE, _REVERSE_RULES), (_RUBRIC, _RUBRIC_RULES), (_META, _META_RULES),
    (_CENSOR, _CENSOR_RULES),
)
# Rules indexed by the codes of their first anchor group: the anchors found in a prompt name the
# only rules worth trying. One charset regex finds every gate word of every rule at once.
def _index_rules() -> dict[str, list[tuple[int, tuple[frozenset[str], ...], re.Pattern[str]]]]:
    """First-group anchor code -> (bit, the rule's other gate groups, phrase)."""
    index: dict[str, list[tuple[int, tuple[frozenset[str], ...], re.Pattern[str]]]] = {}
    for bit, rules in _FAMILIES:
        for rule in rules:
            for code in sorted(rule.gate[0]):
                index.setdefault(code, []).append((bit, rule.gate[1:], rule.phrase))
    return index


_RULES_BY_ANCHOR = _index_rules()
_ANCHOR_RE = re.compile("[" + "".join(sorted(set().union(*(g for _, rules in _FAMILIES for r in rules
                                                          for g in r.gate)))) + "]")

_EXPLAIN_SYSTEM_RE = re.compile("|".join((
    r"explain (?:it )?(?:like|as if) (?:i[’']?m|i am|to) (?:a )?(?:five|5)",
    r"\beli5\b",
    r"(?:five|5)[- ]year[- ]old",
    r"(?:explain|justify) your (?:answer|steps|reasoning|response)",
    r"(?:provide|give|output|write) (?:a )?(?:detailed|long|thorough|step[- ]by[- ]step|comprehensive)"
    r" (?:answer|explanation|response)",
    r"describe the task and explain",
    r"while (?:performing|answering|solving) the task",
    r"explain (?:why|how) (?:you|the answer|your answer)",
)))

# Chat-template markers (ChatML, Llama 2/3, Gemma, Alpaca/Vicuna headers, role prefixes).
_TEMPLATE_RE = re.compile(
    r"<\|[a-z_]{1,30}+\|>|\[/?inst\]|<</?sys>>|</?s>|<(?:start|end)_of_turn>"
    r"|#{2,4} ?(?:instruction|response|input|human|assistant|user|system)s? ?:?"
    r"|(?:human|user|assistant|system|model|bot|gpt) ?:"
)
TEMPLATE_MAX_CHARS = 96  # a template-only turn is a few markers; longer text is a real prompt
_ROLE_WORDS = frozenset(("", "user", "assistant", "system", "model", "human", "bot", "gpt"))

# Latin-script text with a non-English function-word profile (es, fr, de, it, pt, nl).
_FOREIGN_WORDS = ("de la el los las que por para una del les des une est pour dans avec sur der die und ist nicht "
                  "mit ein eine ich sie che di il per non sono não com uma em het een niet van zijn").split()
_ENGLISH_WORDS = "and of to is in it you that for on with are this be i a an my what how can do not the".split()
_FUNCTION_WORD_RE = re.compile(f" (?:({'|'.join(_FOREIGN_WORDS)})|({'|'.join(_ENGLISH_WORDS)}))(?= )")
_FOREIGN_MIN_TOKENS = 6
_FOREIGN_CONTENT_SHARE = 0.75  # English prose has roughly half its tokens in the keep list


def _latin_non_english(user_text_norm: str, user_tokens: str) -> bool:
    """Latin-script text whose function words are mostly from another European language.

    Cheap prefilter: in English prose about half the tokens are keep words; text in another
    language has few of them. Only then the function words are counted."""
    n = len(user_tokens)
    if n < _FOREIGN_MIN_TOKENS or content_tokens(user_tokens) < _FOREIGN_CONTENT_SHARE * n:
        return False
    hits = _FUNCTION_WORD_RE.findall(f" {user_text_norm} ")
    foreign = sum(1 for f, _ in hits if f)
    return foreign >= 2 and 2 * foreign > len(hits)


def template_only(user_text_norm: str) -> bool:
    """True when the text is made of chat-template markers and role words only."""
    t = user_text_norm
    if len(t) > TEMPLATE_MAX_CHARS or not ("<" in t or "[" in t or "#" in t or ":" in t):
        return False
    rest, n = _TEMPLATE_RE.subn(" ", user_text_norm)
    return n > 0 and rest.strip(" :.-#*|>").strip() in _ROLE_WORDS


def last_user_message(ev: Event) -> Message | None:
    """The last ``user``-role message of the request, ``None`` if there is none.

    >>> last_user_message(Event(0, "k", messages=(Message("user", "a"), Message("assistant", "b"))))
    Message(role='user', content='a')
    """
    for m in reversed(ev.messages):
        if m.role == "user":
            return m
    return None


def estimated_input_tokens(ev: Event, user_chars: int) -> int:
    """``ev.input_tokens``, or ~4 characters per token of the last user turn when not logged.

    >>> estimated_input_tokens(Event(0, "k"), 400), estimated_input_tokens(Event(0, "k", input_tokens=7), 400)
    (100, 7)
    """
    return ev.input_tokens if ev.input_tokens is not None else user_chars // 4


def parameter_signals(ev: Event, input_tokens: int) -> int:
    """Bits read from request parameters and token accounting alone (no text).

    >>> ev = Event(ts_ms=0, api_key_id="k", logit_bias_size=40, top_logprobs=5, max_tokens=1)
    >>> Signal(parameter_signals(ev, 10))
    <Signal.LOGIT_PROBE|LOGPROBS|ONE_TOKEN: 448>
    >>> Signal(parameter_signals(Event(0, "k", n=4, output_tokens=800), 100))   # four 200-token options
    <Signal.MULTI_SAMPLE|LONG_OUTPUT|SHORT_SAMPLES: 134222336>
    """
    flags = 0
    if ev.logprobs or (ev.top_logprobs or 0) > 0:
        flags |= _LOGPROBS
        if (ev.logit_bias_size or 0) >= 1:
            flags |= _PROBE
    if ev.max_tokens is not None and ev.max_tokens <= 2:
        flags |= _ONE
    if (ev.n or 0) > 1:
        flags |= _MULTI
        if ev.output_tokens is not None and ev.output_tokens < SHORT_SAMPLE_TOKENS * ev.n:
            flags |= _SHORT_SAMPLES   # usage counts all n samples; max_tokens bounds each
    if (ev.tools or 0) >= 1:
        flags |= _TOOLS
    if (ev.thinking_budget or 0) >= 1024 or (ev.reasoning_tokens or 0) > 0:
        flags |= _THINK
    if ev.output_tokens is not None and ev.output_tokens >= 4 * max(input_tokens, 50):
        flags |= _LONG
    return flags


def uses_tools(ev: Event) -> bool:
    """Tool definitions attached, or the request answers a tool result (an agent step).

    >>> uses_tools(Event(0, "k", messages=(Message("user", "go"), Message("tool", "exit 0"))))
    True
    """
    return bool(ev.tools) or (bool(ev.messages) and ev.messages[-1].role == "tool")


def shape_signals(ev: Event, domain: int) -> int:
    """Bits of the request's shape: its task domain (one-hot, :mod:`detector.domains`), whether it
    is a single-shot item (user turns only: no assistant or tool turn to follow up on), greedy
    decoding, and a logit bias wider than a label set.

    >>> from detector.domains import Domain
    >>> Signal(shape_signals(Event(0, "k", temperature=0.0, messages=(Message("user", "hi"),)), Domain.CHAT))
    <Signal.DOMAIN_CHAT|SINGLE_SHOT|GREEDY: 44040192>
    """
    flags = 1 << (DOMAIN_SHIFT + domain) if domain else 0
    messages = ev.messages
    if messages and all(m.role == "user" for m in messages):
        flags |= _SINGLE
    if ev.temperature is not None and ev.temperature <= 0.1:
        flags |= _GREEDY
    if max(len(ev.logit_bias_ids), ev.logit_bias_size or 0) > WIDE_BIAS_TOKENS:
        flags |= _WIDE_BIAS
    return flags


# A worked answer: numbered or bulleted steps, "step k" headers or equation lines, in any language.
_STEP_LINE_RE = re.compile(r"(?m)^[ \t]*(?:[0-9]{1,2}[.):]|[-*•]|step ?[0-9]|第.{1,3}步|шаг ?[0-9]|paso ?[0-9]"
                           r"|schritt ?[0-9]|[ée]tape ?[0-9])|^[^\n=]{0,80}=[^\n]{0,80}$|<think>|</think>")
_REASONED_MIN_STEPS = 3


def output_signals(output: str | None) -> int:
    """REASONED_OUTPUT when the logged answer holds at least three worked steps (numbered or
    bulleted lines, "step k" headers, equation lines) or a ``<think>`` trace. Reads the capped
    answer only; an absent answer sets nothing.

    >>> Signal(output_signals("First we add.\\n1. 3 + 4 = 7\\n2. 7 * 2 = 14\\n3. So the answer is 14."))
    <Signal.REASONED_OUTPUT: 16777216>
    >>> output_signals("Paris."), output_signals(None)
    (0, 0)
    """
    if not output:
        return 0
    found = 0
    for _ in _STEP_LINE_RE.finditer(cap(output)):
        found += 1
        if found >= _REASONED_MIN_STEPS:
            return _REASONED
    return 0


def turn_signals(ev: Event, user_text_norm: str) -> int:
    """EMPTY_TURN / TEMPLATE_ONLY from the message structure and the normalised last user turn.

    A turn whose content was not logged (``None``) is unknown, not empty, and sets nothing.
    No user turn at all is empty; if the request then ends in an assistant message it is a
    prefill-only request (TEMPLATE_ONLY too).

    >>> Signal(turn_signals(Event(0, "k", messages=(Message("user", "  "),)), ""))
    <Signal.EMPTY_TURN: 8>
    """
    if not ev.messages:
        return 0
    last_user = last_user_message(ev)
    if last_user is None:
        prefill = ev.messages[-1].role == "assistant" and bool(ev.messages[-1].content)
        return _EMPTY | (_TEMPLATE if prefill else 0)
    if last_user.content is None:
        return 0
    if not user_text_norm:
        return _EMPTY
    if template_only(user_text_norm):
        return _EMPTY | _TEMPLATE
    return 0


def _matches(rules: tuple[_Rule, ...], text: str) -> bool:
    """Does any rule's phrase match ``text`` (ungated)?"""
    return any(rule.phrase.search(text) for rule in rules)


def text_signals(user_text_norm: str, user_tokens: str, script: Script) -> int:
    """Phrase bits of the user turn: COT, REVERSE_RATIONALE, RUBRIC, META_PROMPT, CENSOR_REWRITE
    and NON_ENGLISH. ``user_tokens`` is :attr:`detector.text.Analysis.tokens` of the same text.

    >>> a = analyse("Here is the answer: 12. Explain the reasoning that leads to this answer.")
    >>> Signal(text_signals(a.norm, a.tokens, Script.LATIN))
    <Signal.COT|REVERSE_RATIONALE: 3>
    """
    flags = 0
    if script not in (Script.LATIN, Script.NONE):
        flags |= _NON_EN
        if _COT_INTL_RE.search(user_text_norm):
            flags |= _COT
    elif _latin_non_english(user_text_norm, user_tokens):
        flags |= _NON_EN
    found = _ANCHOR_RE.findall(user_tokens)
    if found:
        anchors = set(found)
        for code in anchors:
            for bit, other_groups, phrase in _RULES_BY_ANCHOR.get(code, ()):
                if flags & bit:
                    continue
                for codes in other_groups:
                    if codes.isdisjoint(anchors):
                        break
                else:
                    if phrase.search(user_text_norm):
                        flags |= bit
    return flags


KERNEL: Any = compiled.kernel(
    "TextSignals", [(bit, [sorted(g) for g in rule.gate], rule.phrase.search) for bit, rules in _FAMILIES for rule in rules],
    _COT_INTL_RE.search, (_FOREIGN_WORDS, _ENGLISH_WORDS), (_FOREIGN_MIN_TOKENS, _FOREIGN_CONTENT_SHARE),
    CONTENT_TOKEN, (_COT, _NON_EN), (int(Script.LATIN), int(Script.NONE)))
"""The compiled :func:`text_signals` (:mod:`detector.compiled`) for :mod:`detector.features`, None when
it is not built. It runs the gates and the function-word test itself and calls each gated rule's
own ``re`` pattern, so the phrase semantics are Python's."""


@lru_cache(maxsize=1 << 8)
def system_signals(system_norm: str) -> int:
    """Bits of a normalised system prompt (memoised: system prompts repeat).

    SYSTEM_EXPLAIN for Orca-style explanation demands (any chain-of-thought phrase counts too);
    RUBRIC, REVERSE_RATIONALE, META_PROMPT and CENSOR_REWRITE when that instruction sits in the
    system prompt rather than the user turn. Rules run ungated (the result is memoised).

    >>> Signal(system_signals("you are an ai assistant. think step-by-step and justify your steps."))
    <Signal.SYSTEM_EXPLAIN: 16384>
    """
    if not system_norm:
        return 0
    flags = 0
    if _matches(_COT_RULES, system_norm) or _EXPLAIN_SYSTEM_RE.search(system_norm):
        flags |= _SYS_EXPLAIN
    for bit, rules in _FAMILIES[1:]:
        if _matches(rules, system_norm):
            flags |= bit
    return flags


def event_signals(ev: Event, user_text_norm: str, system_norm: str) -> int:
    """The :class:`Signal` bitmask of one request.

    ``user_text_norm`` and ``system_norm`` are :func:`detector.text.normalise` of the last user
    turn and of the system prompt. :func:`detector.features.extract` computes the same bits from
    values it already has (:func:`parameter_signals`, :func:`turn_signals`, :func:`text_signals`,
    :func:`system_signals`); this entry point derives them itself.

    When it works: each bit is a cheap, explainable tell-tale; rates over a key's window separate
    campaigns from normal use far better than any single bit. When it fails: the phrase lists are
    English-first (a few "step by step" translations aside), paraphrases evade them, and benign
    tutoring, eval and judge traffic sets the same bits -- which is why nothing is decided here.

    Cost: parameter and turn bits are a few comparisons; text rules cost one scan of the token
    codes unless an anchor word is present, then one literal-prefixed regex per gated rule.

    >>> ev = Event(ts_ms=0, api_key_id="k", max_tokens=1, messages=(
    ...     Message("user", "Solve 2+2. Let's think step by step."),))
    >>> Signal(event_signals(ev, "solve 2+2. let's think step by step.", ""))
    <Signal.COT|ONE_TOKEN|DOMAIN_CHAT|SINGLE_SHOT: 10486017>
    >>> ev = Event(ts_ms=0, api_key_id="k", messages=(Message("user", "<|im_start|>user\\n"),))
    >>> Signal(event_signals(ev, "<|im_start|>user", ""))
    <Signal.EMPTY_TURN|TEMPLATE_ONLY|DOMAIN_CHAT|SINGLE_SHOT: 10485784>
    """
    a = analyse(user_text_norm)
    last = last_user_message(ev)
    chars = len(last.content or "") if last is not None else 0
    return (parameter_signals(ev, estimated_input_tokens(ev, chars)) | turn_signals(ev, user_text_norm)
            | text_signals(user_text_norm, a.tokens, dominant_script(user_text_norm))
            | system_signals(system_norm) | shape_signals(ev, domain_of(a, tools=uses_tools(ev), chars=chars))
            | output_signals(ev.output))
