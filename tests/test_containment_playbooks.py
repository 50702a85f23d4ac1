"""Playbook YAML overrides: merged over the defaults, with errors that name the file, playbook and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ai_incident.containment.playbooks import (
    DEFAULT_PLAYBOOKS,
    PlaybookError,
    PlaybookMode,
    load_playbooks,
    playbooks_by_incident_type,
)
from otel_ai_incident.names import ContainmentActionName as Action


def _load(tmp_path: Path, text: str) -> dict:
    path = tmp_path / "playbooks.yml"
    path.write_text(text)
    return playbooks_by_incident_type(load_playbooks(path))


def test_override_keeps_unset_fields_and_other_playbooks(tmp_path: Path) -> None:
    loaded = _load(tmp_path, "playbooks:\n  data_leakage:\n    mode: dry_run\n")
    default = playbooks_by_incident_type()
    assert loaded["data_leakage"].mode is PlaybookMode.DRY_RUN
    assert loaded["data_leakage"].actions == default["data_leakage"].actions
    assert loaded["agentic_harm"] == default["agentic_harm"]


def test_new_incident_type(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "playbooks:\n  cost_spike:\n    primary: rate_limit_user\n"
        "    secondary: [rollback_model]\n    auto_secondary: true\n",
    )
    playbook = loaded["cost_spike"]
    assert playbook.actions == (Action.RATE_LIMIT_USER, Action.ROLLBACK_MODEL)
    assert playbook.auto_secondary
    assert len(loaded) == len(DEFAULT_PLAYBOOKS) + 1


def test_default_mode_is_auto_for_p1_only() -> None:
    playbook = DEFAULT_PLAYBOOKS[0]
    assert playbook.mode_for("p1") is PlaybookMode.AUTO
    assert playbook.mode_for("p2") is PlaybookMode.APPROVE
    assert playbook.mode_for(None) is PlaybookMode.APPROVE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("playbooks:\n  data_leakage:\n    primary: nuke\n", "playbook 'data_leakage': unknown action 'nuke'"),
        ("playbooks:\n  data_leakage:\n    mode: sometimes\n", "unknown mode 'sometimes'"),
        ("playbooks:\n  data_leakage:\n    primry: kill_switch\n", "unknown field(s) ['primry']"),
        ("playbooks:\n  new_type:\n    mode: auto\n", "needs a 'primary' action"),
        ("playbooks:\n  data_leakage:\n    secondary: kill_switch\n", "'secondary' must be a list"),
        ("playbooks: [1, 2]\n", "expected a mapping with a 'playbooks' mapping"),
        ("playbooks: {a: [\n", "cannot read playbooks"),
    ],
)
def test_errors_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value)
    assert "playbooks.yml" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError, match="cannot read"):
        load_playbooks(tmp_path / "nope.yml")
