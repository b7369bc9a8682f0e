"""The Prometheus metrics of one platform (`GET /metrics`, docs/architecture.md §7).

Each platform has its own `Metrics` and so its own `CollectorRegistry`, never the library's
global one: tests run several platforms in one process, and a global registry would refuse
the second platform's metrics (or mix their counts).

Three kinds of figures:
- events counted where they happen, on instruments bound once here, so the hot paths pay an
  increment and no label lookup: A2A requests by outcome with their latency (the proxy
  route), heartbeats, restarts by cause and provision times (the WorkspaceActor), queue
  drains;
- live state read when scraped (`molecule.observability.live`): event-bus subscribers and
  drops, actor mailboxes, the database pool and its errors;
- database counts, one small query per scrape (the route reads them): workspaces by status,
  the A2A queue's depth and the age of its oldest item. When the database cannot be reached
  those series are left out and `molecule_database_up` is 0: the rest still answers.

Label values come from fixed lists, so the number of series is bounded whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from molecule.errors import AgentErrorStatus, MoleculeError
from molecule.models import WorkspaceStatus

A2A_OUTCOMES = (
    "ok",  # the agent answered 2xx (a stream included), or the mock runtime did
    "queued",  # the agent was busy: stored in the durable queue, 202
    "poll",  # a poll-mode workspace: stored for its agent to fetch
    "busy",  # busy and not queued (the agent keeps its own sessions, or the enqueue failed)
    "restarting",  # the agent is being (re)started or woken: retry later
    "unreachable",  # nothing answered at the agent's address (502)
    "agent_error",  # the agent answered with an error status
    "refused",  # refused before any delivery: input, credentials, access, budget (4xx)
    "unavailable",  # the platform could not take it: database outage, actor busy (503)
    "client_gone",  # the caller hung up before the answer
    "error",  # anything else (500)
)
RESTART_CAUSES = (
    "create",
    "manual",
    "resume",
    "expand",
    "wake",
    "secret_changed",
    "agent_exited",
    "agent_down",
    "heartbeat_timeout",
    "platform_restart",
    "coalesced",
    "other",
)
DRAIN_RESULTS = ("delivered", "busy_again", "failed")
A2A_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
PROVISION_BUCKETS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600)


@dataclass(frozen=True)
class DatabaseCounts:
    """What one scrape reads from the database."""

    workspaces: Mapping[str, int] = field(default_factory=dict)  # status -> rows
    queue_depth: int = 0  # A2A queue items waiting (`queued`)
    queue_oldest_age: float = 0.0  # seconds the oldest of them has waited; 0 when none


def a2a_error_outcome(exc: MoleculeError) -> str:
    """The outcome label of an A2A request answered with this error."""
    extra = exc.extra
    if extra.get("restarting") or extra.get("waking"):
        return "restarting"
    if extra.get("busy"):
        return "busy"
    if isinstance(exc, AgentErrorStatus):
        return "agent_error"
    status = exc.status
    if status == 499:
        return "client_gone"
    if status == 502:
        return "unreachable"
    if 400 <= status < 500:
        return "refused"
    if status == 503:
        return "unavailable"
    return "error"


class Metrics:
    """The instruments of one platform and the registry that exposes them."""

    def __init__(self) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series
        self.registry = CollectorRegistry()
        r = self.registry
        self.a2a_requests = Counter(
            "molecule_a2a_requests", "A2A proxy requests by outcome", ["outcome"], registry=r
        )
        self.a2a_duration = Histogram(
            "molecule_a2a_request_duration_seconds",
            "A2A proxy request time, from the request to the end of the answer, by outcome",
            ["outcome"],
            buckets=A2A_BUCKETS,
            registry=r,
        )
        # Bound once: the proxy pays an increment and an observation, no label lookup.
        self._a2a = {
            o: (self.a2a_requests.labels(o), self.a2a_duration.labels(o)) for o in A2A_OUTCOMES
        }
        self.heartbeats = Counter(
            "molecule_heartbeats", "Heartbeats accepted from agents", registry=r
        )
        restarts = Counter(
            "molecule_workspace_restarts",
            "Agent restart cycles started, by cause",
            ["cause"],
            registry=r,
        )
        self._restarts = {cause: restarts.labels(cause) for cause in RESTART_CAUSES}
        self.provision_duration = Histogram(
            "molecule_provision_duration_seconds",
            "From the start of a restart cycle to the agent being online",
            buckets=PROVISION_BUCKETS,
            registry=r,
        )
        self.provision_failures = Counter(
            "molecule_provision_failures", "Restart cycles whose start failed", registry=r
        )
        self.queue_drains = Counter(
            "molecule_a2a_queue_drains", "Drains of an A2A queue that claimed items", registry=r
        )
        drained = Counter(
            "molecule_a2a_queue_drained_items",
            "A2A queue items a drain dispatched, by result",
            ["result"],
            registry=r,
        )
        self._drained = {result: drained.labels(result) for result in DRAIN_RESULTS}
        self._database = _DatabaseFigures()
        r.register(self._database)
        self._rate_limits_watched = False

    # -- counted where it happens ------------------------------------------------------------

    def a2a_request(self, outcome: str, seconds: float) -> None:
        counter, histogram = self._a2a.get(outcome) or self._a2a["error"]
        counter.inc()
        histogram.observe(seconds)

    def restart(self, cause: str) -> None:
        (self._restarts.get(cause) or self._restarts["other"]).inc()

    def drained(self, result: str) -> None:
        self._drained[result].inc()

    # -- scrape ------------------------------------------------------------------------------

    def watch(self, collector: Collector) -> None:
        """Add figures read at scrape time (molecule.observability.live)."""
        self.registry.register(collector)

    def watch_rate_limits(self, collector: Collector) -> None:
        """The edge's rate limiter figures, once: the first app built on these services is
        the one that serves (tests build more on a running platform to read its route table,
        and their limiters see no traffic)."""
        if not self._rate_limits_watched:
            self._rate_limits_watched = True
            self.registry.register(collector)

    def render(
        self, counts: DatabaseCounts | None, encoder: Callable[[CollectorRegistry], bytes]
    ) -> bytes:
        """The exposition text, with this scrape's database counts (None: unreadable)."""
        self._database.counts = counts
        return encoder(self.registry)


class _DatabaseFigures:
    """The figures of the latest scrape's query; only `molecule_database_up` (0) when the
    database could not be read, so no stale figure passes for a current one."""

    def __init__(self) -> None:
        self.counts: DatabaseCounts | None = None

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        yield GaugeMetricFamily(
            "molecule_database_up",
            "1 when this scrape could read the database",
            value=0 if counts is None else 1,
        )
        if counts is None:
            return
        workspaces = GaugeMetricFamily(
            "molecule_workspaces", "Workspaces by status", labels=["status"]
        )
        for status in WorkspaceStatus:
            workspaces.add_metric([str(status)], counts.workspaces.get(str(status), 0))
        yield workspaces
        yield GaugeMetricFamily(
            "molecule_a2a_queue_depth",
            "A2A queue items waiting for delivery",
            value=counts.queue_depth,
        )
        yield GaugeMetricFamily(
            "molecule_a2a_queue_oldest_age_seconds",
            "How long the oldest waiting A2A queue item has waited (0: none waits)",
            value=counts.queue_oldest_age,
        )
