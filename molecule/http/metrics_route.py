"""GET /metrics: the platform's Prometheus metrics (molecule.observability.metrics).

Who may read it: the admin token, an org token or the canvas session (AdminAuth), or anyone
when the operator opens it with MOLECULE_METRICS_OPEN=1 (a scraper on a private network that
holds no credential). The original served it open; here it says how a platform is used, so
it is closed unless opened.

A scrape costs one small query (workspaces by status, the A2A queue), bounded in time. When
the database cannot be read, the scrape still answers with everything else and
`molecule_database_up 0`: an outage is when the other figures matter most.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import (
    CONTENT_TYPE_PLAIN_0_0_4,
    choose_encoder,
    generate_latest,
)
from quart import Blueprint, Response, request

from molecule.errors import DatastoreUnavailable
from molecule.http.api import Auth, ErrorBody, endpoint
from molecule.http.auth import admin_auth
from molecule.http.common import services
from molecule.observability.metrics import DatabaseCounts
from molecule.services import Services
from molecule.store.gauge_reads import database_counts

log = logging.getLogger("molecule.http.metrics")

bp = Blueprint("metrics", __name__)

SCRAPE_QUERY_TIMEOUT = 5.0


async def _counts(svc: Services) -> DatabaseCounts | None:
    """This scrape's database counts; None when the database cannot be read in time."""
    with trio.move_on_after(SCRAPE_QUERY_TIMEOUT):
        try:
            return await database_counts(svc.store)
        except DatastoreUnavailable:
            return None
    log.warning("metrics: the database counts took over %gs; left out", SCRAPE_QUERY_TIMEOUT)
    return None


def _encoder(accept: str) -> tuple[Callable[[CollectorRegistry], bytes], str]:
    """The format the scraper asks for; the classic text format when it asks for nothing
    known, or in words the library cannot parse (`version=abc` made it raise)."""
    try:
        return choose_encoder(accept)
    except Exception:
        return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


@bp.get("/metrics")
@endpoint(
    Auth.ADMIN,
    "The platform's metrics in the Prometheus text format",
    description="Open without a credential when the operator sets MOLECULE_METRICS_OPEN=1. "
    "OpenMetrics when the Accept header asks for it.",
    responses={200: "Prometheus text exposition format", 401: ErrorBody},
    tags=("admin",),
)
async def metrics() -> Response:
    svc = services()
    if not svc.settings.metrics_open:
        await admin_auth(svc)
    counts = await _counts(svc)
    encoder, content_type = _encoder(request.headers.get("Accept", ""))
    body = svc.metrics.render(counts, encoder)
    return Response(body, status=200, content_type=content_type)
