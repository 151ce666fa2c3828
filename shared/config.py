"""Settings, read once from the environment (app settings in Azure, ``local.settings.json``
under Core Tools), typed and validated. A bad value fails with a message that names the
setting and what it accepts.

Every setting the app reads is declared in :data:`SETTINGS`; the settings table in docs/reference.md
and ``local.settings.sample.json`` are checked against it by the tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from shared.domain.calendar import MAX_OFFSET_DAYS, MIN_OFFSET_DAYS, CalendarPolicy, YearMonth
from shared.domain.fleet import parse_hotpatch_images
from shared.domain.sql_catalog import DEFAULT_EXCLUDED_HARDWARE, DEFAULT_EXCLUDED_SERVICE_OBJECTIVES, EligibilityPolicy


class ConfigError(ValueError):
    """A setting has a value the app cannot use."""


# -- parsers: each takes the raw text and returns the typed value or raises ValueError --


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"a whole number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"a whole number from {lo} to {hi}")
        return value

    return parse


def _float_range(lo: float, hi: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise ValueError(f"a number from {lo} to {hi}") from None
        if not lo <= value <= hi:
            raise ValueError(f"a number from {lo} to {hi}")
        return value

    return parse


def _bool(text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("true or false")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in re.split(r"[,;\s]+", text) if p.strip())


def _months(text: str) -> frozenset[int]:
    out = set()
    for p in _csv(text):
        if not p.isdigit() or not 1 <= int(p) <= 12:
            raise ValueError(f"a comma-separated list of months 1..12 (bad item {p!r})")
        out.add(int(p))
    return frozenset(out)


def _year_months(text: str) -> frozenset[YearMonth]:
    out = set()
    for p in _csv(text):
        try:
            out.add(YearMonth.parse(p))
        except ValueError:
            raise ValueError(f"a comma-separated list of months as YYYY-MM (bad item {p!r})") from None
    return frozenset(out)


_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def _guids(text: str) -> frozenset[str]:
    items = _csv(text)
    bad = [i for i in items if not _GUID.fullmatch(i)]
    if bad:
        raise ValueError(f"a comma-separated list of subscription GUIDs (bad item {bad[0]!r})")
    return frozenset(i.lower() for i in items)


def _ncrontab(text: str) -> str:
    fields = text.split()
    if len(fields) != 6:
        raise ValueError("a six-field NCRONTAB expression such as '0 5 * * * *' (second minute hour day month weekday)")
    return " ".join(fields)


def _url_or_empty(text: str) -> str:
    t = text.strip()
    if t and not re.match(r"https?://", t):
        raise ValueError("an http(s) URL")
    return t.rstrip("/")


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        t = text.strip()
        for o in options:
            if t.lower() == o.lower():
                return o
        raise ValueError("one of " + ", ".join(options))

    return parse


def _text(text: str) -> str:
    return text.strip()


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    parse: Callable[[str], Any]
    doc: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    # storage
    Setting(
        "AzureWebJobsStorage",
        "UseDevelopmentStorage=true",
        _text,
        "The function app's storage account (connection string, or the identity settings `__tableServiceUri`/`__queueServiceUri` (or `__accountName`) in Azure). Holds queues and, unless OUTCOMES_STORAGE is set, the outcome tables.",
        secret=True,
    ),
    Setting(
        "OUTCOMES_STORAGE",
        "",
        _text,
        "Connection string or account URL of another storage account for the outcome tables. Empty: use AzureWebJobsStorage.",
        secret=True,
    ),
    Setting("OUTCOMES_TABLE_PREFIX", "pw", _text, "Prefix of the outcome store's table names (letters and digits)."),
    # calendar
    Setting("BASELINE_MONTHS", "1,4,7,10", _months, "Months (1..12) with a planned hotpatch baseline (reboot)."),
    Setting(
        "UNPLANNED_BASELINE_MONTHS",
        "",
        _year_months,
        "Months (YYYY-MM, comma-separated) that Microsoft declared unplanned baselines.",
    ),
    Setting(
        "PATCH_OFFSET_DAYS",
        "0",
        _int_range(MIN_OFFSET_DAYS, MAX_OFFSET_DAYS),
        "Days after Patch Tuesday (-30..30) on which the cycle's assessments are scheduled.",
    ),
    Setting(
        "INSTALL_DEADLINE_DAYS",
        "30",
        _int_range(1, 90),
        "Days (x 24 h) after the release by which Critical and Security patches must be installed.",
    ),
    # scope
    Setting(
        "TARGET_SUBSCRIPTION_IDS",
        "",
        _guids,
        "Subscriptions whose VMs are assessed each cycle (comma-separated GUIDs).",
    ),
    Setting("TARGET_RESOURCE_GROUPS", "", _csv, "Optional: only VMs in these resource groups (comma-separated)."),
    Setting("TARGET_TAG", "", _text, "Optional: only VMs carrying this tag, as `name` or `name=value`."),
    Setting(
        "ALLOWED_SUBSCRIPTION_IDS",
        "",
        _guids,
        "When set, events about other subscriptions are refused as foreign (comma-separated GUIDs).",
    ),
    Setting(
        "HOTPATCH_IMAGES",
        "",
        parse_hotpatch_images,
        "Optional: the images (publisher:offer:sku, comma-separated) that can enrol in hotpatching; empty: the hotpatch document's list.",
    ),
    # SQL
    Setting(
        "SQL_EXCLUDED_SERVICE_OBJECTIVES",
        ",".join(DEFAULT_EXCLUDED_SERVICE_OBJECTIVES),
        _csv,
        "SQL service objectives (`*` a wildcard) that cannot choose a window: judged against SQL_Default only.",
    ),
    Setting(
        "SQL_EXCLUDED_HARDWARE",
        ",".join(DEFAULT_EXCLUDED_HARDWARE),
        _csv,
        "SQL hardware families (DC, Fsv2, Gen4, M-series ...) that cannot choose a window: judged against SQL_Default only.",
    ),
    # timers and cadence
    Setting("CYCLE_SCHEDULE", "0 5 * * * *", _ncrontab, "NCRONTAB (UTC) of the patch-cycle timer."),
    Setting("WATCHDOG_SCHEDULE", "0 */15 * * * *", _ncrontab, "NCRONTAB (UTC) of the watchdog timer."),
    Setting("REASSESS_EVERY_DAYS", "3", _int_range(1, 30), "Days between periodic re-assessments within a cycle."),
    Setting(
        "WATCHDOG_FULL",
        "false",
        _bool,
        "Read every recorded fact on every watchdog run instead of what changed since the last one (the incremental fact base).",
    ),
    Setting(
        "WATCHDOG_REBUILD_HOURS",
        "24",
        _int_range(1, 720),
        "Hours after which the incremental watchdog rebuilds its fact base from the tables (a safety net).",
    ),
    # clouds and endpoints
    Setting(
        "AZURE_CLOUD",
        "AzurePublicCloud",
        _choice("AzurePublicCloud", "AzureUSGovernment", "AzureChinaCloud"),
        "Which Azure cloud's endpoints to use: Resource Manager, sign-in, Log Analytics, and the storage suffix of URLs built from an account name.",
    ),
    Setting("ARM_ENDPOINT", "", _url_or_empty, "Override of the Resource Manager endpoint (Resource Graph included)."),
    Setting("AUTHORITY_HOST", "", _url_or_empty, "Override of the Entra ID token authority."),
    Setting("LOGS_ENDPOINT", "", _url_or_empty, "Override of the Log Analytics query endpoint."),
    Setting(
        "AZURE_CLIENT_ID",
        "",
        _text,
        "Client id of the user-assigned managed identity (empty: system-assigned or developer credentials).",
    ),
    # remediation and gate
    Setting(
        "REMEDIATE_AFTER_DEADLINE",
        "false",
        _bool,
        "Install Critical and Security patches on VMs still missing them after the deadline.",
    ),
    Setting("REMEDIATION_MAX_CONCURRENCY", "10", _int_range(1, 500), "At most this many installations at once."),
    Setting(
        "REMEDIATION_MAX_ERRORS",
        "5",
        _int_range(0, 500),
        "Stop starting installations after this many failures in a cycle.",
    ),
    Setting("REMEDIATION_MAX_DURATION", "PT3H", _text, "ISO 8601 maximum duration of one installation."),
    Setting(
        "CANCEL_UNHEALTHY_RUNS", "false", _bool, "Cancel a maintenance run when too many of its VMs are unhealthy."
    ),
    Setting(
        "CANCEL_UNHEALTHY_SHARE",
        "0.5",
        _float_range(0.0, 1.0),
        "Share of a run's VMs that must be unhealthy to cancel it.",
    ),
    # alerting
    Setting(
        "ALERTS_TOPIC_ENDPOINT",
        "",
        _url_or_empty,
        "Event Grid custom topic endpoint that receives alerts as CloudEvents.",
    ),
    Setting("ALERTS_TOPIC_KEY", "", _text, "Optional topic access key (empty: managed identity).", secret=True),
    Setting(
        "LOG_ANALYTICS_WORKSPACE_ID", "", _text, "Workspace id (GUID) queried for VM heartbeats after maintenance."
    ),
    Setting(
        "MAINTENANCE_GRACE_MINUTES",
        "60",
        _int_range(0, 1440),
        "Minutes after a window's end before a missing post event is an overrun.",
    ),
    Setting(
        "HEALTH_GRACE_MINUTES", "30", _int_range(0, 1440), "Minutes a resource may stay unhealthy after maintenance."
    ),
    Setting(
        "WATCHED_MAINTENANCE_CONFIGURATIONS",
        "",
        _csv,
        "Resource ids of Update Manager maintenance configurations with event subscriptions to this app.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def calendar(self) -> CalendarPolicy:
        return CalendarPolicy(
            baseline_months=self["BASELINE_MONTHS"],
            unplanned_baselines=self["UNPLANNED_BASELINE_MONTHS"],
            offset_days=self["PATCH_OFFSET_DAYS"],
            deadline_days=self["INSTALL_DEADLINE_DAYS"],
        )

    @property
    def sql_eligibility(self) -> EligibilityPolicy:
        return EligibilityPolicy(
            excluded_service_objectives=frozenset(s.lower() for s in self["SQL_EXCLUDED_SERVICE_OBJECTIVES"]),
            excluded_hardware=frozenset(h.lower() for h in self["SQL_EXCLUDED_HARDWARE"]),
        )


def load_settings(env: Mapping[str, str] | None = None, **overrides: str) -> Settings:
    """Read and validate every setting; collect all problems into one error."""
    source = dict(os.environ if env is None else env)
    source.update(overrides)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for s in SETTINGS:
        raw = source.get(s.name)
        if raw is None or raw.strip() == "":
            raw = s.default
        try:
            values[s.name] = s.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if s.secret else repr(raw)
            problems.append(f"setting {s.name}={shown} is invalid: expected {exc}")
    if not problems:
        try:
            _ = Settings(values).calendar
        except ValueError as exc:
            problems.append(f"calendar settings are inconsistent: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))
    return Settings(values)


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()


def setting(name: str) -> Setting:
    return _BY_NAME[name]


def read_one(name: str, env: Mapping[str, str] | None = None) -> Any:
    """One setting, read and validated on its own: for what is needed while the app is
    indexed (timer schedules), before the rest of the settings are read."""
    s = _BY_NAME[name]
    raw = (os.environ if env is None else env).get(name, "").strip() or s.default
    try:
        return s.parse(raw)
    except ValueError as exc:
        shown = "(hidden)" if s.secret else repr(raw)
        raise ConfigError(f"setting {name}={shown} is invalid: expected {exc}") from None


def settings_markdown() -> str:
    """The settings table of docs/reference.md, generated from :data:`SETTINGS`."""
    lines = ["| Setting | Default | Meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | {default} | {s.doc} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m shared.config: print the settings table in docs/reference.md
    print(settings_markdown())
