"""The terminal chat: ask the registry, review proposals, approve or deny them.

``run_chat`` takes its session factory, console and input function as arguments so tests
drive it end to end; ``chat_command`` builds the real ones (``modelreg mcp`` over stdio, the
LLM from the environment, checkpoints under the data home) for the CLI.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import sys
import termios
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
from langchain_core.language_models import BaseChatModel
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from agent import answers
from agent.checkpoint import open_checkpointer
from agent.context import AgentContext
from agent.conversation import Conversation, TurnResult
from agent.errors import DecisionRejected, RegistryUnavailable
from agent.graph import build_graph
from agent.intents import IntentParser
from agent.llm import LLMSettings, build_chat_model, build_intent_parser
from agent.mcp_tools import RegistryTools, open_registry, stdio_target
from agent.offline_parser import OfflineParser
from agent.state import Answer, ApprovalRequest

ReadLine = Callable[[str], str]
"""Shows a prompt and returns one line; raises EOFError when input ends."""
SessionFactory = Callable[[], AbstractAsyncContextManager[RegistryTools]]

PROMPT = "you> "
_STYLE = {
    "info": "cyan",
    "recommendation": "green",
    "result": "green",
    "error": "red",
    "help": "blue",
}
#: Only the whole word approves (a stray "a" or "y" must not move a stage); deny and edit
#: change nothing, so their first letters are enough.
_CHOICES = {
    "approve": "approve",
    "d": "deny",
    "deny": "deny",
    "e": "edit",
    "edit": "edit",
}


class _Quit(Exception):
    """The user typed /quit (or input ended)."""


async def _read_in_background(read_line: ReadLine, prompt: str) -> str:
    """Run a blocking input function in a daemon thread: input() cannot be cancelled, and
    Ctrl-C or leaving the chat must not wait for the user to press Enter."""
    token = anyio.lowlevel.current_token()
    done = anyio.Event()
    box: list[str | EOFError | OSError | ValueError] = []

    def work() -> None:
        # Ctrl-C goes to the main thread only: readline, reading here, would otherwise catch
        # SIGINT in this thread at some moments and the chat would not leave.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            box.append(read_line(prompt))
        except (EOFError, OSError, ValueError) as exc:  # end of input, closed terminal
            box.append(exc)
        with contextlib.suppress(anyio.RunFinishedError):
            anyio.from_thread.run_sync(done.set, token=token)

    threading.Thread(target=work, name="chat-input", daemon=True).start()
    await done.wait()
    if not box:
        raise EOFError  # the input function failed in an unexpected way
    result = box[0]
    if isinstance(result, BaseException):
        raise result
    return result


class _Chat:
    def __init__(self, conversation: Conversation, console: Console, read_line: ReadLine) -> None:
        self.conv = conversation
        self.console = console
        self.read_line = read_line

    async def read(self, prompt: str) -> str:
        try:
            line = await _read_in_background(self.read_line, prompt)
        except EOFError:
            raise _Quit from None
        if line.strip().lower() in ("/quit", "/exit", "/q"):
            raise _Quit
        return line.strip()

    def show(self, answer: Answer) -> None:
        self.console.print(
            Panel(Text(answer.text), title=Text(answer.title), border_style=_STYLE[answer.kind])
        )

    async def loop(self) -> None:
        waiting = await self.conv.pending()
        if waiting is not None:
            self.console.print(Text(f"Thread {self.conv.thread_id} has an approval waiting."))
            await self.handle(await self.decide(waiting))
        while True:
            line = await self.read(PROMPT)
            if not line:
                continue
            if line.startswith("/"):
                await self.command(line)
                continue
            await self.handle(await self.conv.ask(line))

    async def handle(self, result: TurnResult) -> None:
        while result.approval is not None:
            result = await self.decide(result.approval)
        if result.parse_note:
            self.console.print(Text(f"note: {result.parse_note}", style="dim"))
        if result.answer is not None:
            self.show(result.answer)

    async def decide(self, request: ApprovalRequest) -> TurnResult:
        proposal = request.proposal
        self.console.print(
            Panel(
                Text(answers.proposal_text(proposal)),
                title=Text(
                    f"Approval needed: {proposal.kind} {proposal.model} v{proposal.version}"
                ),
                border_style="yellow",
            )
        )
        if request.problem:
            self.console.print(
                Text(f"Your last answer was refused: {request.problem}", style="red")
            )
        allowed = "/".join(proposal.allowed_decisions)
        while True:
            choice = _CHOICES.get(
                (await self.read(f"Decision ({allowed}, /quit to decide later)> ")).lower()
            )
            if choice is None or choice not in proposal.allowed_decisions:
                self.console.print(Text(f"Please answer one of: {allowed}."))
                continue
            prompt = {
                "approve": "Approval note (optional)> ",
                "deny": "Reason for denying> ",
                "edit": "New rationale (you will be asked to approve or deny again)> ",
            }[choice]
            raw = {"kind": choice, "rationale": await self.read(prompt)}
            try:
                return await self.conv.decide(raw)
            except DecisionRejected as exc:  # e.g. an empty edit or a note that is too long
                self.console.print(Text(exc.reason, style="red"))

    async def command(self, line: str) -> None:
        name = line.split()[0].lower()
        if name == "/help":
            self.show(answers.help_answer())
        elif name == "/history":
            turns = await self.conv.history()
            text = "\n".join(f"{t.role}: {t.text}" for t in turns) or "(nothing yet)"
            self.show(Answer(kind="info", title=f"History of {self.conv.thread_id}", text=text))
        elif name == "/thread":
            self.console.print(Text(f"Thread: {self.conv.thread_id}"))
        else:
            self.console.print(Text(f"Unknown command {name}; try /help."))


async def run_chat(
    open_session: SessionFactory,
    *,
    checkpoint_path: Path,
    thread_id: str | None = None,
    parser: IntentParser | None = None,
    console: Console | None = None,
    read_line: ReadLine | None = None,
    latency_sla_ms: float | None = None,
    parser_label: str = "offline parser",
    llm: BaseChatModel | None = None,
    resume_command: str | None = None,
    llm_budget_s: float | None = None,
) -> int:
    """Run the chat until /quit or end of input; 0 on a clean exit, 1 if the registry is
    down. A pending approval stays in the checkpoint and resumes with the same thread id."""
    console = console or Console()
    read_line = read_line or console.input
    thread = thread_id or f"chat-{datetime.now():%Y%m%d-%H%M%S}"
    budget = (
        f" (each turn waits at most {llm_budget_s:g} s for it, then the rules read instead)"
        if llm_budget_s is not None
        else ""
    )
    console.print(
        Panel(
            Text(
                f"Thread {thread} (resume with --thread {thread}); intents by {parser_label}"
                f"{budget}.\n"
                "Ask about models, or propose a promotion or rollback. /help for examples, "
                "/quit to leave."
            ),
            title="modelreg chat",
        )
    )
    try:
        async with open_session() as tools, open_checkpointer(checkpoint_path) as saver:
            ctx = AgentContext(
                tools=tools,
                parser=parser or OfflineParser(),
                latency_sla_ms=latency_sla_ms,
                llm=llm,
                llm_label=parser_label if llm is not None else "the language model",
                llm_deadline_s=llm_budget_s or 60.0,
            )
            chat = _Chat(
                Conversation(build_graph(ctx, checkpointer=saver), thread), console, read_line
            )
            with contextlib.suppress(_Quit):
                await chat.loop()
            if await chat.conv.pending() is not None:
                console.print(Text(waiting_elsewhere(thread, resume_command)))
    except RegistryUnavailable as exc:
        console.print(Panel(Text(str(exc)), title="Registry unavailable", border_style="red"))
        return 1
    console.print(Text("Bye."))
    return 0


def waiting_elsewhere(thread: str, resume_command: str | None) -> str:
    """Where an approval left undecided in the chat waits, and how to act on it: in the chat's
    thread, not among the registry's proposals (``modelreg approvals list``)."""
    command = resume_command or f"modelreg chat --thread {shlex.quote(thread)}"
    return (
        f"The approval stays pending in chat thread {thread}; nothing was sent to the registry, "
        "so `modelreg approvals list` does not show it. To approve or deny it, run: "
        f"{command}"
    )


