"""The counts `GET /metrics` reads from the database at each scrape, in one statement:
workspaces by status (the status index) and the A2A queue's waiting items with the age of
the oldest (the queue's partial index on waiting items)."""

from __future__ import annotations

from molecule.observability.metrics import DatabaseCounts
from molecule.store.pool import Store

_COUNTS = """
SELECT 'workspaces' AS what, status::text AS status, count(*) AS n, 0::float8 AS oldest
FROM workspaces GROUP BY status
UNION ALL
SELECT 'queue', NULL, count(*),
       COALESCE(extract(epoch FROM now() - min(enqueued_at)), 0)::float8
FROM a2a_queue WHERE status = 'queued'
"""


async def database_counts(store: Store) -> DatabaseCounts:
    rows = await store.fetch(_COUNTS)
    workspaces = {r["status"]: int(r["n"]) for r in rows if r["what"] == "workspaces"}
    queue = next((r for r in rows if r["what"] == "queue"), None)
    if queue is None:
        return DatabaseCounts(workspaces)
    return DatabaseCounts(workspaces, int(queue["n"]), max(float(queue["oldest"]), 0.0))
