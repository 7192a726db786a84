"""What the conversation is about: the model, version and proposal under discussion.

Checkpointed with the thread, so "it", "that version" or "the previous one" in a later turn
(even after a restart) resolve against it. Only the agent's own typed readings and the
registry's structured results set it, never free text from the registry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class NextPage(_Frozen):
    """The rest of the last long list: "more" asks for it."""

    kind: Literal["list_models", "audit"]
    cursor: str
    stage: str | None = None
    task: str | None = None
    model: str | None = None


class ProposalRef(_Frozen):
    kind: Literal["promote", "rollback", "canary", "stop_canary"]
    model: str
    version: int
    status: str = "waiting"
    """waiting, applied, denied, cancelled, pending, failed, already_done."""
    mode: Literal["split", "shadow"] | None = None
    """A canary's mode: "make it 50%" after a shadow canary keeps it a shadow."""
    guard: bool = False
    """A guarded promotion: "staging first" right after it keeps the guard."""


class PartialChange(_Frozen):
    """A change asked for with one thing missing ("promote v4": which model?, "canary x v2":
    what share?): the chat asks for it, and a next message that only gives it ("mnist-cnn",
    "20 percent") completes this change. Completed, it is still only proposed."""

    kind: Literal["promote", "rollback", "canary", "stop_canary"]
    missing: Literal["model", "version", "percent"]
    model: str | None = None
    version: int | None = None
    stage: Literal["Production", "Staging"] | None = None
    percent: float | None = None
    mode: Literal["split", "shadow"] | None = None
    to_version: int | None = None


class Topic(_Frozen):
    """The slots of the last request read: a follow-up keeps those it does not name ("and for
    regression?" keeps the goal, "same for mnist-cnn" the time window, "stop it" after a
    question about a canary stops that canary)."""

    kind: str | None = None
    model: str | None = None
    task: str | None = None
    goal: str | None = None
    max_latency_ms: float | None = None
    since_minutes: int | None = None
    stage: str | None = None
    percent: float | None = None
    against: int | None = None
    """The baseline of a comparison ("what about v4?" after "v3 with v2" keeps v2)."""
    canary: bool = False
    """The request was about a canary (started, changed, stopped or asked about)."""
    unknown: str | None = None
    """A name the last request gave that the registry lacks: "promote it" then is about
    that name (said not to exist), never about a model discussed before it."""
    partial: PartialChange | None = None
    """The change the chat just asked to complete; only the next message can complete it."""
    heard: tuple[str, ...] = ()
    """Models the message said only as they sound ("the amnesty classifier")."""

    @field_validator("heard", mode="before")
    @classmethod
    def _older_checkpoint(cls, value: object) -> object:
        """A conversation checkpointed by an earlier release kept a flag here: no names."""
        return () if isinstance(value, bool) or value is None else value

    named: tuple[str, ...] = ()
    """Models the message said by name, typo, part or route."""


class Focus(_Frozen):
    model: str | None = None
    version: int | None = None
    previous_version: int | None = None
    """The version of ``model`` discussed before ``version`` ("the previous one")."""
    proposal: ProposalRef | None = None
    next_page: NextPage | None = None
    asked: str | None = None
    """The kind of the last question answered ("list_models"): "and production?" repeats it."""
    topic: Topic = Topic()
    """The slots of the last request read (see ``Topic``)."""
    heard_model: str | None = None
    """A model the conversation only heard by its sound, until a message names it: a change
    that leans on it asks for the name instead of proposing."""

    def only_heard(self, model: str | None) -> bool:
        """``model`` is the one under discussion and was only heard by its sound."""
        return model is not None and model == self.model == self.heard_model

    def on(self, model: str | None, version: int | None = None) -> Focus:
        """The focus moved to ``model`` (and ``version``, if known)."""
        if model is None:
            return self
        if model != self.model:
            return self.model_copy(
                update={"model": model, "version": version, "previous_version": None}
            )
        if version is None or version == self.version:
            return self
        return self.model_copy(update={"version": version, "previous_version": self.version})

    def answered(self, kind: str) -> Focus:
        return self.model_copy(update={"asked": kind})

    def read(self, topic: Topic | None) -> Focus:
        """The last request's slots, once read (None: nothing read to keep, e.g. unclear).
        A change asked to be completed is kept for the next message only: whatever that
        message is ("never mind", "help", a question), the change is gone after it."""
        if topic is not None:
            heard = self.heard_model
            if topic.heard:
                heard = topic.heard[-1]
            elif heard in topic.named:
                heard = None
            return self.model_copy(update={"topic": topic, "heard_model": heard})
        if self.topic.partial is None:
            return self
        return self.model_copy(update={"topic": self.topic.model_copy(update={"partial": None})})

    def paged(self, page: NextPage | None) -> Focus:
        return self.model_copy(update={"next_page": page})

    def proposed(self, ref: ProposalRef | None) -> Focus:
        return self.model_copy(update={"proposal": ref})


class ParseContext(_Frozen):
    """What a parser may use besides the user's words: the conversation's focus and, once
    looked up, the registry's model names."""

    focus: Focus = Focus()
    models: tuple[str, ...] | None = None
    routes: tuple[tuple[str, str], ...] = ()
    """Public route names and the model each one sends to by default ("digits" -> a model)."""
    route_rules: tuple[tuple[str, str, str], ...] = ()
    """(route, condition, model): a route's requests that meet the condition ("X-Priority:
    critical") go to that model ("critical requests on digits" -> it)."""
    stages: tuple[tuple[str, str, int], ...] = ()
    """(model, stage, version) as the registry last said: "the staging build" -> a version."""
    tasks: tuple[str, ...] | None = None
    """The registry's task names, once looked up: a task outside them is never used."""
    model_tasks: tuple[tuple[str, str], ...] = ()
    """(model, task) as the registry last said: "anything faster for that task?" -> its task."""
    now: datetime | None = None
    """When "since Friday" or "over the weekend" is measured back from (None: the clock)."""

    def task_of(self, model: str | None) -> str | None:
        return next((task for name, task in self.model_tasks if name == model), None)

    def stage_version(self, model: str, stage: str) -> int | None:
        for name, where, version in self.stages:
            if name == model and where == stage:
                return version
        return None
