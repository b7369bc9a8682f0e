"""Upgrades keep the data, and every migration's down reverses its up.

- A database at an older schema level (the oldest, 001 alone, and the previous one, N-1) is
  filled as the code of that level wrote it; the current platform then migrates it at boot
  and serves those rows: readable, the old token authenticates, secrets decrypt, and new
  writes work.
- Downs: the migrator only goes up, so the test runs each `NNN.down.sql` itself: after every
  up the schema is recorded; walking down from the top, each down must give back exactly the
  schema of the level below, ending empty; then every up applies again, to the same schema.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from molecule.security.crypto import SecretBox
from molecule.security.token_material import hash_token, new_token, token_prefix
from molecule.store.migrate import MIGRATIONS_DIR, migrate, migration_status
from molecule.store.pool import Store
from tests.conftest import ADMIN_TOKEN, _psql, _with_database, make_settings, start_platform

KEY = b"u" * 32
UPS = sorted(MIGRATIONS_DIR.glob("*.up.sql"))
COUNTS = sorted({1, len(UPS) - 1} - {0})  # how many ups the older release had


def level_of(path: Path) -> int:
    return int(path.name.split("_", 1)[0])


@pytest.fixture
def empty_dsn(pg_server: str) -> Iterator[str]:
    name = f"u_{uuid.uuid4().hex[:12]}"
    _psql(pg_server, f'CREATE DATABASE "{name}"')
    yield _with_database(pg_server, name)
    _psql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_store(aio_loop: object, empty_dsn: str) -> AsyncIterator[Store]:
    store = await Store.open(empty_dsn, min_size=1, max_size=2)
    try:
        yield store
    finally:
        await store.close()


async def migrate_to(store: Store, count: int, scratch: Path) -> list[str]:
    """Apply the first `count` shipped ups, as an older release would have."""
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    for path in UPS[:count]:
        shutil.copy(path, scratch / path.name)
    return await migrate(store, scratch)


_SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, udt_name, is_nullable,"
    " column_default, is_generated FROM information_schema.columns"
    " WHERE table_schema = 'public' AND table_name <> 'schema_migrations'",
    "relations": "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace"
    " AND relname NOT LIKE 'schema_migrations%'",
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    " AND tablename <> 'schema_migrations'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
    " AND conrelid::regclass::text <> 'schema_migrations'",
    "types": "SELECT t.typname, e.enumlabel FROM pg_type t LEFT JOIN pg_enum e"
    " ON e.enumtypid = t.oid WHERE t.typnamespace = 'public'::regnamespace"
    " AND t.typtype IN ('e', 'd')",
    "functions": "SELECT proname, pg_get_function_identity_arguments(oid) FROM pg_proc"
    " WHERE pronamespace = 'public'::regnamespace",
    "triggers": "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    " WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal",
}


async def schema(store: Store) -> dict[str, set[tuple[Any, ...]]]:
    return {
        kind: {tuple(row.values()) for row in await store.fetch(sql)}
        for kind, sql in _SCHEMA.items()
    }


async def test_every_down_reverses_its_up(empty_store: Store, tmp_path: Path) -> None:
    store = empty_store
    levels = [await schema(store)]
    for count in range(1, len(UPS) + 1):
        await migrate_to(store, count, tmp_path / "ups")
        levels.append(await schema(store))
        assert levels[-1] != levels[-2], f"{UPS[count - 1].name} changed nothing"
    for count in range(len(UPS), 0, -1):
        down = UPS[count - 1].with_name(UPS[count - 1].name.replace(".up.sql", ".down.sql"))
        assert down.exists(), f"{down.name} is missing"
        await store.execute(down.read_text())
        assert await schema(store) == levels[count - 1], f"{down.name} did not undo its up"
    assert all(not rows for rows in levels[0].values())  # empty again
    await store.execute("DELETE FROM schema_migrations")
    assert len(await migrate(store)) == len(UPS)  # and every up applies again
    assert await schema(store) == levels[-1]


def _rows_of_level(level: int, wid: str, token: str) -> list[tuple[int, str, tuple[Any, ...]]]:
    """(level introducing the table, INSERT, args): what that release's code wrote."""
    box = SecretBox(KEY)
    rows: list[tuple[int, str, tuple[Any, ...]]] = [
        (1, "INSERT INTO workspaces (id, name, tier, status, runtime) VALUES"
            " ($1, 'legacy', 3, 'awaiting_agent', 'external')", (wid,)),
        (1, "INSERT INTO canvas_layouts (workspace_id, x, y) VALUES ($1, 10, 20)", (wid,)),
        (1, "INSERT INTO workspace_auth_tokens (workspace_id, token_hash, prefix)"
            " VALUES ($1, $2, $3)", (wid, hash_token(token), token_prefix(token))),
        (1, "INSERT INTO activity_logs (workspace_id, activity_type, summary) VALUES"
            " ($1, 'agent_log', 'from an older release')", (wid,)),
        (1, "INSERT INTO a2a_queue (id, workspace_id, body, method, idempotency_key,"
            " expires_at) VALUES ($1, $2, $3::jsonb, 'message/send', 'old-1',"
            " now() + interval '1 day')",
            (str(uuid.UUID(int=1)), wid, {"params": {"old": True}})),
        (1, "INSERT INTO structure_events (event_type, workspace_id, payload) VALUES"
            " ('WORKSPACE_CREATED', $1, '{}'::jsonb)", (wid,)),
        (2, "INSERT INTO global_secrets (key, encrypted_value, encryption_version)"
            " VALUES ('OLD_GLOBAL', $1, $2)", box.seal("g-old")),
        (2, "INSERT INTO workspace_secrets (workspace_id, key, encrypted_value,"
            " encryption_version) VALUES ($1, 'OLD_WS', $2, $3)", (wid, *box.seal("w-old"))),
        (4, "INSERT INTO agent_memories (workspace_id, content, scope) VALUES"
            " ($1, 'remembered before the upgrade', 'LOCAL')", (wid,)),
        (6, "INSERT INTO workspace_config (workspace_id, data) VALUES ($1, $2::jsonb)",
            (wid, {"legacy": True})),
        (7, "INSERT INTO workspace_schedules (workspace_id, name, cron_expr, prompt,"
            " next_run_at) VALUES ($1, 'old-job', '0 9 * * *', 'go', now() + interval"
            " '1 day')", (wid,)),
    ]  # fmt: skip
    return [row for row in rows if row[0] <= level]


