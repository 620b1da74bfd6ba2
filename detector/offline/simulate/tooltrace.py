"""Tool-use transcripts: a real coding agent's session versus a fabricated one.

* :class:`Workspace` + :class:`CodingSession` model an agentic coding tool (Claude-Code-like)
  working in a live repository: the same file paths recur across a key's sessions, tool results
  are file contents, real-looking ``pytest`` output, tracebacks and ``git`` output, and the number
  of failing tests goes down as the agent edits (persistent environment state).
* :func:`synthetic_transcript` models harvested tool-use traces: a task, then tool calls over a
  wide catalogue of unrelated tool schemas whose results are templated JSON with no state carried
  from one step to the next.

Tool calls appear in logged ``assistant`` content as ``[tool_use NAME] {json args}`` because the
gateway flattens content blocks into one string.
"""

from __future__ import annotations

import random

from .corpora import TextBank
from .records import Message, assistant, tool, user

CODE_TOOLS = ("Task", "Bash", "Glob", "Grep", "LS", "Read", "Edit", "MultiEdit", "Write",
              "NotebookRead", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput",
              "KillShell", "ExitPlanMode")
MCP_TOOLS = tuple(f"mcp__{server}__{op}" for server, ops in (
    ("github", ("create_pull_request", "get_issue", "list_commits", "add_comment", "search_code")),
    ("linear", ("get_issue", "update_issue", "list_projects")),
    ("postgres", ("query", "list_tables", "describe_table")),
    ("sentry", ("get_event", "list_issues")),
    ("playwright", ("navigate", "click", "screenshot", "fill", "evaluate")),
    ("slack", ("post_message", "read_channel")),
) for op in ops)
SYNTHETIC_TOOLS = ("search_web", "fetch_url", "read_file", "write_file", "list_dir", "run_python",
                   "run_shell", "query_database", "send_email", "create_ticket", "calculator",
                   "get_weather", "translate_text", "http_request", "git_commit", "git_diff",
                   "open_browser", "click_element", "type_text", "take_screenshot", "get_stock_price",
                   "create_calendar_event", "search_docs", "summarize_url", "extract_table",
                   "resize_image", "ocr_image", "geocode", "convert_units", "lookup_user",
                   "update_record", "delete_record", "list_records", "schedule_job", "sql_explain",
                   "compile_code", "lint_code", "format_code", "run_tests", "deploy_service",
                   "k8s_get_pods", "k8s_logs", "aws_s3_list", "aws_s3_get", "jira_search",
                   "notion_search", "vector_search", "rerank", "embed_text", "code_search")

_PKGS = ("billing", "ingest", "auth", "reports", "scheduler", "search", "notify", "api", "core")
_MODS = ("parser", "models", "client", "utils", "handlers", "cache", "validators", "service",
         "serializers", "config", "routes", "tasks")
_REPOS = ("acme-web", "ledger", "pipeline", "dashboard", "mobile-api", "infra-tools", "docs-site",
          "payments", "data-platform", "cli")
_NARRATION = ("Let me look at {path} first.", "I'll run the tests to see what's failing.",
              "Now let me fix the failing assertion in {path}.", "Let me search for usages.",
              "I'll check the git status before going further.", "Let me re-run the test suite.",
              "Updating {path} to handle the empty case.", "Let me check how this is imported.")


class Workspace:
    """One developer's repository: stable paths that every session of the key works in."""

    def __init__(self, rng: random.Random, user_name: str) -> None:
        self.repo = rng.choice(_REPOS)
        self.root = f"/home/{user_name}/src/{self.repo}"
        pkg = rng.sample(_PKGS, 3)
        self.sources = [f"src/{p}/{m}.py" for p in pkg for m in rng.sample(_MODS, 4)]
        self.tests = [f"tests/{p}/test_{m.split('/')[-1]}" for p in pkg
                      for m in rng.sample(self.sources, 2)]
        self.tests = sorted(set(self.tests))
        self.n_tests = rng.randint(40, 900)

    def system_prompt(self, base: str) -> str:
        return (f"{base}\n\n<env>\nWorking directory: {self.root}\nIs directory a git repo: Yes\n"
                f"Platform: linux\n</env>")


