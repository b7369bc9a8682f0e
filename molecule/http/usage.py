"""`GET /workspaces/:id/metrics` (WorkspaceAuth): today's LLM token usage, as the agent
reported it in its A2A replies (molecule.store.token_usage, where the cost estimate's flat
rate is explained). The day is the current UTC day; counts still buffered are written first.
"""

from __future__ import annotations

from quart import Blueprint, Response

from molecule.errors import NotFound
from molecule.http import config_schemas as cs
from molecule.http.api import Auth, endpoint
from molecule.http.auth import workspace_auth
from molecule.http.common import json_response, require_uuid, services
from molecule.models import WorkspaceStatus
from molecule.store.token_usage import TokenUsageRows, period, utc_day

bp = Blueprint("usage", __name__)


@bp.get("/workspaces/<workspace_id>/metrics")
@endpoint(
    Auth.WORKSPACE,
    "Today's (UTC) LLM token usage and its estimated cost",
    responses={200: cs.Metrics, 401: "no or wrong credential", 404: "no such workspace"},
    tags=("usage",),
)
async def workspace_metrics(workspace_id: str) -> Response:
    svc = services()
    wid = require_uuid(workspace_id)
    await workspace_auth(svc, wid)
    status = await svc.workspaces.status_of(wid)
    if status is None or status == WorkspaceStatus.REMOVED:
        raise NotFound("workspace not found")
    await svc.usage.flush()
    day = utc_day()
    usage = await TokenUsageRows(svc.store).day(wid, day)
    start, end = period(day)
    return json_response(
        {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "total_calls": usage.calls,
            "estimated_cost_usd": f"{usage.cost:.6f}",
            "period_start": start,
            "period_end": end,
        }
    )
