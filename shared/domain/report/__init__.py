"""The monthly compliance report: what one patch cycle's recorded facts add up to.

Input (:class:`ReportInputs`) is what the stores hold about a cycle: maintenance runs,
health signals and SQL maintenance notices (the outcome store), each VM's standing in
the cycle (the patch cycle's store), alerts (the alert store), and which machines a run
or a SQL notice concerns where that is known. Output (:class:`ComplianceReport`) is a
summary (how many VMs were assessed, are compliant, still pending, failed, not
assessable; runs; health dips; alerts by kind) and one timeline per resource group:
the cycle's release and install deadline, the runs and windows that touched the group,
its resources' health dips and annotations, and their alerts.

Where a run's machines are not known (no verification, no assignment cached), the run
is drawn in every resource group of the subscriptions it targeted, flagged as inferred;
where no group of those subscriptions is known, in its configuration's own group. A
Service Health notice goes to the groups of the SQL resources it may concern, else to
its subscription. Nothing is guessed silently: every inference is marked as one.

Pure: no I/O, no clock (``now`` is part of the input), no Azure SDK.

The package: :mod:`.model` (inputs and the report's parts) and :mod:`.build`
(:func:`build_report`). Everything is importable from here.
"""

from .build import build_report, dips_of, window_choice
from .model import (
    MARGIN,
    MAX_LANES,
    AlertMark,
    Annotation,
    ComplianceReport,
    Dip,
    GroupKey,
    GroupTimeline,
    Lane,
    NoticeMark,
    ReportInputs,
    RunMark,
    SqlResource,
    Standing,
    Summary,
    VmResult,
    resource_name,
)

__all__ = [
    "MARGIN",
    "MAX_LANES",
    "AlertMark",
    "Annotation",
    "ComplianceReport",
    "Dip",
    "GroupKey",
    "GroupTimeline",
    "Lane",
    "NoticeMark",
    "ReportInputs",
    "RunMark",
    "SqlResource",
    "Standing",
    "Summary",
    "VmResult",
    "build_report",
    "dips_of",
    "resource_name",
    "window_choice",
]
