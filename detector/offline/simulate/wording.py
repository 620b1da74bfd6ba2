"""Campaign wording: the text a harvester wraps around the content it harvests.

A :class:`Wording` family holds every wrapper a campaign needs (chain-of-thought requests, system
prompts demanding explanations, reverse rationalisation, grader rubrics, instruction-generation
meta-prompts, agent system prompts). Three families exist, selected by name:

* ``classic`` — today's wording (this module); the default, byte-identical to earlier simulations.
* ``tuning`` — :mod:`.wording_tuning`, for developing detection rules.
* ``heldout`` — :mod:`.wording_heldout`, for scoring only. Written apart from the tuning family in
  other styles and languages; whoever tunes detection should not read it.

Families are imported lazily by :func:`family`, so loading one never loads another.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

FAMILIES: tuple[str, ...] = ("classic", "tuning", "heldout")


@dataclass(frozen=True, slots=True)
class Wording:
    """One family of wrappers. Placeholders: ``{q}`` the harvested item, ``{a}`` its final answer,
    ``{rubric}``/``{question}``/``{response}`` for graders. ``meta`` empty means the campaign uses
    the corpus' own meta-prompt (the Alpaca prompt)."""

    name: str
    distill: tuple[str, ...]          # {q}: "solve and show every step"
    distill_systems: tuple[str, ...]  # system prompts demanding explanations
    casual: tuple[str, ...]           # {q}: a lighter CoT ask (low-volume campaigns)
    reverse: tuple[str, ...]          # {q} {a}: "here is the answer, write the reasoning"
    rubric: tuple[str, ...]           # {rubric} {question} {response}: the model as a grader
    rubrics: tuple[str, ...]
    meta: tuple[str, ...]             # instruction-generation meta-prompts (before seed examples)
    agent_systems: tuple[str, ...]    # tool-use trace harvesting
    hydra: tuple[str, ...]            # {q}: the hydra's CoT skeletons
    hydra_reverse: tuple[str, ...]    # {q} {a}: the hydra's reverse skeletons


def choose(rng: random.Random, options: Sequence[str]) -> str:
    """One of ``options``; draws from ``rng`` only when there is a choice (so one-option families
    leave the random stream, and hence every later byte, unchanged)."""
    return options[0] if len(options) == 1 else options[int(rng.random() * len(options))]


CLASSIC = Wording(
    name="classic",
    distill=("### Task\n{q}\n\n### Instructions\nSolve the task above. Think step by step and write "
             "out every intermediate step of your reasoning in full detail. Then give the final "
             "answer on its own line, starting with 'Final answer:'.",),
    distill_systems=("You are a world-class expert problem solver. Be rigorous and complete.",),
    casual=("Please answer the question below. Reason through it step by step, explaining each "
            "step fully, and then state the final answer.\n\nQuestion: {q}",),
    reverse=("Here is a problem and its final answer.\n\nProblem: {q}\n\nFinal answer: {a}\n\n"
             "Write out, step by step, the reasoning that leads to it.",),
    rubric=("Score the following response on a scale of 1 to 10 according to this rubric: "
            "{rubric}\n\nQuestion: {question}\n\nResponse: {response}\n\nReturn the score on the "
            "first line, then a one-paragraph justification.",),
    rubrics=(
        "1 = wrong or irrelevant; 4 = partially correct; 7 = correct with minor gaps; 10 = correct, "
        "complete and clearly explained.",
        "helpfulness (0-4) + factual accuracy (0-3) + clarity (0-3).",
        "start from 10; deduct 2 points per factual error and 1 point per unclear or missing step.",
    ),
    meta=(),
    agent_systems=("You are an autonomous software engineering agent. Use the provided tools to "
                   "complete the task. Think step by step before every tool call and explain your "
                   "reasoning in detail.",),
    hydra=("Question: {q}\n\nThink through this carefully, step by step. Show every intermediate "
           "step of your reasoning before giving the final answer.",),
    hydra_reverse=("Problem: {q}\nCorrect answer: {a}\n\nExplain in detail, step by step, how one "
                   "arrives at this answer.",),
)


def family(name: str) -> Wording:
    """The wording family ``name`` (``classic``, ``tuning`` or ``heldout``); ValueError otherwise."""
    if name == "classic":
        return CLASSIC
    if name not in FAMILIES:
        raise ValueError(f"unknown wording {name!r}; expected one of {', '.join(FAMILIES)}")
    module = importlib.import_module(f"{__package__}.wording_{name}")
    return module.WORDING  # type: ignore[no-any-return]
