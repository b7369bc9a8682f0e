"""The metrics registry of one platform, its label rules and the restart causes."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from molecule.actors.lifecycle import RESTART_CAUSES, restart_cause
from molecule.config import Settings
from molecule.errors import (
    ActorStopped,
    AgentErrorStatus,
    BadRequest,
    ClientGone,
    ConfigError,
    DatastoreUnavailable,
    Forbidden,
    MoleculeError,
    PaymentRequired,
    ServiceUnavailable,
    Unauthorized,
)
from molecule.observability import metrics as m
from molecule.observability.metrics import DatabaseCounts, Metrics


def _values(metrics: Metrics, counts: DatabaseCounts | None = None) -> dict[str, float]:
    text = metrics.render(counts, generate_latest).decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_platforms_in_one_process_keep_their_own_counts() -> None:
    first, second = Metrics(), Metrics()  # a global registry would refuse the second
    first.a2a_request("ok", 0.01)
    first.heartbeats.inc()
    first.restart("manual")
    one, two = _values(first), _values(second)
    assert one["molecule_a2a_requests_total[('outcome', 'ok')]"] == 1
    assert two["molecule_a2a_requests_total[('outcome', 'ok')]"] == 0
    assert one["molecule_heartbeats_total[]"] == 1 and two["molecule_heartbeats_total[]"] == 0
    assert one["molecule_workspace_restarts_total[('cause', 'manual')]"] == 1
    assert not any(name.endswith("_created[]") for name in one)  # no `_created` twins


def test_unknown_labels_fall_into_bounded_ones() -> None:
    metrics = Metrics()
    metrics.a2a_request("made-up", 0.5)
    metrics.restart("made-up")
    values = _values(metrics)
    assert values["molecule_a2a_requests_total[('outcome', 'error')]"] == 1
    assert values["molecule_workspace_restarts_total[('cause', 'other')]"] == 1
    assert not any("made-up" in name for name in values)


def test_database_counts_or_their_absence() -> None:
    metrics = Metrics()
    values = _values(metrics, DatabaseCounts({"online": 3, "failed": 1}, 2, 12.5))
    assert values["molecule_database_up[]"] == 1
    assert values["molecule_workspaces[('status', 'online')]"] == 3
    assert values["molecule_workspaces[('status', 'paused')]"] == 0  # every status, always
    assert values["molecule_a2a_queue_depth[]"] == 2
    assert values["molecule_a2a_queue_oldest_age_seconds[]"] == 12.5
    values = _values(metrics, None)
    assert values["molecule_database_up[]"] == 0
    gone = ("molecule_workspaces[", "molecule_a2a_queue_depth[", "molecule_a2a_queue_oldest")
    assert not any(name.startswith(gone) for name in values)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (MoleculeError("x", status=503, extra={"restarting": True}), "restarting"),
        (ServiceUnavailable("x", extra={"waking": True}), "restarting"),
        (MoleculeError("x", status=503, extra={"busy": True}), "busy"),
        (AgentErrorStatus("Not Found", status=404), "agent_error"),
        (AgentErrorStatus("boom", status=500), "agent_error"),
        (MoleculeError("failed to reach workspace agent", status=502), "unreachable"),
        (BadRequest("invalid JSON"), "refused"),
        (Unauthorized("missing caller auth token"), "refused"),
        (Forbidden("access denied"), "refused"),
        (PaymentRequired(), "refused"),
        (DatastoreUnavailable(), "unavailable"),
        (ActorStopped("w"), "unavailable"),
        (ClientGone(), "client_gone"),
        (MoleculeError("internal error"), "error"),
    ],
)
def test_a2a_error_outcomes(error: MoleculeError, outcome: str) -> None:
    assert m.a2a_error_outcome(error) == outcome
    assert outcome in m.A2A_OUTCOMES


@pytest.mark.parametrize(
    ("reason", "cause"),
    [  # every reason the platform requests a restart with (grep request_restart, Restart()
        ("created", "create"),
        ("manual restart", "manual"),
        ("resume", "resume"),
        ("expand", "expand"),
        ("wake on A2A", "wake"),
        ("secret OPENAI_API_KEY saved", "secret_changed"),
        ("secret OPENAI_API_KEY deleted", "secret_changed"),
        ("global secret MODEL changed", "secret_changed"),
        ("agent process exited (code 3)", "agent_exited"),
        ("agent found not running", "agent_down"),
        ("no heartbeat for 180 s", "heartbeat_timeout"),
        ("platform restarted", "platform_restart"),
        ("coalesced restart request", "coalesced"),
        ("something new", "other"),
    ],
)
def test_restart_causes(reason: str, cause: str) -> None:
    assert restart_cause(reason) == cause
    assert cause in m.RESTART_CAUSES


def test_every_cause_of_the_lifecycle_is_a_label() -> None:
    assert {cause for _, cause in RESTART_CAUSES} <= set(m.RESTART_CAUSES)


def test_metrics_open_setting(tmp_path: object) -> None:
    env = {"MOLECULE_HOME": str(tmp_path)}
    assert Settings.from_env(env).metrics_open is False
    assert Settings.from_env({**env, "MOLECULE_METRICS_OPEN": "1"}).metrics_open is True
    assert Settings.from_env({**env, "MOLECULE_METRICS_OPEN": "0"}).metrics_open is False
    with pytest.raises(ConfigError, match="MOLECULE_METRICS_OPEN"):
        Settings.from_env({**env, "MOLECULE_METRICS_OPEN": "maybe"})
