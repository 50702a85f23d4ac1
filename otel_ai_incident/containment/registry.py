"""The prompt and model versions an app can roll back to, filled by the app at start-up.

The receiver only records "rollback_prompt" or "rollback_model": it cannot know the app's versions. The app
registers them here and asks `active_prompt(name)` / `active_model()` on each turn; while a rollback is in
force (as its gate reports), the previous version comes back instead of the current one.

Ordering: `register_prompt` is called once per version, oldest first, so the last registered is current
(the natural order of a start-up script); `register_models` takes a preference list, current first, then
the model to fall back to.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class PromptVersion:
    name: str
    version: str
    text: str


class RollbackSource(Protocol):
    """Whether a rollback is in force; the containment gate implements it."""

    def prompt_rolled_back(self, name: str) -> bool: ...

    def model_rolled_back(self) -> bool: ...


class Registry:
    """Versions per prompt name and the model preference list. Thread-safe; reads take no lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prompts: dict[str, tuple[PromptVersion, ...]] = {}
        self._models: tuple[str, ...] = ()
        self.source: RollbackSource | None = None

    def register_prompt(self, name: str, text: str, version: str | None = None) -> PromptVersion:
        """Add a version of a prompt (it becomes current); re-registering a version replaces its text."""
        with self._lock:
            versions = self._prompts.get(name, ())
            label = version or f"v{len(versions) + 1}"
            new = PromptVersion(name, label, text)
            self._prompts[name] = (*(v for v in versions if v.version != label), new)
        return new

    def register_models(self, models: list[str]) -> None:
        """The models in order of preference: current first, then the one a rollback switches to."""
        if not models:
            raise ValueError("register_models needs at least the current model")
        self._models = tuple(models)

    def active_prompt(self, name: str) -> PromptVersion:
        """The version to use now: the previous one while rollback_prompt covers `name` (if there is one)."""
        versions = self._prompts.get(name)
        if not versions:
            raise KeyError(f"prompt {name!r} was never registered (call register_prompt at start-up)")
        source = self.source
        if len(versions) > 1 and source is not None and source.prompt_rolled_back(name):
            return versions[-2]
        return versions[-1]

    def active_model(self) -> str:
        """The model to use now: the second in the preference list while rollback_model is in force."""
        models = self._models
        if not models:
            raise LookupError("no models registered (call register_models at start-up)")
        source = self.source
        if len(models) > 1 and source is not None and source.model_rolled_back():
            return models[1]
        return models[0]


REGISTRY = Registry()


def register_prompt(name: str, text: str, version: str | None = None) -> PromptVersion:
    return REGISTRY.register_prompt(name, text, version)


def register_models(models: list[str]) -> None:
    REGISTRY.register_models(models)


def active_prompt(name: str) -> PromptVersion:
    return REGISTRY.active_prompt(name)


def active_model() -> str:
    return REGISTRY.active_model()
