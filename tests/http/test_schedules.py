"""Schedule routes over real HTTP (molecule.http.schedules): each route's success, every
refusal with the database unchanged after it, `run` firing on the platform, and both health
views."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import trio

from molecule.http.schedule_schemas import Schedule, ScheduleHealth
from molecule.operations.cron import next_run
from molecule.store.schedules import NewSchedule, ScheduleRows
from tests.conftest import Harness

WAIT = 10.0
JOB = {"name": "standup", "cron_expr": "0 9 * * 1-5", "timezone": "Europe/Berlin", "prompt": "go"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def workspace(h: Harness, **extra: Any) -> tuple[str, str]:
    created = await h.create_external("ws-" + uuid.uuid4().hex[:6], **extra)
    return str(created["id"]), str(created["connection"]["auth_token"])  # type: ignore[index]


async def table(h: Harness) -> list[dict[str, Any]]:
    rows = await h.svc.store.fetch("SELECT * FROM workspace_schedules ORDER BY id")
    return [dict(r) for r in rows]


async def create(h: Harness, wid: str, token: str, body: Any = None) -> Any:
    return await h.client.post(
        f"/workspaces/{wid}/schedules", json=JOB if body is None else body, headers=auth(token)
    )


async def refused(h: Harness, method: str, path: str, status: int, error: str, **kw: Any) -> None:
    """The request is refused with `status` and `error`, and no schedule row changed."""
    before = await table(h)
    r = await h.client.request(method, path, **kw)
    assert (r.status_code, r.json().get("error")) == (status, error), r.text
    assert await table(h) == before


# -- create, list -----------------------------------------------------------------------------


async def test_create_stores_the_schedule_and_plans_its_first_run(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    before = datetime.now(UTC)
    body = {**JOB, "prompt": "line one\r\nline two\r\n", "enabled": False}
    r = await create(h, wid, token, body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert set(answer) == {"id", "status", "next_run_at"} and answer["status"] == "created"
    [row] = await table(h)
    assert row["id"] == answer["id"] and row["workspace_id"] == wid
    assert row["prompt"] == "line one\nline two\n"  # CR stripped
    assert (row["source"], row["enabled"], row["run_count"]) == ("runtime", False, 0)
    assert row["next_run_at"] == next_run(JOB["cron_expr"], "Europe/Berlin", before)
    assert answer["next_run_at"] == row["next_run_at"].isoformat().replace("+00:00", "Z")
    r = await create(h, wid, token, {"cron_expr": "*/5 * * * *", "prompt": "x", "name": "b"})
    assert r.status_code == 201
    listed = (await h.client.get(f"/workspaces/{wid}/schedules", headers=auth(token))).json()
    assert [s["name"] for s in listed] == ["standup", "b"]
    assert listed[1]["timezone"] == "UTC" and listed[1]["enabled"] is True
    assert set(listed[0]) == set(Schedule.model_fields)  # the declared wire shape
    # Admins see it too; another workspace sees nothing of it.
    assert len((await h.client.get(f"/workspaces/{wid}/schedules", headers=h.admin)).json()) == 2
    other, other_token = await workspace(h)
    mine = await h.client.get(f"/workspaces/{other}/schedules", headers=auth(other_token))
    assert mine.json() == []


async def test_create_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    _, other_token = await workspace(h)
    path = f"/workspaces/{wid}/schedules"
    required = "cron_expr and prompt are required"
    await refused(h, "POST", path, 401, "missing workspace auth token", json=JOB)
    await refused(
        h, "POST", path, 401, "invalid workspace auth token", json=JOB, headers=auth(other_token)
    )
    cases: list[tuple[Any, str]] = [
        ({"cron_expr": "* * * * *"}, required),
        ({"prompt": "x"}, required),
        ({**JOB, "prompt": ""}, required),
        ({**JOB, "prompt": "\r\r"}, required),
        ({**JOB, "cron_expr": 5}, required),
        ({**JOB, "enabled": "yes"}, required),
        ([JOB], required),
        ({**JOB, "timezone": "Mars/Base"}, "invalid timezone: Mars/Base"),
        (
            {**JOB, "cron_expr": "0 9 * *"},
            'invalid cron expression "0 9 * *": expected exactly 5 fields, found 4',
        ),
        (
            {**JOB, "cron_expr": "0 0 30 2 *"},
            'invalid cron expression "0 0 30 2 *": it never fires',
        ),
        ({**JOB, "name": "n" * 201}, "name must be at most 200 characters"),
        ({**JOB, "prompt": "p" * 65_537}, "prompt must be at most 65536 characters"),
    ]
    for body, error in cases:
        await refused(h, "POST", path, 400, error, json=body, headers=auth(token))
    await refused(h, "POST", path, 400, required, content=b"{not json", headers=auth(token))
    await refused(
        h,
        "POST",
        "/workspaces/nope/schedules",
        400,
        "invalid workspace ID",
        json=JOB,
        headers=h.admin,
    )
    await refused(
        h,
        "POST",
        f"/workspaces/{uuid.uuid4()}/schedules",
        404,
        "workspace not found",
        json=JOB,
        headers=h.admin,
    )
    assert (await create(h, wid, token)).status_code == 201
    await refused(
        h,
        "POST",
        path,
        409,
        "a schedule named 'standup' already exists in this workspace",
        json=JOB,
        headers=auth(token),
    )


async def test_a_workspace_holds_at_most_100_schedules(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    rows = ScheduleRows(h.svc.store)
    at = datetime.now(UTC) + timedelta(days=1)
    for i in range(100):
        assert await rows.insert(NewSchedule(wid, f"s{i}", "0 0 * * *", "UTC", "x", True, at), 100)
    await refused(
        h,
        "POST",
        f"/workspaces/{wid}/schedules",
        429,
        "a workspace may have at most 100 schedules: delete one first",
        json=JOB,
        headers=auth(token),
    )


# -- patch, delete ----------------------------------------------------------------------------


async def test_patch_changes_fields_and_plans_again_when_times_change(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    sid = (await create(h, wid, token)).json()["id"]
    path = f"/workspaces/{wid}/schedules/{sid}"
    r = await h.client.patch(
        path, json={"prompt": "new\r\n", "name": "renamed"}, headers=auth(token)
    )
    assert (r.status_code, r.json()) == (200, {"status": "updated"})
    [row] = await table(h)
    assert (row["prompt"], row["name"], row["cron_expr"]) == ("new\n", "renamed", JOB["cron_expr"])
    first_next = row["next_run_at"]
    before = datetime.now(UTC)
    r = await h.client.patch(
        path, json={"cron_expr": "*/10 * * * *", "timezone": "UTC"}, headers=auth(token)
    )
    assert r.status_code == 200
    [row] = await table(h)
    assert row["next_run_at"] == next_run("*/10 * * * *", "UTC", before) != first_next
    assert (await h.client.patch(path, json={"enabled": False}, headers=h.admin)).status_code == 200
    assert (await table(h))[0]["enabled"] is False


async def test_patch_and_delete_refusals_change_nothing(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    other, other_token = await workspace(h)
    sid = (await create(h, wid, token)).json()["id"]
    theirs = (await create(h, other, other_token, {**JOB, "name": "theirs"})).json()["id"]
    path = f"/workspaces/{wid}/schedules/{sid}"
    for method, kw in (("PATCH", {"json": {"name": "x"}}), ("DELETE", {})):
        await refused(h, method, path, 401, "missing workspace auth token", **kw)
        await refused(
            h, method, path, 401, "invalid workspace auth token", headers=auth(other_token), **kw
        )
        await refused(
            h,
            method,
            f"/workspaces/{wid}/schedules/x",
            400,
            "invalid schedule ID",
            headers=auth(token),
            **kw,
        )
        await refused(
            h,
            method,
            f"/workspaces/{wid}/schedules/{uuid.uuid4()}",
            404,
            "schedule not found",
            headers=auth(token),
            **kw,
        )
        # Another workspace's schedule, through this workspace's path: not found (IDOR).
        await refused(
            h,
            method,
            f"/workspaces/{wid}/schedules/{theirs}",
            404,
            "schedule not found",
            headers=auth(token),
            **kw,
        )
    for body, error in (
        ({"name": 5}, "invalid JSON"),
        ({"enabled": "no"}, "invalid JSON"),
        ([1], "invalid JSON"),
        ({"prompt": "\r"}, "prompt must not be empty"),
        ({"timezone": "Nowhere"}, "invalid timezone: Nowhere"),
        (
            {"cron_expr": "* * *"},
            'invalid cron expression "* * *": expected exactly 5 fields, found 3',
        ),
        ({"name": "theirs-" + "x" * 200}, "name must be at most 200 characters"),
    ):
        await refused(h, "PATCH", path, 400, error, json=body, headers=auth(token))
    await create(h, wid, token, {**JOB, "name": "second"})
    await refused(
        h,
        "PATCH",
        path,
        409,
        "a schedule named 'second' already exists in this workspace",
        json={"name": "second"},
        headers=auth(token),
    )
    r = await h.client.delete(path, headers=auth(token))
    assert (r.status_code, r.json()) == (200, {"status": "deleted"})
    assert sorted(row["name"] for row in await table(h)) == ["second", "theirs"]
    await refused(h, "DELETE", path, 404, "schedule not found", headers=auth(token))


# -- run, history -----------------------------------------------------------------------------


async def runs(h: Harness, wid: str) -> list[dict[str, Any]]:
    rows = await h.svc.store.fetch(
        "SELECT * FROM activity_logs WHERE workspace_id = $1 AND activity_type = 'cron_run'", wid
    )
    return [dict(r) for r in rows]


async def test_run_fires_now_through_the_scheduler_and_the_history_shows_it(
    platform: Harness,
) -> None:
    h = platform
    r = await h.client.post("/workspaces", json={"name": "m", "runtime": "mock"}, headers=h.admin)
    wid = r.json()["id"]
    r = await h.client.post(f"/workspaces/{wid}/schedules", json=JOB, headers=h.admin)
    sid = r.json()["id"]
    r = await h.client.post(f"/workspaces/{wid}/schedules/{sid}/run", headers=h.admin)
    assert r.status_code == 200
    assert r.json() == {"status": "fired", "workspace_id": wid, "schedule_id": sid, "prompt": "go"}
    with trio.fail_after(WAIT):
        while not await runs(h, wid):
            await trio.sleep(0.05)
    [run] = await runs(h, wid)
    assert (run["status"], run["method"], run["summary"]) == ("ok", "cron", "Cron: standup")
    [row] = await table(h)
    assert (row["run_count"], row["last_status"]) == (1, "ok")
    # A run someone asked for leaves the planned next run alone.
    assert row["next_run_at"] == next_run(JOB["cron_expr"], "Europe/Berlin", row["created_at"])

    history = await h.client.get(f"/workspaces/{wid}/schedules/{sid}/history", headers=h.admin)
    [entry] = history.json()
    assert set(entry) == {"timestamp", "duration_ms", "status", "error_detail", "request"}
    assert (entry["status"], entry["error_detail"]) == ("ok", "")
    assert entry["request"] == {
        "schedule_id": sid,
        "schedule_name": "standup",
        "cron_expr": JOB["cron_expr"],
        "prompt": "go",
    }
    assert entry["duration_ms"] >= 0
    other = await h.client.get(
        f"/workspaces/{wid}/schedules/{uuid.uuid4()}/history", headers=h.admin
    )
    assert other.json() == []


async def test_run_and_history_refusals(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    _, other_token = await workspace(h)
    sid = (await create(h, wid, token)).json()["id"]
    run, history = (
        f"/workspaces/{wid}/schedules/{sid}/run",
        f"/workspaces/{wid}/schedules/{sid}/history",
    )
    for method, path in (("POST", run), ("GET", history)):
        await refused(h, method, path, 401, "missing workspace auth token")
        await refused(
            h, method, path, 401, "invalid workspace auth token", headers=auth(other_token)
        )
        await refused(
            h, method, path.replace(sid, "x"), 400, "invalid schedule ID", headers=auth(token)
        )
    await refused(
        h,
        "POST",
        f"/workspaces/{wid}/schedules/{uuid.uuid4()}/run",
        404,
        "schedule not found",
        headers=auth(token),
    )
    assert await runs(h, wid) == []


# -- health -----------------------------------------------------------------------------------


async def test_workspace_health_is_for_itself_and_its_peers(platform: Harness) -> None:
    h = platform
    root, root_token = await workspace(h)
    child, child_token = await workspace(h, parent_id=root)
    other_root, _ = await workspace(h)
    cousin, cousin_token = await workspace(h, parent_id=other_root)
    await create(h, child, child_token)
    path = f"/workspaces/{child}/schedules/health"
    fields = set(ScheduleHealth.model_fields)

    async def health(caller: str, token: str) -> Any:
        return await h.client.get(path, headers={"X-Workspace-ID": caller, **auth(token)})

    for caller, token in ((child, child_token), (root, root_token)):  # itself, its parent
        r = await health(caller, token)
        assert r.status_code == 200, r.text
        [entry] = r.json()
        assert set(entry) == fields and entry["name"] == "standup"  # no prompt, no expression
    assert (await h.client.get(path, headers=h.admin)).status_code == 200  # admin, no header

    await refused(h, "GET", path, 401, "X-Workspace-ID header required")
    await refused(h, "GET", path, 401, "X-Workspace-ID header required", headers=auth(child_token))
    await refused(
        h, "GET", path, 401, "missing caller auth token", headers={"X-Workspace-ID": child}
    )
    await refused(
        h,
        "GET",
        path,
        401,
        "invalid caller auth token",
        headers={"X-Workspace-ID": root, **auth(child_token)},
    )
    await refused(
        h,
        "GET",
        path,
        403,
        "access denied",
        headers={"X-Workspace-ID": cousin, **auth(cousin_token)},
    )
    await refused(
        h,
        "GET",
        path,
        403,
        "invalid caller ID",
        headers={"X-Workspace-ID": "system:cron", **auth(child_token)},
    )
    await refused(
        h,
        "GET",
        path,
        400,
        "X-Workspace-ID must be a workspace UUID",
        headers={"X-Workspace-ID": "me", **auth(child_token)},
    )
    await refused(
        h,
        "GET",
        f"/workspaces/{uuid.uuid4()}/schedules/health",
        404,
        "workspace not found",
        headers=h.admin,
    )


async def test_admin_health_classifies_every_schedule(platform: Harness) -> None:
    h = platform
    wid, token = await workspace(h)
    await create(h, wid, token, {**JOB, "cron_expr": "*/5 * * * *", "name": "a"})
    await create(h, wid, token, {**JOB, "cron_expr": "0 * * * *", "name": "b"})
    await create(h, wid, token, {**JOB, "cron_expr": "0 0 * * *", "name": "c"})
    now = datetime.now(UTC)
    await h.svc.store.execute(
        "UPDATE workspace_schedules SET last_run_at = $1 WHERE name = 'a'", now - timedelta(hours=1)
    )
    await h.svc.store.execute(
        "UPDATE workspace_schedules SET last_run_at = $1 WHERE name = 'b'", now - timedelta(hours=1)
    )
    r = await h.client.get("/admin/schedules/health", headers=h.admin)
    assert r.status_code == 200
    answer = {e["schedule_name"]: e for e in r.json()}
    assert {n: (e["status"], e["stale_threshold_seconds"]) for n, e in answer.items()} == {
        "a": ("stale", 600),  # an hour without a run, every 5 minutes
        "b": ("ok", 7200),
        "c": ("never_run", 2 * 86400),
    }
    assert answer["a"]["workspace_id"] == wid and answer["a"]["cron_expr"] == "*/5 * * * *"
    assert answer["a"]["expected_next_run"] is not None

    await refused(h, "GET", "/admin/schedules/health", 401, "admin auth required")
    await refused(
        h, "GET", "/admin/schedules/health", 401, "invalid admin auth token", headers=auth(token)
    )
    # A removed workspace's schedules are not listed.
    assert (await h.client.delete(f"/workspaces/{wid}", headers=h.admin)).status_code == 200
    assert (await h.client.get("/admin/schedules/health", headers=h.admin)).json() == []
    await refused(
        h, "GET", f"/workspaces/{wid}/schedules", 404, "workspace not found", headers=h.admin
    )
