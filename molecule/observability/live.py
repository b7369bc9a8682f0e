"""Figures read from the running platform when `/metrics` is scraped, not counted as they
happen: what is true right now (subscribers, mailboxes, pool connections), and counters the
parts keep as plain integers (events published and dropped, actor crashes, database errors),
so those parts need no metrics library of their own.

The parts are described by what this module reads from them (Protocols), so this package
imports none of the layers above it. One scrape walks every actor's mailbox once: a few
milliseconds with 10,000 workspaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class BusFigures(Protocol):
    """The event bus (molecule.events.bus.EventBus)."""

    published: int

    @property
    def subscriber_count(self) -> int: ...

    @property
    def dropped(self) -> int: ...


class ActorFigures(Protocol):
    """An actor supervisor (molecule.actors.supervisor.Supervisor)."""

    crashes: int

    def mailbox_figures(self) -> tuple[int, int, int]:
        """(actors, messages waiting in all their mailboxes, the deepest mailbox)."""
        ...


class StoreFigures(Protocol):
    """The database pool (molecule.store.pool.Store)."""

    outages: int
    query_errors: int

    def pool_figures(self) -> tuple[int, int, int]:
        """(open connections, idle ones, the pool's maximum)."""
        ...


class LiveFigures:
    """A Prometheus collector over the platform's running parts."""

    def __init__(self, bus: BusFigures, actors: ActorFigures, store: StoreFigures) -> None:
        self.bus = bus
        self.actors = actors
        self.store = store

    def collect(self) -> Iterator[Metric]:
        bus, store = self.bus, self.store
        yield GaugeMetricFamily(
            "molecule_event_subscribers",
            "Live event subscribers (WebSocket, SSE and batch-mode canvas connections)",
            value=bus.subscriber_count,
        )
        yield CounterMetricFamily(
            "molecule_events_published", "Events published on the bus", value=bus.published
        )
        yield CounterMetricFamily(
            "molecule_event_drops",
            "Events dropped for subscribers that fell behind",
            value=bus.dropped,
        )
        actors, waiting, deepest = self.actors.mailbox_figures()
        yield GaugeMetricFamily("molecule_actors", "Running workspace actors", value=actors)
        yield GaugeMetricFamily(
            "molecule_actor_mailbox_messages",
            "Messages waiting in all workspace actors' mailboxes",
            value=waiting,
        )
        yield GaugeMetricFamily(
            "molecule_actor_mailbox_max_messages",
            "Messages waiting in the fullest workspace actor mailbox",
            value=deepest,
        )
        yield CounterMetricFamily(
            "molecule_actor_crashes",
            "Workspace actor crashes (each restarted by its supervisor, or given up)",
            value=self.actors.crashes,
        )
        size, idle, maximum = store.pool_figures()
        pool = GaugeMetricFamily(
            "molecule_db_pool_connections", "Database pool connections", labels=["state"]
        )
        pool.add_metric(["in_use"], max(size - idle, 0))
        pool.add_metric(["idle"], idle)
        yield pool
        yield GaugeMetricFamily(
            "molecule_db_pool_max_connections", "Database pool size limit", value=maximum
        )
        errors = CounterMetricFamily(
            "molecule_db_errors",
            "Database failures: unavailable (could not reach PostgreSQL, answered 503), "
            "query (PostgreSQL refused a statement)",
            labels=["kind"],
        )
        errors.add_metric(["unavailable"], store.outages)
        errors.add_metric(["query"], store.query_errors)
        yield errors


class LimiterFigures(Protocol):
    """The edge's rate limiter (molecule.http.edge_limits.RateLimiter)."""

    refused: int

    def __len__(self) -> int:
        """Clients (credentials or addresses) it keeps a window for."""
        ...


class RateLimitFigures:
    """A Prometheus collector over the edge's rate limiter (present only when limits are on)."""

    def __init__(self, limiter: LimiterFigures) -> None:
        self.limiter = limiter

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "molecule_rate_limited_requests",
            "Requests refused with 429 by the rate limit (RATE_LIMIT per minute per client)",
            value=self.limiter.refused,
        )
        yield GaugeMetricFamily(
            "molecule_rate_limit_clients",
            "Clients (credentials or addresses) the rate limiter keeps a window for",
            value=len(self.limiter),
        )
