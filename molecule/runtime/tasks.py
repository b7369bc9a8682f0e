"""Task bookkeeping: the bounded store behind `tasks/get`, and the heartbeat's live figures.

Every `message/send` runs as a task: its record is `working` while the adapter runs, then
`completed` (history = the user's message and the agent's reply), `failed` or `canceled`.
Finished tasks are kept in memory, the oldest evicted past `capacity`. The tracker derives
what the heartbeat reports: active tasks, the current task's summary, and the error rate over
the last `window` outcomes with the latest error as the sample.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime

import trio

from molecule.runtime.a2a_wire import TaskView, WireMessage

TERMINAL = frozenset({"completed", "failed", "canceled"})
SUMMARY_CHARS = 200


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def summarize(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…"


@dataclass
class TaskRecord:
    view: TaskView
    scope: trio.CancelScope | None = None

    @property
    def finished(self) -> bool:
        return self.view.state in TERMINAL


class TaskStore:
    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self._tasks: OrderedDict[str, TaskRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def get(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    def begin(self, task_id: str, context_id: str, message: WireMessage) -> TaskRecord:
        record = self._tasks.get(task_id)
        if record is None:
            record = TaskRecord(TaskView(task_id, context_id, "working", now_iso()))
            self._tasks[task_id] = record
        else:  # a follow-up message on a known task continues its history
            self._tasks.move_to_end(task_id)
            record.view.state, record.view.timestamp = "working", now_iso()
            record.view.status_message = None
        record.view.history.append(message)
        self._evict()
        return record

    def finish(self, record: TaskRecord, state: str, reply: WireMessage | None) -> None:
        record.view.state, record.view.timestamp = state, now_iso()
        record.scope = None
        if reply is not None:
            if state == "completed":
                record.view.history.append(reply)
            else:
                record.view.status_message = reply
        self._evict()

    def _evict(self) -> None:
        while len(self._tasks) > self.capacity:
            victim = next((k for k, r in self._tasks.items() if r.finished), None)
            if victim is None:
                return  # everything is running: never drop a live task
            del self._tasks[victim]


class TaskTracker:
    def __init__(self, window: int = 20) -> None:
        self._active: OrderedDict[str, str] = OrderedDict()
        self._outcomes: deque[bool] = deque(maxlen=window)
        self.last_error = ""

    def start(self, task_id: str, text: str) -> None:
        self._active[task_id] = summarize(text)

    def finish(self, task_id: str, error: str | None = None) -> None:
        self._active.pop(task_id, None)
        self._outcomes.append(error is not None)
        if error is not None:
            self.last_error = error

    @property
    def active_tasks(self) -> int:
        return len(self._active)

    @property
    def current_task(self) -> str:
        return next(reversed(self._active.values()), "") if self._active else ""

    @property
    def error_rate(self) -> float:
        if not self._outcomes:
            return 0.0
        return round(sum(self._outcomes) / len(self._outcomes), 4)

    @property
    def sample_error(self) -> str:
        return self.last_error if any(self._outcomes) else ""
