"""Models by role: one ``agent`` model, or a ``memory`` model and an ``action`` model.

The text form of a run's model is either a plain spec (``local:smollm2-135m``), the one-model
form whose model plays the role ``agent``, or two specs by role::

    memory=local:smollm2-135m,lora=adapter.gguf;action=local:smollm2-135m

The memory model (a trained specialist) does the memory work: all of LOG and the
memory-consultation turns of PLAN; the action model (the untouched base) commits the action
(see :mod:`automem.agent.roles`). Specs are separated by ``;``, so a spec inside the
two-model form cannot hold one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import model_validator

from automem.core import ChatModel, Frozen, ModelIdentity

AGENT: Literal["agent"] = "agent"
MEMORY: Literal["memory"] = "memory"
ACTION: Literal["action"] = "action"
RoleName = Literal["agent", "memory", "action"]
TWO_MODEL_ROLES = (MEMORY, ACTION)
TWO_MODEL_SYNTAX = "memory=<spec>;action=<spec>"
_ROLE_FORM = re.compile(r"\s*([A-Za-z_]+)\s*=")
# Identity details that name the weights a model answers with; other details (context size,
# sampler options) are settings, which the run's config already pins through the spec.
WEIGHT_DETAILS = ("file", "sha256", "size_bytes", "adapter", "adapter_sha256", "lora")


class RoleSpecs(Frozen):
    """The model spec of each role: ``agent`` alone, or ``memory`` and ``action`` both."""

    agent: str | None = None
    memory: str | None = None
    action: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RoleSpecs:
        if self.agent is not None and (self.memory or self.action):
            raise ValueError(f"a spec is either one model or {TWO_MODEL_SYNTAX}, not both")
        if self.agent is None and not (self.memory and self.action):
            raise ValueError(f"a two-model spec names both roles: {TWO_MODEL_SYNTAX}")
        return self

    @classmethod
    def parse(cls, text: str) -> RoleSpecs:
        """The roles of a model's text form; a ValueError says what is wrong and the syntax."""
        if not text.strip():
            raise ValueError("empty model spec")
        if ";" not in text and not _ROLE_FORM.match(text):
            return cls(agent=text)
        found: dict[str, str] = {}
        for part in (p for p in text.split(";") if p.strip()):
            match = _ROLE_FORM.match(part)
            if match is None:
                raise ValueError(
                    f"model spec {text!r}: {part.strip()!r} names no role; write {TWO_MODEL_SYNTAX}"
                )
            role, spec = match.group(1), part[match.end() :].strip()
            if role == AGENT:
                raise ValueError(
                    f"model spec {text!r}: a one-model spec is written plainly, without 'agent='"
                )
            if role not in TWO_MODEL_ROLES:
                raise ValueError(
                    f"model spec {text!r}: unknown role {role!r}; roles: memory, action "
                    f"({TWO_MODEL_SYNTAX})"
                )
            if role in found:
                raise ValueError(f"model spec {text!r}: role {role!r} is given twice")
            if not spec:
                raise ValueError(f"model spec {text!r}: role {role!r} has an empty spec")
            found[role] = spec
        missing = [r for r in TWO_MODEL_ROLES if r not in found]
        if missing:
            raise ValueError(
                f"model spec {text!r}: no {' or '.join(missing)} model; a two-model spec names "
                f"both roles: {TWO_MODEL_SYNTAX}"
            )
        return cls(**found)

    @classmethod
    def of(cls, memory: str, action: str) -> RoleSpecs:
        return cls(memory=memory, action=action)

    @property
    def two_model(self) -> bool:
        return self.agent is None

    @property
    def text(self) -> str:
        """The canonical text form (a one-model spec exactly as given)."""
        if self.agent is not None:
            return self.agent
        return f"memory={self.memory};action={self.action}"

    def items(self) -> Iterator[tuple[RoleName, str]]:
        """(role, spec) of every role, the memory role first."""
        if self.agent is not None:
            yield AGENT, self.agent
        else:
            yield MEMORY, str(self.memory)
            yield ACTION, str(self.action)


def combine(memory: str, action: str) -> str:
    """The text form of a two-model run, checked."""
    return RoleSpecs.of(memory.strip(), action.strip()).text