def default_home(env: Mapping[str, str]) -> Path:
    """The data home as the registry finds it: MODELREG_HOME, else ~/.modelreg."""
    value = env.get("MODELREG_HOME")
    return (Path(value) if value else Path.home() / ".modelreg").expanduser().resolve()


def chat_command(
    home: Path | None,
    thread: str | None,
    *,
    actor: str | None = None,
    console: Console | None = None,
    read_line: ReadLine | None = None,
    env: Mapping[str, str] | None = None,
    mode: str = "auto",
) -> int:
    """`modelreg chat`: the registry over stdio (`modelreg [--home] mcp`), the LLM
    when OPENAI_API_KEY / OPENAI_BASE_URL is set, checkpoints in
    <home>/agent/checkpoints.sqlite. ``actor`` is the approver the audit trail records
    (default: the server's MODELREG_ACTOR or OS user). Returns the process exit code."""
    env = os.environ if env is None else env
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history for input())
    try:
        settings = LLMSettings.from_env(env)
    except ValueError as exc:  # a malformed MODELREG_AGENT_* / OPENAI_* variable
        (console or Console()).print(Text(f"error: {exc}", style="red"))
        return 2
    target = stdio_target(home, actor=actor, env=env)
    checkpoint = (home.expanduser().resolve() if home else default_home(env)) / "agent"
    thread = thread or f"chat-{datetime.now():%Y%m%d-%H%M%S}"
    where = f"--home {shlex.quote(str(home))} " if home is not None else ""
    resume = f"modelreg {where}chat --thread {shlex.quote(thread)}"
    run = functools.partial(
        run_chat,
        lambda: open_registry(target, mode=mode),
        checkpoint_path=checkpoint / "checkpoints.sqlite",
        thread_id=thread,
        parser=build_intent_parser(settings),
        console=console,
        read_line=read_line,
        parser_label=f"LLM {settings.model}" if settings.enabled else "offline parser",
        llm_budget_s=settings.turn_budget_s if settings.enabled else None,
        llm=build_chat_model(settings),
        resume_command=resume,
    )
    terminal = _terminal_state()
    if terminal is not None and signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # Started with SIGINT ignored (e.g. from a background job): at a terminal, Ctrl-C
        # must still leave the chat.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return anyio.run(run)
    except (KeyboardInterrupt, BaseExceptionGroup) as exc:
        # Ctrl-C can surface wrapped in the MCP client's task groups.
        if not _interrupted(exc):
            raise
        _restore_terminal(terminal)  # readline may have been mid-line (echo off)
        (console or Console()).print(
            Text(
                "Interrupted; a pending approval stays pending. "
                + waiting_elsewhere(thread, resume)
            )
        )
        return 130


_TermState = list[Any]  # termios' attribute list


def _terminal_state() -> _TermState | None:
    try:
        return termios.tcgetattr(sys.stdin.fileno())
    except (termios.error, OSError, ValueError):
        return None  # not a terminal


def _restore_terminal(state: _TermState | None) -> None:
    if state is not None:
        with contextlib.suppress(termios.error, OSError, ValueError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, state)


def _interrupted(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_interrupted(inner) for inner in exc.exceptions)
    return isinstance(exc, KeyboardInterrupt)
