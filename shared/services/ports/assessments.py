"""The port the cycle reads machines' own latest assessments through (Resource Graph's
``patchassessmentresources``). Implemented by :class:`shared.adapters.resource_graph.AssessmentGraph`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.domain.assessment_graph import GraphAssessment


class AssessmentGraphPort(Protocol):
    def latest_assessments(self, subscriptions: Sequence[str]) -> dict[str, GraphAssessment]:
        """Machine id (lower-case) -> its latest assessment, for every machine of the subscriptions."""
        ...
