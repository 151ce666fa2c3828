"""What the alerting end-to-end tests share: the loopback servers a world talks to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.alerting_world import WORKSPACE, build_arm, trust_all
from tests.support.arm_schedules import ScheduleArm
from tests.support.eventgrid_topic import EventGridTopic
from tests.support.logs_server import LogsWorkspace


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[EventGridTopic, LogsWorkspace, ScheduleArm, dict[str, str]]]:
    """The alerts topic, the Log Analytics workspace and the ARM with the demo's schedules and
    databases, trusted by the Azure SDK clients (a module may define its own ARM instead)."""
    with EventGridTopic() as topic, LogsWorkspace(WORKSPACE) as logs, ScheduleArm() as arm:
        databases = build_arm(arm)
        with trust_all(topic, logs, arm):
            yield topic, logs, arm, databases