@pytest.mark.parametrize("count", COUNTS)
async def test_data_of_an_older_schema_is_migrated_and_served(
    empty_store: Store, empty_dsn: str, tmp_path: Path, count: int
) -> None:
    store = empty_store
    await migrate_to(store, count, tmp_path / "old")
    wid, token = str(uuid.uuid4()), new_token()
    written = _rows_of_level(level_of(UPS[count - 1]), wid, token)
    for _, sql, args in written:
        await store.execute(sql, *args)
    status = await migration_status(store)
    assert len(status.applied) == count and len(status.pending) == len(UPS) - count

    settings = make_settings(tmp_path, empty_dsn, secrets_key=KEY)
    async with trio.open_nursery() as nursery:
        _, base, stop = await start_platform(settings, empty_dsn, nursery)  # migrates
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        mine = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            r = await client.get(f"/workspaces/{wid}", headers=admin)
            assert r.status_code == 200 and r.json()["name"] == "legacy"
            r = await client.get(f"/workspaces/{wid}/secrets/values", headers=mine)
            assert r.status_code == 200, r.text  # the old token authenticates
            has = {lvl for lvl, _, _ in written}
            assert r.json() == ({"OLD_GLOBAL": "g-old", "OLD_WS": "w-old"} if 2 in has else {})
            r = await client.get(f"/workspaces/{wid}/activity", headers=mine)
            assert "from an older release" in [a.get("summary") for a in r.json()]
            r = await client.get(f"/workspaces/{wid}/a2a/queue/{uuid.UUID(int=1)}", headers=admin)
            assert r.status_code == 200 and r.json()["workspace_id"] == wid
            if 4 in has:
                r = await client.get(f"/workspaces/{wid}/memories", headers=mine)
                assert [m["content"] for m in r.json()] == ["remembered before the upgrade"]
            if 6 in has:
                r = await client.get(f"/workspaces/{wid}/config", headers=mine)
                assert r.status_code == 200 and r.json() == {"data": {"legacy": True}}, r.text
            if 7 in has:
                r = await client.get(f"/workspaces/{wid}/schedules", headers=admin)
                assert [s["name"] for s in r.json()] == ["old-job"]
            # Usable, not just readable: new rows beside the old ones.
            r = await client.post(
                f"/workspaces/{wid}/memories", headers=mine,
                json={"content": "written after the upgrade", "scope": "LOCAL"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            r = await client.post(
                f"/workspaces/{wid}/secrets", headers=mine, json={"key": "NEW", "value": "n"}
            )
            assert r.status_code in (200, 201), r.text
        stop.set()
    status = await migration_status(store)
    assert status.pending == [] and status.unknown == []
    assert len(status.applied) == len(UPS)