@dataclass
class RoleModels:
    """The loaded model of each role; ``answering`` says which one takes a call."""

    agent: ChatModel | None = None
    memory: ChatModel | None = None
    action: ChatModel | None = None

    @classmethod
    def of(cls, model: ChatModel | RoleModels) -> RoleModels:
        return model if isinstance(model, RoleModels) else cls(agent=model)

    @property
    def two_model(self) -> bool:
        return self.agent is None

    def by_role(self) -> dict[RoleName, ChatModel]:
        if self.agent is not None:
            return {AGENT: self.agent}
        if self.memory is None or self.action is None:
            raise ValueError("a two-model RoleModels needs a memory and an action model")
        return {MEMORY: self.memory, ACTION: self.action}

    def get(self, role: RoleName) -> ChatModel:
        model = self.by_role().get(role)
        if model is None:
            raise ValueError(
                f"no {role!r} model in a {'two' if self.two_model else 'one'}-model run"
            )
        return model

    def default_role(self, phase: str) -> RoleName:
        """Who answers a turn of ``phase`` unless the routing says otherwise."""
        if not self.two_model:
            return AGENT
        return MEMORY if phase == "log" else ACTION

    def identities(self) -> dict[RoleName, ModelIdentity]:
        return {role: model.identity for role, model in self.by_role().items()}

    @property
    def identity(self) -> ModelIdentity:
        """One identity for the whole: the agent's, or the pair (see :func:`combined_identity`)."""
        return combined_identity(self.identities())

    def close(self) -> None:
        for model in self.by_role().values():
            model.close()


def load_roles(text: str, *, seed: int = 0) -> RoleModels:
    """Load every role's model of a text form (a model loaded once is closed on failure)."""
    from automem.models.registry import load_model

    loaded: dict[str, ChatModel] = {}
    try:
        for role, spec in RoleSpecs.parse(text).items():
            loaded[role] = load_model(spec, seed=seed)
    except BaseException:
        for model in loaded.values():
            model.close()
        raise
    return RoleModels(**loaded)  # type: ignore[arg-type]


def combined_identity(identities: dict[RoleName, ModelIdentity]) -> ModelIdentity:
    """The agent's identity, or for two models one that names both (details by role), so that
    readers of a single ``model`` see the whole pair."""
    if set(identities) == {AGENT}:
        return identities[AGENT]
    memory, action = identities[MEMORY], identities[ACTION]
    return ModelIdentity(
        spec=f"memory={memory.spec};action={action.spec}",
        backend="two-model",
        name=f"memory={memory.name};action={action.name}",
        details={role: identity.model_dump(mode="json") for role, identity in identities.items()},
    )


def weights_key(identity: ModelIdentity | dict[str, Any]) -> dict[str, Any]:
    """What says which weights answer: backend, name and the weight details a backend knows."""
    data = identity.model_dump(mode="json") if isinstance(identity, ModelIdentity) else identity
    details = data.get("details") or {}
    key = {"backend": data.get("backend"), "name": data.get("name")}
    key.update({k: details[k] for k in WEIGHT_DETAILS if k in details})
    return key


def identity_mismatch(
    recorded: dict[str, dict[str, Any]], current: dict[RoleName, ModelIdentity]
) -> str | None:
    """Why models ``current`` (by role) are not those ``recorded`` (by role), or None.

    A weight detail only one side records (an older run.json) is not compared.
    """
    if set(recorded) != set(current):
        return f"roles {sorted(recorded)} were recorded, the run now has {sorted(current)}"
    differences = []
    for role, identity in current.items():
        old, new = weights_key(recorded[role]), weights_key(identity)
        for field in sorted(old.keys() & new.keys()):
            if old[field] != new[field]:
                differences.append(f"{role} model {field}: {old[field]!r} -> {new[field]!r}")
    return "; ".join(differences) or None


__all__ = [
    "ACTION",
    "AGENT",
    "MEMORY",
    "TWO_MODEL_SYNTAX",
    "RoleModels",
    "RoleName",
    "RoleSpecs",
    "combine",
    "combined_identity",
    "identity_mismatch",
    "load_roles",
    "weights_key",
]
