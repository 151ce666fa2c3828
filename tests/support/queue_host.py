"""Drive a queue-triggered function as the Functions host does, from a real (Azurite) queue.

The host receives a message (hiding it), invokes the function with a
``func.QueueMessage`` (id, decoded body, dequeue count, pop receipt), deletes the
message when the function returns, makes it visible again after ``visibilityTimeout``
when the function raises, and moves it to ``{queue}-poison`` once it has been dequeued
``maxDequeueCount`` times (host.json: 5). This does the same, with several concurrent
workers if asked, until both queues are empty.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions.queue import QueueMessage

from shared.adapters.storage import queue_client, resolve_target


@dataclass
class QueueHost:
    connection: str
    handler: Callable[[func.QueueMessage], Any]
    queue: str = "assessments"
    poison_handler: Callable[[func.QueueMessage], Any] | None = None
    max_dequeue: int = 5
    retry_visibility: int = 0  # host.json visibilityTimeout for failed messages (30 s in production)
    lease: int = 60  # how long a received message stays hidden while the function runs
    batch: int = 16  # host.json queues.batchSize
    invocations: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        target = resolve_target(self.connection)
        self.main = queue_client(target, self.queue)
        self.poison = queue_client(target, f"{self.queue}-poison")
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Empty (or create) both queues."""
        from azure.core.exceptions import ResourceExistsError

        for q in (self.main, self.poison):
            try:
                q.create_queue()
            except ResourceExistsError:
                q.clear_messages()

    def pending(self) -> int:
        """Messages in both queues, invisible (delayed, leased) ones included."""
        return sum(int(q.get_queue_properties().approximate_message_count or 0) for q in (self.main, self.poison))

    @staticmethod
    def _as_func(m: Any) -> func.QueueMessage:
        """The message as the worker's converter builds it (``azure.functions.queue.QueueMessage``)."""
        return QueueMessage(
            id=m.id,
            body=m.content,
            dequeue_count=m.dequeue_count,
            pop_receipt=m.pop_receipt,
            insertion_time=m.inserted_on,
            expiration_time=m.expires_on,
            time_next_visible=m.next_visible_on,
        )

    def _one(self, source: Any, m: Any, handler: Callable[[func.QueueMessage], Any], poison: bool) -> None:
        with self._lock:
            self.invocations["poison" if poison else "main"] += 1
        try:
            handler(self._as_func(m))
        except Exception as exc:
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            if not poison and m.dequeue_count >= self.max_dequeue:
                self.poison.send_message(m.content)
                source.delete_message(m)
            else:
                source.update_message(m, pop_receipt=m.pop_receipt, visibility_timeout=self.retry_visibility)
            return
        source.delete_message(m)

    def step(self, batch: int | None = None) -> int:
        """Receive and process one batch from each queue; returns how many messages were handled."""
        batch = batch or self.batch
        handled = 0
        for source, handler, poison in (
            (self.main, self.handler, False),
            (self.poison, self.poison_handler, True),
        ):
            if handler is None:
                continue
            for m in source.receive_messages(
                messages_per_page=batch, max_messages=batch, visibility_timeout=self.lease
            ):
                self._one(source, m, handler, poison)
                handled += 1
        return handled

    def drain(self, *, timeout: float = 120.0, workers: int = 1, idle_sleep: float = 0.05) -> int:
        """Process until both queues are empty (delayed messages included). Returns messages handled."""
        deadline = time.monotonic() + timeout
        total = 0
        failure: list[BaseException] = []

        def work() -> None:
            nonlocal total
            try:
                while time.monotonic() < deadline:
                    n = self.step()
                    with self._lock:
                        total += n
                    if n == 0:
                        if self.pending() == 0:
                            return
                        time.sleep(idle_sleep)
            except BaseException as exc:  # surface in the caller
                failure.append(exc)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        if failure:
            raise failure[0]
        if self.pending():
            raise TimeoutError(f"{self.pending()} message(s) still queued after {timeout:.0f} s")
        return total
