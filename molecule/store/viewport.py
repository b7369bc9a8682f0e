"""The `canvas_viewport` table: the canvas's one saved pan and zoom (upstream-april §2.2)."""

from __future__ import annotations

from typing import Any

from molecule.store.pool import Store

VIEWPORT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_VIEWPORT: dict[str, float] = {"x": 0.0, "y": 0.0, "zoom": 1.0}


class Viewport:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self) -> dict[str, Any]:
        """The saved viewport, or the default (0, 0, zoom 1) before the first save."""
        row = await self.store.fetchrow(
            "SELECT x, y, zoom FROM canvas_viewport WHERE id = $1", VIEWPORT_ID
        )
        return dict(row) if row is not None else dict(DEFAULT_VIEWPORT)

    async def save(self, x: float, y: float, zoom: float) -> None:
        await self.store.execute(
            "INSERT INTO canvas_viewport (id, x, y, zoom, saved_at) VALUES ($1, $2, $3, $4, now())"
            " ON CONFLICT (id) DO UPDATE SET x = $2, y = $3, zoom = $4, saved_at = now()",
            VIEWPORT_ID,
            x,
            y,
            zoom,
        )
