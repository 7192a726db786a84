"""What makes a small local model usable: a token cap per call type, a short prompt, a
constrained (flat JSON schema) intent reply, and the turn's time budget shown to the user."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from mcp.server.mcpserver import MCPServer
from rich.console import Console

from agent.chat import chat_command, run_chat
from agent.classifier import shared
from agent.focus import Focus, ParseContext
from agent.grounding import reading_problem
from agent.intents import (
    AuditLog,
    Help,
    IntentParser,
    ListModels,
    ModelDetails,
    Parsed,
    Rollback,
    ServingStatus,
    StopCanary,
    Unclear,
)
from agent.llm import (
    ANSWER_MAX_TOKENS,
    INTENT_MAX_TOKENS,
    LLMSettings,
    build_intent_parser,
    intent_schema,
    read_intent,
    response_format,
)
from agent.llm_kind import (
    KIND_CHOICES,
    KIND_MAX_TOKENS,
    KIND_NEIGHBOURS,
    KINDS,
    Examples,
    LLMKind,
    LLMKindParser,
    candidates,
    kind_schema,
    neighbours,
    read_kind,
    reading_of_kind,
)
from agent.mcp_tools import open_registry
from agent.prompts import INTENT_SYSTEM, KIND_EXAMPLES, KIND_SYSTEM, kind_request
from tests.agent.conftest import llm_model, llm_parser, open_agent
from tests.agent.fake_openai import Reply, ScriptedLLM

pytestmark = pytest.mark.anyio


def test_the_intent_prompt_is_short() -> None:
    assert len(INTENT_SYSTEM.split()) <= 170


def test_a_flat_reply_with_nulls_is_read_as_its_intent() -> None:
    flat = '{"kind": "audit", "model": null, "version": null, "since_minutes": 60}'
    assert read_intent(flat) == AuditLog(since_minutes=60)
    assert read_intent('{"kind": "list_models", "stage": "Production", "mode": null}') == (
        ListModels(stage="Production")
    )
    kinds = intent_schema()["properties"]["kind"]["enum"]
    assert {"unsupported", "out_of_scope", "audit", "promote"} <= set(kinds)


def test_the_response_format_setting_is_checked() -> None:
    assert LLMSettings.from_env({}).constrain == "json_schema"  # OpenAI's form
    local = {"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1"}
    assert LLMSettings.from_env(local).constrain == "schema"  # both llama.cpp servers read it
    env = {**local, "MODELREG_AGENT_RESPONSE_FORMAT": "json_schema"}
    assert LLMSettings.from_env(env).constrain == "json_schema"
    env = {"MODELREG_AGENT_RESPONSE_FORMAT": "json_object"}
    assert LLMSettings.from_env(env).constrain == "json_object"
    with pytest.raises(ValueError, match="use json_schema, schema, json_object or none"):
        LLMSettings.from_env({"MODELREG_AGENT_RESPONSE_FORMAT": "grammar"})


def test_each_response_format_has_its_shape() -> None:
    models = ["digits", "mnist-cnn"]
    assert response_format("schema", models) == {
        "type": "json_object",
        "schema": intent_schema(models),
    }
    assert response_format("json_schema", models) == {
        "type": "json_schema",
        "json_schema": {"name": "intent", "schema": intent_schema(models), "strict": False},
    }
    assert response_format("json_object") == {"type": "json_object"}
    assert response_format("none") is None
    assert intent_schema(models)["properties"]["model"] == {"enum": ["digits", "mnist-cnn", None]}


async def test_each_call_type_has_its_token_cap_and_the_intent_is_constrained(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script += [
        Reply(content='{"kind": "question", "text": "why was v2 rolled back?"}'),
        Reply(content="No rollback of digits v2 is in the audit log."),
    ]
    async with open_agent(
        server,
        tmp_path / "cp.sqlite",
        parser=llm_parser(scripted_llm),
        llm=llm_model(scripted_llm),
    ) as agent:
        await agent.conversation.ask("why was digits v2 rolled back?")
    intent_request, answer_request = scripted_llm.requests[:2]
    # OpenAI's name, and the older one local servers read.
    assert intent_request["max_completion_tokens"] == INTENT_MAX_TOKENS
    assert intent_request["max_tokens"] == INTENT_MAX_TOKENS
    # A local server is sent the schema in the form both llama.cpp servers read; the
    # registry's names, as the prompt lists them, are the only models the grammar spells.
    listed = json.loads(scripted_llm.user_messages(0).split("\n")[1])["registry"]["models"]
    assert {"digits", "mnist-classifier"} <= set(listed)
    assert intent_request["response_format"] == {
        "type": "json_object",
        "schema": intent_schema(listed),
    }
    assert answer_request["max_completion_tokens"] == ANSWER_MAX_TOKENS
    assert answer_request["max_tokens"] == ANSWER_MAX_TOKENS
    assert "response_format" not in answer_request


async def test_the_chat_shows_the_turn_budget(server: MCPServer, tmp_path: Path) -> None:
    out = Console(record=True, width=200)

    def done(prompt: str) -> str:
        raise EOFError

    code = await run_chat(
        lambda: open_registry(server),
        checkpoint_path=tmp_path / "cp.sqlite",
        console=out,
        read_line=done,
        parser_label="LLM tiny",
        llm_budget_s=22.0,
    )
    assert code == 0
    assert "each turn waits at most 22 s for it, then the rules read instead" in out.export_text()


@pytest.mark.parametrize(
    ("reply", "said"),
    [
        (
            Reply(content='{"kind": "list_models"}', delay_s=20.0),
            "the language model gave no usable reading within the turn's 1.5 s budget "
            "(TimeoutError)",
        ),
        (
            Reply(content="Sure! Production has two models."),
            "the language model failed (ValueError); retried once",
        ),
    ],
    ids=["slow", "off-format"],
)
async def test_the_user_sees_one_line_when_the_rules_read_instead(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM, reply: Reply, said: str
) -> None:
    scripted_llm.script += [reply, reply]
    settings = LLMSettings(
        base_url=scripted_llm.base_url, model="fake-model", timeout_s=30.0, turn_budget=1.5
    )
    out = Console(record=True, width=300)
    lines = iter(["What models are in production?"])

    def read_line(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    started = time.monotonic()
    code = await run_chat(
        lambda: open_registry(server),
        checkpoint_path=tmp_path / "cp.sqlite",
        parser=build_intent_parser(settings),
        console=out,
        read_line=read_line,
        parser_label="LLM fake-model",
        llm_budget_s=settings.turn_budget_s,
    )
    assert code == 0
    text = out.export_text()
    notes = [line for line in text.splitlines() if line.startswith("note:")]
    assert notes == [f"note: {said}, then used the offline parser"]
    assert "2 model(s) in Production" in text  # the rules' answer
    if reply.delay_s:
        assert time.monotonic() - started < 15.0  # cut by the budget, not the 20 s reply


def test_a_route_or_typo_grounds_the_llm_reading_and_a_guess_does_not() -> None:
    context = ParseContext(
        focus=Focus(),
        models=("mnist-classifier", "mnist-cnn"),
        routes=(("digits", "mnist-classifier"),),
    )
    serving = ServingStatus(model="mnist-classifier")
    assert reading_problem(serving, "what is serving digits?", context) is None
    assert reading_problem(serving, "whats serving on mnsit-classifier", context) is None
    assert reading_problem(serving, "what is serving?", context) == (
        "The language model's reading did not match your words; used the rules."
    )
    rollback = Rollback(model="mnist-classifier")
    assert reading_problem(rollback, "prod is broken roll back digits now", context) is None
    assert reading_problem(rollback, "digits looks broken", context) is not None  # no change
    ghost = ServingStatus(model="ghost")
    assert reading_problem(ghost, "what is serving ghost?", context) == (
        "The language model read a model 'ghost' the registry lacks; used the rules."
    )
    # A change named but not asked for: whoever reads it, the rules decide (and propose nothing).
    for text in (
        "never roll back mnist-classifier",
        "roll back mnist-classifier. just kidding",
        "should we roll back mnist-classifier?",
        "the runbook says roll back mnist-classifier",
    ):
        problem = reading_problem(rollback, text, context)
        assert problem is not None, text
        assert problem.startswith("The language model read a rollback"), text


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"MODELREG_AGENT_TURN_BUDGET": "soon"}, "MODELREG_AGENT_TURN_BUDGET='soon': give a"),
        ({"MODELREG_AGENT_TURN_BUDGET": "0"}, "MODELREG_AGENT_TURN_BUDGET=0.0: input should be"),
        ({"MODELREG_AGENT_LLM_TIMEOUT": "-3"}, "MODELREG_AGENT_LLM_TIMEOUT=-3.0: input should"),
        ({"MODELREG_AGENT_LLM_READS": "all"}, "MODELREG_AGENT_LLM_READS='all': use intent or"),
    ],
)
def test_a_bad_llm_setting_is_one_line_and_starts_nothing(
    tmp_path: Path, env: dict[str, str], said: str
) -> None:
    out = Console(record=True, width=300)
    code = chat_command(tmp_path / "home", None, console=out, env=env)
    assert code == 2
    (line,) = out.export_text().splitlines()
    assert line.startswith(f"error: {said}")
    assert not (tmp_path / "home").exists()


# ------------------------------------------------ reading only the kind (a small model)

KIND_CONTEXT = ParseContext(
    focus=Focus(),
    models=("mnist-classifier", "mnist-cnn"),
    routes=(("digits", "mnist-classifier"),),
)


def kind_parser(
    llm: ScriptedLLM, examples: Examples = "nearest", **settings: float
) -> IntentParser:
    env = {"OPENAI_BASE_URL": llm.base_url, "MODELREG_AGENT_LLM_READS": "kind"}
    update = {"model": "fake-model", "timeout_s": 5.0, "max_retries": 0, **settings}
    chosen = LLMSettings.from_env(env).model_copy(update=update)
    parser = build_intent_parser(chosen, kind_examples=examples)
    assert isinstance(parser, LLMKindParser)
    assert parser.examples == examples
    return parser


async def test_reading_the_kind_asks_to_choose_among_a_few_after_the_nearest_examples(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script += [Reply(content='{"kind": "serving"}')] * 2
    parser = kind_parser(scripted_llm)
    text = "which version of digits is live?"
    parsed = await parser.parse(text, [], KIND_CONTEXT)
    assert parsed == Parsed(intent=ServingStatus(model="mnist-classifier"), source="llm")
    first = scripted_llm.requests[0]
    assert first["max_tokens"] == KIND_MAX_TOKENS
    offered = candidates(text, "serving", shared())
    assert first["response_format"] == {"type": "json_object", "schema": kind_schema(offered)}
    # The rules' kind first, then the classifier's likeliest: a few kinds, not fourteen.
    assert offered[0] == "serving"
    assert len(offered) == len(set(offered)) == KIND_CHOICES
    assert set(offered) <= set(KINDS)
    await parser.parse("is mnist-cnn serving", [], KIND_CONTEXT)
    one, two = (r["messages"] for r in scripted_llm.requests[:2])
    # The instructions are the same prefix every turn (the server reuses its cache); the
    # examples are the corpus's phrasings nearest each message, most alike last.
    assert one[0] == two[0] == {"role": "system", "content": KIND_SYSTEM}
    assert len(one) == 2 + 2 * KIND_NEIGHBOURS
    shown = [(q["content"], a["content"]) for q, a in zip(one[1:-1:2], one[2:-1:2], strict=True)]
    assert shown == [
        (kind_request(example), json.dumps({"kind": kind}))
        for example, kind in neighbours(text, shared())
    ]
    assert one[1:-1] != two[1:-1]
    assert one[-1]["content"] == '<user_message>"which version of digits is live?"</user_message>'


def test_the_nearest_examples_are_from_the_corpus_and_most_alike_last() -> None:
    classifier = shared()
    near = neighbours("roll back fraud-detector right now", classifier)
    assert len(near) == KIND_NEIGHBOURS
    assert near[-1][1] == "rollback"
    ((kind, best),) = classifier.nearest("roll back fraud-detector right now", 1)
    assert near[-1] == (best, kind)
    assert all(kind in KINDS for _, kind in near)  # the corpus's "clarify" is no reply
    corpus = {text for _, text in classifier.nearest("roll back", 10_000)}
    assert {text for text, _ in near} <= corpus
    # Without a kind from the rules, the classifier's three likeliest.
    assert (
        candidates("blah blah", None, classifier)
        == [g.kind for g in classifier.ranked("blah blah") if g.kind in KINDS][:KIND_CHOICES]
    )
    assert candidates("blah", "unclear", classifier, n=1) != ["unclear"]


async def test_fixed_examples_offer_every_kind_after_the_same_prefix(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script += [Reply(content='{"kind": "serving"}')] * 2
    parser = kind_parser(scripted_llm, examples="fixed")
    await parser.parse("which version of digits is live?", [], KIND_CONTEXT)
    await parser.parse("is mnist-cnn serving", [], KIND_CONTEXT)
    first = scripted_llm.requests[0]
    assert first["response_format"] == {"type": "json_object", "schema": kind_schema()}
    assert kind_schema()["properties"]["kind"]["enum"] == list(KINDS)
    one, two = (r["messages"] for r in scripted_llm.requests[:2])
    assert one[:-1] == two[:-1]
    assert len(one) == 2 + 2 * len(KIND_EXAMPLES)


async def test_a_kind_reply_names_no_entity_and_registry_text_never_reaches_it(
    scripted_llm: ScriptedLLM,
) -> None:
    # A kind only: a model or version in the reply is not read (it is not in the schema).
    scripted_llm.script += [Reply(content='{"kind": "model_info", "model": "mnist-cnn"}')]
    parsed = await kind_parser(scripted_llm).parse("show me digits v2", [], KIND_CONTEXT)
    assert parsed.intent == ModelDetails(model="mnist-classifier", version=2)
    assert parsed.source == "llm"
    sent = json.dumps(scripted_llm.requests[0]["messages"])
    assert "registry_data" not in sent
    assert "mnist-cnn" not in sent


async def test_an_agreeing_kind_keeps_the_rules_reading_whole_where_its_words_are_shorthand(
    scripted_llm: ScriptedLLM,
) -> None:
    # The rules read on-call shorthand the LLM's grounding check does not know; checked as
    # the LLM's reading it would be read again, one part only (the rollback lost).
    scripted_llm.script += [Reply(content='{"kind": "stop_canary"}')]
    text = "stop cnry on mnist-classifier + rb to v1!!"
    parsed = await kind_parser(scripted_llm).parse(text, [], KIND_CONTEXT)
    assert parsed.source == "offline"
    assert parsed.note == "the language model read it as stop_canary too; the rules' reading stands"
    assert parsed.intent == StopCanary(model="mnist-classifier")
    assert parsed.also == Rollback(model="mnist-classifier", to_version=1)


async def test_a_kind_other_than_the_rules_reading_is_not_used(scripted_llm: ScriptedLLM) -> None:
    scripted_llm.script += [Reply(content='{"kind": "audit"}')]
    parsed = await kind_parser(scripted_llm).parse("show me digits v2", [], KIND_CONTEXT)
    assert parsed.source == "offline"
    assert parsed.intent == ModelDetails(model="mnist-classifier", version=2)
    assert parsed.note == (
        "the language model read it as audit, the rules as model_info, so used the offline parser"
    )


async def test_where_the_rules_cannot_place_a_message_the_kind_decides_but_never_a_change(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script += [Reply(content='{"kind": "help"}')]
    parser = kind_parser(scripted_llm, examples="fixed")
    parsed = await parser.parse("blah blah", [], KIND_CONTEXT)
    assert (parsed.intent, parsed.source) == (Help(), "llm")
    assert parsed.note == "the language model read it as help; the rules could not place it"
    for change in ("rollback", "promote", "canary", "stop_canary"):
        scripted_llm.script += [Reply(content=json.dumps({"kind": change}))]
        parsed = await parser.parse("blah blah", [], KIND_CONTEXT)
        assert parsed.source == "offline"
        assert isinstance(parsed.intent, Unclear)
        assert parsed.note is not None
        assert "the rules did not read in the message" in parsed.note


async def test_a_follow_up_the_rules_cannot_place_is_not_decided_by_the_llm(
    scripted_llm: ScriptedLLM,
) -> None:
    # The LLM reads the message alone: "same but 20" leans on the conversation before it.
    scripted_llm.script += [Reply(content='{"kind": "help"}')]
    parser = kind_parser(scripted_llm, examples="fixed")
    parsed = await parser.parse("blah blah", ["user: show me mnist-cnn"], KIND_CONTEXT)
    assert parsed.source == "offline"
    assert isinstance(parsed.intent, Unclear)
    assert parsed.note == (
        "the language model read it as help, but it reads no earlier message and this one "
        "follows some, so used the offline parser"
    )


async def test_a_kind_whose_slots_the_message_lacks_is_not_used(
    scripted_llm: ScriptedLLM,
) -> None:
    scripted_llm.script += [Reply(content='{"kind": "compare"}')]
    parser = kind_parser(scripted_llm, examples="fixed")
    parsed = await parser.parse("blah blah", [], KIND_CONTEXT)
    assert parsed.source == "offline"
    assert parsed.note == (
        "the language model read it as compare, which the message does not complete, so used "
        "the offline parser"
    )


@pytest.mark.parametrize(
    ("replies", "said"),
    [
        (
            [Reply(content='{"kind": "archive"}'), Reply(content="list_models")],
            "the language model named no kind (not a kind offered: 'archive'); retried once",
        ),
        (
            [Reply(content='{"kind": "help"}', delay_s=20.0)] * 2,
            "the language model gave no usable reading within the turn's 1.5 s budget "
            "(TimeoutError)",
        ),
    ],
    ids=["off-format", "slow"],
)
async def test_an_unusable_kind_reply_leaves_the_rules_reading_with_one_note(
    scripted_llm: ScriptedLLM, replies: list[Reply], said: str
) -> None:
    scripted_llm.script += replies
    parser = kind_parser(scripted_llm, timeout_s=30.0, turn_budget=1.5)
    started = time.monotonic()
    parsed = await parser.parse("what models are in production?", [], KIND_CONTEXT)
    assert parsed.intent == ListModels(stage="Production")
    assert (parsed.source, parsed.note) == ("offline", f"{said}, so used the offline parser")
    assert time.monotonic() - started < 15.0


def test_the_reading_setting_is_checked() -> None:
    assert LLMSettings.from_env({}).reading == "intent"
    assert LLMSettings.from_env({"MODELREG_AGENT_LLM_READS": "kind"}).reading == "kind"
    with pytest.raises(ValueError, match="MODELREG_AGENT_LLM_READS='slots': use intent or kind"):
        LLMSettings.from_env({"MODELREG_AGENT_LLM_READS": "slots"})
    assert read_kind('```json\n{"kind": "audit"}\n```') == "audit"
    with pytest.raises(ValueError, match="not a kind offered: 'question'"):
        read_kind('{"kind": "question"}')
    # A server that ignores the schema can name a kind that was not offered: not read.
    with pytest.raises(ValueError, match="not a kind offered: 'audit'"):
        read_kind('{"kind": "audit"}', ["serving", "model_info"])


async def test_a_chat_turn_reading_the_kind_answers_from_the_registry(
    server: MCPServer, tmp_path: Path, scripted_llm: ScriptedLLM
) -> None:
    scripted_llm.script += [Reply(content='{"kind": "list_models"}')]
    env = {
        "OPENAI_BASE_URL": scripted_llm.base_url,
        "MODELREG_AGENT_MODEL": "fake-model",
        "MODELREG_AGENT_LLM_READS": "kind",
    }
    settings = LLMSettings.from_env(env)
    out = Console(record=True, width=300)
    lines = iter(["What models are in production?"])

    def read_line(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    code = await run_chat(
        lambda: open_registry(server),
        checkpoint_path=tmp_path / "cp.sqlite",
        parser=build_intent_parser(settings),
        console=out,
        read_line=read_line,
        parser_label="LLM fake-model",
        llm_budget_s=settings.turn_budget_s,
    )
    assert code == 0
    text = out.export_text()
    assert "2 model(s) in Production" in text
    assert not [line for line in text.splitlines() if line.startswith("note:")]
    assert len(scripted_llm.requests) == 1  # one call a turn


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_reads_only_names_the_message_gives(kind: LLMKind) -> None:
    for text in ("blah blah", "tell me about digits v2", "what about ghost-model?"):
        intent = reading_of_kind(kind, text, KIND_CONTEXT)
        model = getattr(intent, "model", None)
        assert model in (None, "mnist-classifier"), (kind, text, intent)
        if "ghost" in text:
            assert isinstance(intent, Unclear)  # a name the registry lacks is never read
            assert intent.unknown == "ghost-model"
        if kind in ("promote", "rollback", "canary", "stop_canary"):
            assert isinstance(intent, Unclear)  # a change comes only from the rules' reading
