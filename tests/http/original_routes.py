"""The original platform's routes (upstream-april §1's tables, with upstream-may's additions
and removals) and what this platform does with each: the data behind the "Route coverage"
section of docs/compatibility.md, checked against the routing table by test_route_coverage.

One line per method and path, in the original's notation (`:param`, `*path`):
`<method> <path> <served | missing | not-served> [<section>]`. `missing` routes could exist here
and do not yet; `not-served` ones are left out on purpose (the reasons are in the docs).
"""

from __future__ import annotations

import re

ROUTES = """
GET /health served 1.1
GET /metrics served 1.1
GET /admin/liveness missing 1.1
GET /admin/workspaces/:id/test-token served 1.1
POST /admin/workspaces/:id/bootstrap-failed not-served 1.1
GET /workspaces/:id/console served 1.1
GET /admin/memories/export served 1.1
POST /admin/memories/import served 1.1
GET /admin/schedules/health served 1.1
POST /admin/a2a-queue/drop-stale served 1.1
POST /admin/workspace-images/refresh served 1.1
GET /admin/github-installation-token not-served 1.1
GET /workspaces/:id/github-installation-token not-served 1.1
GET /admin/secrets served 1.1
POST /admin/secrets served 1.1
DELETE /admin/secrets/:key served 1.1
GET /workspaces served 1.2
POST /workspaces served 1.2
GET /workspaces/:id served 1.2
PATCH /workspaces/:id served 1.2
DELETE /workspaces/:id served 1.2
GET /workspaces/:id/state served 1.2
POST /workspaces/:id/restart served 1.2
POST /workspaces/:id/pause served 1.2
POST /workspaces/:id/resume served 1.2
POST /workspaces/:id/hibernate served 1.2
POST /workspaces/:id/expand served 1.2
POST /workspaces/:id/collapse served 1.2
POST /workspaces/:id/agent missing 1.2
PATCH /workspaces/:id/agent missing 1.2
DELETE /workspaces/:id/agent missing 1.2
POST /workspaces/:id/agent/move missing 1.2
PATCH /workspaces/:id/abilities served 1.2
POST /workspaces/:id/external/rotate served 1.2
GET /workspaces/:id/external/connection served 1.2
POST /registry/register served 1.3
POST /registry/heartbeat served 1.3
POST /registry/update-card served 1.3
GET /registry/discover/:id served 1.3
GET /registry/:id/peers served 1.3
POST /registry/check-access served 1.3
POST /workspaces/:id/a2a served 1.4
GET /workspaces/:id/a2a/queue/:queue_id served 1.4
GET /workspaces/:id/activity served 1.5
POST /workspaces/:id/activity served 1.5
GET /workspaces/:id/session-search served 1.5
POST /workspaces/:id/notify served 1.5
POST /workspaces/:id/delegate served 1.5
GET /workspaces/:id/delegations served 1.5
POST /workspaces/:id/delegations/record served 1.5
POST /workspaces/:id/delegations/:delegation_id/update served 1.5
GET /admin/delegations served 1.5
GET /admin/delegations/stats served 1.5
GET /workspaces/:id/secrets served 1.6
GET /workspaces/:id/secrets/values served 1.6
POST /workspaces/:id/secrets served 1.6
PUT /workspaces/:id/secrets served 1.6
DELETE /workspaces/:id/secrets/:key served 1.6
GET /workspaces/:id/model served 1.6
PUT /workspaces/:id/model served 1.6
GET /workspaces/:id/provider served 1.6
PUT /workspaces/:id/provider served 1.6
GET /settings/secrets served 1.6
PUT /settings/secrets served 1.6
POST /settings/secrets served 1.6
DELETE /settings/secrets/:key served 1.6
GET /workspaces/:id/tokens served 1.6
POST /workspaces/:id/tokens served 1.6
DELETE /workspaces/:id/tokens/:tokenId served 1.6
GET /org/tokens served 1.6
POST /org/tokens served 1.6
DELETE /org/tokens/:id served 1.6
GET /workspaces/:id/config served 1.6
PATCH /workspaces/:id/config served 1.6
GET /workspaces/:id/budget served 1.6
PATCH /workspaces/:id/budget served 1.6
GET /workspaces/:id/metrics served 1.6
GET /workspaces/:id/schedules served 1.7
POST /workspaces/:id/schedules served 1.7
PATCH /workspaces/:id/schedules/:scheduleId served 1.7
DELETE /workspaces/:id/schedules/:scheduleId served 1.7
POST /workspaces/:id/schedules/:scheduleId/run served 1.7
GET /workspaces/:id/schedules/:scheduleId/history served 1.7
GET /workspaces/:id/schedules/health served 1.7
GET /templates served 1.8
POST /templates/import served 1.8
GET /workspaces/:id/files served 1.8
GET /workspaces/:id/files/*path served 1.8
PUT /workspaces/:id/files/*path served 1.8
DELETE /workspaces/:id/files/*path served 1.8
PUT /workspaces/:id/files served 1.8
GET /workspaces/:id/shared-context served 1.8
POST /workspaces/:id/chat/uploads served 1.8
GET /workspaces/:id/chat/download served 1.8
GET /workspaces/:id/pending-uploads/:file_id/content served 1.8
POST /workspaces/:id/pending-uploads/:file_id/ack served 1.8
GET /workspaces/:id/transcript served 1.8
GET /workspaces/:id/terminal served 1.8
POST /workspaces/:id/memories served 1.9
GET /workspaces/:id/memories served 1.9
DELETE /workspaces/:id/memories/:memoryId served 1.9
GET /workspaces/:id/memory served 1.9
GET /workspaces/:id/memory/:key served 1.9
POST /workspaces/:id/memory served 1.9
DELETE /workspaces/:id/memory/:key served 1.9
POST /workspaces/:id/approvals served 1.10
GET /workspaces/:id/approvals served 1.10
POST /workspaces/:id/approvals/:approvalId/decide served 1.10
GET /approvals/pending served 1.10
GET /instructions served 1.10
POST /instructions served 1.10
PUT /instructions/:id served 1.10
DELETE /instructions/:id served 1.10
GET /workspaces/:id/instructions/resolve served 1.10
POST /workspaces/:id/checkpoints served 1.10
GET /workspaces/:id/checkpoints/latest served 1.10
GET /workspaces/:id/checkpoints/:wfid served 1.10
DELETE /workspaces/:id/checkpoints/:wfid served 1.10
GET /workspaces/:id/traces missing 1.10
GET /workspaces/:id/audit missing 1.10
POST /workspaces/:id/artifacts not-served 1.10
GET /workspaces/:id/artifacts not-served 1.10
POST /workspaces/:id/artifacts/fork not-served 1.10
POST /workspaces/:id/artifacts/token not-served 1.10
GET /workspaces/:id/events/stream served 1.10
GET /workspaces/:id/mcp/stream served 1.10
POST /workspaces/:id/mcp served 1.10
GET /plugins served 1.10
GET /plugins/sources served 1.10
GET /workspaces/:id/plugins served 1.10
POST /workspaces/:id/plugins served 1.10
DELETE /workspaces/:id/plugins/:name served 1.10
GET /workspaces/:id/plugins/available served 1.10
GET /workspaces/:id/plugins/compatibility served 1.10
GET /workspaces/:id/plugins/:name/download served 1.10
GET /bundles/export/:id served 1.10
POST /bundles/import served 1.10
GET /org/templates served 1.10
POST /org/import served 1.10
GET /orgs/:id/plugins/allowlist served 1.10
PUT /orgs/:id/plugins/allowlist served 1.10
GET /channels/adapters not-served 1.10
GET /workspaces/:id/channels not-served 1.10
POST /workspaces/:id/channels not-served 1.10
PATCH /workspaces/:id/channels/:channelId not-served 1.10
DELETE /workspaces/:id/channels/:channelId not-served 1.10
POST /workspaces/:id/channels/:channelId/send not-served 1.10
POST /workspaces/:id/channels/:channelId/test not-served 1.10
POST /channels/discover not-served 1.10
POST /webhooks/:type not-served 1.10
POST /webhooks/github not-served 1.10
POST /webhooks/github/:id not-served 1.10
GET /canvas/viewport served 1.10
PUT /canvas/viewport served 1.10
GET /events served 1.10
GET /events/:workspaceId served 1.10
GET /ws served 1.10
GET /buildinfo served may
GET /uploads/limits served may
"""
"""`ANY /cp/*path` (the SaaS control-plane proxy) and the canvas reverse proxy (NoRoute) have
no method and path of their own; the docs list them as not served."""


def original_routes() -> list[tuple[str, str, str, str]]:
    """(method, path, status, section) of every line above."""
    found = []
    for line in ROUTES.strip().splitlines():
        method, path, status, section = line.split()
        found.append((method, path, status, section))
    return found


def shape(path: str) -> str:
    """A path with its parameters blanked, in either notation (`:id`, `*path`, `{id}`)."""
    return re.sub(r"(:[A-Za-z_]+|\*[A-Za-z_]+|\{[A-Za-z_]+\})", "{}", path)