class CodingSession:
    """A task worked on step by step in a :class:`Workspace`, with state that carries over."""

    def __init__(self, rng: random.Random, ws: Workspace, bank: TextBank) -> None:
        self.ws = ws
        self.bank = bank
        self.failing = rng.randint(1, 6)
        self.focus = rng.choice(ws.sources)
        self.test = rng.choice(ws.tests)
        self.code = bank.pick("humaneval" if rng.random() < 0.5 else "codegen", rng)

    def opening(self, rng: random.Random) -> Message:
        if rng.random() < 0.5:
            text = (f"In {self.focus}, implement the following and make the tests in {self.test} "
                    f"pass:\n\n{self.code.text}")
        else:
            text = (f"{self.code.text}\n\nPut it in {self.focus}, add tests, and run the test suite "
                    f"when you are done.")
        return user(text)

    def step(self, rng: random.Random) -> list[Message]:
        """One tool call by the agent and the environment's result."""
        action = rng.random()
        path = self.focus if rng.random() < 0.6 else rng.choice(self.ws.sources)
        say = rng.choice(_NARRATION).format(path=path)
        if action < 0.3:
            call, result = f'[tool_use Read] {{"file_path": "{self.ws.root}/{path}"}}', \
                self._file(rng, path)
        elif action < 0.55:
            call = f'[tool_use Bash] {{"command": "python -m pytest -q {self.test}"}}'
            result = self._pytest(rng)
        elif action < 0.75:
            call = (f'[tool_use Edit] {{"file_path": "{self.ws.root}/{path}", '
                    f'"old_string": "...", "new_string": "..."}}')
            result = f"The file {self.ws.root}/{path} has been updated."
            if self.failing and rng.random() < 0.6:
                self.failing -= 1
        elif action < 0.85:
            name = self.code.group or "helper"
            call = f'[tool_use Grep] {{"pattern": "{name}", "path": "src"}}'
            result = "\n".join(f"{p}:{rng.randint(3, 400)}:    {name}(" for p in
                               rng.sample(self.ws.sources, rng.randint(1, 4)))
        elif action < 0.93:
            call = '[tool_use Bash] {"command": "git status --short && git diff --stat"}'
            result = (f" M {self.focus}\n M {self.test}\n {self.focus} | {rng.randint(2, 60)} "
                      f"++++--\n {self.test} | {rng.randint(2, 30)} +++-\n 2 files changed")
        else:
            call = f'[tool_use Bash] {{"command": "python -c \'import {path[4:-3].replace("/", ".")}\'"}}'
            result = self._traceback(rng, path)
        return [assistant(f"{say}\n{call}"), tool(result)]

    def _file(self, rng: random.Random, path: str) -> str:
        body = self.code.text if rng.random() < 0.5 else self.bank.pick("humaneval", rng).text
        lines = [f"import logging\nfrom typing import Any\n\nlog = logging.getLogger(__name__)\n",
                 body, "    # TODO: handle empty input\n    raise NotImplementedError\n"]
        text = "\n".join(lines)
        return "\n".join(f"{i:>6}\t{ln}" for i, ln in enumerate(text.splitlines(), 1))[:3000]

    def _pytest(self, rng: random.Random) -> str:
        passed = self.ws.n_tests - self.failing
        if not self.failing:
            return f"{'.' * min(passed, 60)}\n{passed} passed in {rng.uniform(0.4, 30):.2f}s"
        name = f"test_{(self.code.group or 'case').lower()}_{rng.randint(1, 9)}"
        return (f"{'.' * 20}F{'.' * 12}\n=================================== FAILURES "
                f"===================================\n___________ {name} ___________\n\n"
                f"    def {name}():\n>       assert {self.code.group or 'result'}([1, 2, 3]) == "
                f"[1, 3, 6]\nE       assert [1, 2, 3] == [1, 3, 6]\n\n{self.test}:"
                f"{rng.randint(5, 200)}: AssertionError\n=========================== short test "
                f"summary info ===========================\nFAILED {self.test}::{name}\n"
                f"{self.failing} failed, {passed} passed in {rng.uniform(0.4, 30):.2f}s")

    def _traceback(self, rng: random.Random, path: str) -> str:
        return (f"Traceback (most recent call last):\n  File \"{self.ws.root}/{path}\", line "
                f"{rng.randint(1, 300)}, in <module>\n    from .{rng.choice(_MODS)} import "
                f"{self.code.group or 'Config'}\nImportError: cannot import name "
                f"'{self.code.group or 'Config'}' (most likely due to a circular import)")


def synthetic_transcript(rng: random.Random, bank: TextBank, steps: int,
                         tools: tuple[str, ...]) -> list[Message]:
    """A fabricated tool-use trace: a task, then ``steps`` calls with templated JSON results."""
    task = bank.pick("toolformer" if rng.random() < 0.4 else "codegen", rng)
    messages = [user(task.text)]
    for _ in range(steps):
        name = tools[int(rng.random() * len(tools))]
        messages.append(assistant(f'[tool_use {name}] {{"input": "{task.group or "query"}", '
                                  f'"step": {len(messages) // 2}}}'))
        messages.append(tool(f'{{"status": "success", "tool": "{name}", "result": '
                             f'"{bank.prose.text(rng, rng.randint(60, 300))}"}}'))
    return messages
