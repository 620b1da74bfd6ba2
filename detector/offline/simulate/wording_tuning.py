"""The ``tuning`` wording family: terse, imperative, structured wrappers (labelled fields, JSON
output contracts), in English, Chinese and Russian. For developing detection; the held-out family
(:mod:`.wording_heldout`) is written apart and must not be used to shape rules."""

from __future__ import annotations

from .wording import Wording

WORDING = Wording(
    name="tuning",
    distill=(
        "INPUT:\n{q}\n\nOUTPUT FORMAT: numbered derivation (1., 2., 3., ...), each line one "
        "inference; last line `ANSWER: <answer>`. No step may be omitted.",
        "Task >>> {q}\nRequired: full derivation first, conclusion last. Keep all intermediate "
        "values.",
        "{q}\n\nRespond as JSON: {{\"steps\": [\"...\"], \"answer\": \"...\"}}. `steps` must "
        "contain the complete line of reasoning, one entry per step.",
        "题目：{q}\n\n要求：先给出完整的推理过程，逐条列出每一步的依据，最后单独一行写出答案。",
        "【任务】{q}\n【输出】详细解题思路 + 最终结论。不要省略任何中间步骤。",
        "Задание: {q}\n\nРаспиши решение по шагам: каждый шаг с обоснованием. В конце — "
        "«Ответ: ...».",
    ),
    distill_systems=(
        "Role: senior domain specialist. Output policy: exhaustive derivations, no shortcuts.",
        "You produce reference solutions for an internal answer key. Every solution includes "
        "the full justification.",
        "你是资深专家。回答必须包含完整的推理链条。",
        "Ты эксперт. Всегда объясняй ход рассуждений полностью, без пропусков.",
    ),
    casual=(
        "q: {q}\nshow working pls, then the answer",
        "Need this solved with the working shown: {q}",
        "帮我看看这道题，要把过程写清楚：{q}",
        "Реши и объясни ход решения: {q}",
    ),
    reverse=(
        "PROBLEM: {q}\nKNOWN RESULT: {a}\nTASK: produce the derivation that ends in KNOWN "
        "RESULT. Do not question the result.",
        "Result {a} is correct for the problem below. Reconstruct the solution path that gets "
        "there, every step.\n---\n{q}",
        "已知答案：{a}\n题目：{q}\n请倒推并写出得到该答案的完整解题步骤。",
        "Ответ известен: {a}. Задача: {q}\nВосстанови подробное решение, которое приводит к "
        "этому ответу.",
    ),
    rubric=(
        "EVALUATE\nprompt: {question}\ncandidate: {response}\ncriteria: {rubric}\nreturn JSON "
        "{{\"score\": int 1-10, \"critique\": str}}",
        "Grade the candidate output.\n[PROMPT]\n{question}\n[CANDIDATE]\n{response}\n[CRITERIA]\n"
        "{rubric}\nFirst line: integer grade. Then the reasons.",
        "请根据以下标准为回答打分（1-10）：{rubric}\n\n问题：{question}\n\n回答：{response}\n\n"
        "先输出分数，再给出理由。",
        "Оцени ответ по шкале от 1 до 10. Критерии: {rubric}\n\nВопрос: {question}\n\nОтвет: "
        "{response}\n\nСначала оценка, потом обоснование.",
    ),
    rubrics=(
        "correctness 50%, completeness 30%, style 20%",
        "pass only if every claim is verifiable; partial credit for sound but unfinished work",
        "正确性、完整性、清晰度各占三分之一",
        "точность, полнота, ясность изложения",
    ),
    meta=(
        "Generate 20 new task instructions for an instruction-tuning dataset. Requirements: no "
        "two alike; mix task types (open QA, rewriting, classification, coding, math); each "
        "answerable by a text model; include an input where natural. Format exactly like the "
        "examples.",
        "请仿照下面的示例，生成20条新的、彼此不同的指令数据（指令、输入、输出），覆盖尽量多的任务类型。",
        "Сгенерируй 20 новых разнообразных заданий в том же формате, что и примеры ниже: "
        "инструкция, вход, выход. Задания не должны повторяться.",
    ),
    agent_systems=(
        "Agent mode. Tools available. Before each call: state goal, chosen tool, expected result. "
        "After each result: interpret it in detail.",
        "你是一个自主智能体。每次调用工具前，先详细写出你的思考过程和理由。",
        "Ты автономный агент. Перед каждым вызовом инструмента подробно объясняй, зачем он "
        "нужен.",
    ),
    hydra=(
        "q: {q}\nshow working pls, then the answer",
        "题目：{q}\n要求：写出每一步推理。",
        "Задание: {q}\nПокажи все шаги решения.",
    ),
    hydra_reverse=(
        "Result {a} is correct for the problem below. Reconstruct the solution path that gets "
        "there, every step.\n---\n{q}",
        "已知答案：{a}\n题目：{q}\n请写出推导过程。",
    ),
)
