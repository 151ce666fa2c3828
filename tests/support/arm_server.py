"""A stateful loopback Azure Resource Manager, for the real SDK clients to talk to.

Built on :class:`tests.support.loopback.LoopbackHttps`. It speaks the parts of ARM the
patch cycle uses, with the published REST examples (``tests/fixtures/published/arm``)
as response bodies, varied per VM:

- ``GET .../virtualMachines/{vm}`` (``$expand=instanceView``) and ``.../instanceView``:
  power state, patch settings, image, the latest assessment's summary
  (``patchStatus.availablePatchSummary``: ``InProgress`` with its ``startTime`` and
  ``assessmentActivityId`` from the moment ``assessPatches`` is accepted, then its outcome);
- Arc-enabled servers (``SimVm(kind="arc")``): ``GET .../Microsoft.HybridCompute/machines/{name}``
  and its own ``assessPatches`` / ``installPatches`` (``arm/hybridcompute`` examples); scale
  sets (``kind="vmss"``) exist in Resource Graph and in runs only. A request to
  ``Microsoft.Compute/virtualMachines/<name>`` naming a machine that is not an Azure VM is a
  *violation*: it is answered 404 as ARM would, recorded, and fails the test when the
  simulator's ``with`` block ends;
- ``POST .../assessPatches`` and ``.../installPatches`` as long-running operations:
  ``202`` + ``Location`` + ``Retry-After``; polling the location answers ``202`` until
  the operation's configured duration has passed, then ``200`` with the result;
- ``POST /providers/Microsoft.ResourceGraph/resources``: ``resources`` (virtual
  machines) and ``maintenanceresources`` (``microsoft.maintenance/applyupdates``)
  queries with ``$skipToken`` paging. The simulator evaluates the small KQL subset
  the adapter emits (``where`` equality / ``in~`` / ``has`` on property paths, tag
  tests, ``project`` of property paths) against ARG-shaped documents;
- the maintenance run cancel ``PUT {correlationId}?api-version=2023-09-01-preview``;
- ARM's throttling: a token bucket per subscription and kind (reads 250 / 25 per s,
  writes 200 / 10 per s by default) answering ``429`` with ``Retry-After``, and the
  ``x-ms-ratelimit-remaining-subscription-reads`` / ``-writes`` headers on every
  response, beside ``x-ms-ratelimit-remaining-subscription-global-reads`` / ``-writes``
  (the subscription's bucket for all principals, 15 times the principal's; names and
  sizes as ARM's throttling docs and its answers give them, see
  shared/adapters/retry.py). One bucket for every client of one simulator: several
  processes pointed at it share it, as the instances of one app (one principal) share
  ARM's. Resource Graph has its own per-user quota (15 per 5 s) and headers;
- injectable faults: 500/503, connection resets, 409 "another operation is in
  progress", 403, 404 — by rate (seeded) or by count, for matching requests.

Everything the tests want to assert is counted: requests, 429s, operations accepted
per VM, install parameters, cancellations.
"""

from __future__ import annotations

import base64
import copy
import errno
import itertools
import json
import logging
import math
import os
import random
import re
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.support.arm_schedules import ScheduleRoutes
from tests.support.fixtures import published
from tests.support.loopback import LoopbackHttps

SUB = "11111111-2222-3333-4444-555555555555"
GLOBAL_FACTOR = 15  # the subscription's global bucket, all principals (ARM's throttling docs)
API_CANCEL = "2023-09-01-preview"
_VM_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Compute/"
    r"virtualMachines/(?P<vm>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_ARC_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.HybridCompute/"
    r"machines/(?P<vm>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_OP_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.(?:Compute|HybridCompute)/locations/(?P<loc>[^/]+)/"
    r"(?:operations|operationResults)/(?P<op>[^/]+)$",
    re.IGNORECASE,
)
_SUB_IN_PATH = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
_APPLY_PATH = re.compile(r"/providers/microsoft\.maintenance/applyupdates/[^/]+$", re.IGNORECASE)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- the fleet -------------------------------------------------------------------------


@dataclass
class SimPatch:
    """One pending patch on a simulated VM."""

    kb: str
    classification: str = "Security"
    reboot: str = "CanRequestReboot"  # NeverReboots | CanRequestReboot | AlwaysRequiresReboot
    published: str = "2026-04-14T00:00:00Z"
    name: str = ""

    def as_available(self, activity: str) -> dict[str, Any]:
        return {
            "patchId": str(uuid.uuid5(uuid.NAMESPACE_URL, "kb" + self.kb)),
            "name": self.name or f"{self.classification} update (KB{self.kb})",
            "version": "",
            "kbId": self.kb,
            "classifications": [self.classification],
            "rebootBehavior": self.reboot,
            "activityId": activity,
            "publishedDate": self.published,
            "lastModifiedDateTime": now_iso(),
            "assessmentState": "Available",
        }


@dataclass
class SimVm:
    name: str
    resource_group: str = "rg-app"
    subscription_id: str = SUB
    location: str = "westeurope"
    os_type: str = "Windows"
    power_state: str = "running"  # running | deallocated | stopped | starting ...
    patch_mode: str = "AutomaticByPlatform"
    hotpatch: bool = True
    image: tuple[str, str, str, str] = (
        "MicrosoftWindowsServer",
        "WindowsServer",
        "2022-datacenter-azure-edition-hotpatch",
        "latest",
    )
    tags: dict[str, str] = field(default_factory=dict)
    patches: list[SimPatch] = field(default_factory=list)
    reboot_pending: bool = False
    assessment_error: dict[str, Any] | None = None  # makes the assessment end "Failed"
    install_error: dict[str, Any] | None = None  # makes installations end "Failed", nothing installed
    last_installation: dict[str, Any] | None = None  # the instance view's lastPatchInstallationSummary
    exists: bool = True
    kind: str = "vm"  # vm (Azure VM) | arc (Arc-enabled server) | vmss (a scale set: no patch API served)
    assessment_mode: str = "AutomaticByPlatform"
    bypass_platform_safety_checks: bool | None = None  # automaticByPlatformSettings, when set

    @property
    def id(self) -> str:
        provider = {
            "vm": "Microsoft.Compute/virtualMachines",
            "arc": "Microsoft.HybridCompute/machines",
            "vmss": "Microsoft.Compute/virtualMachineScaleSets",
        }[self.kind]
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}/providers/{provider}/{self.name}"


def default_patches(index: int) -> list[SimPatch]:
    """A per-VM variation of the published example: a few Security/Critical, some others."""
    base = [
        SimPatch("2267602", "Definition Updates", "NeverReboots", "2026-04-01T00:00:00Z"),
        SimPatch("890830", "Update Rollups", "CanRequestReboot", "2026-04-14T00:00:00Z"),
    ]
    hot = [SimPatch(f"50{index:05d}", "Security", "NeverReboots", "2026-04-14T00:00:00Z")] if index % 3 == 0 else []
    crit = [SimPatch(f"51{index:05d}", "Critical", "NeverReboots", "2026-04-14T00:00:00Z")] if index % 4 == 1 else []
    return base[: 1 + index % 2] + hot + crit


def make_fleet(count: int, *, subscription_id: str = SUB, groups: int = 3, prefix: str = "vm") -> list[SimVm]:
    return [
        SimVm(
            name=f"{prefix}{i:05d}",
            resource_group=f"rg-{i % groups}",
            subscription_id=subscription_id,
            tags={"patchwatch": "yes"} if i % 2 == 0 else {"env": "dev"},
            patches=default_patches(i),
        )
        for i in range(count)
    ]


@dataclass
class SimRun:
    """A maintenance run (its applyupdates records) known to ``maintenanceresources``."""

    correlation_id: str
    vm_ids: list[str]
    cancellation_cutoff: float | None = None  # time.time() after which cancel is refused
    status: str = "InProgress"
    cancelled_at: str | None = None


@dataclass
class Operation:
    op_id: str
    kind: str  # assess | install
    vm: SimVm
    accepted: float
    done_at: float
    location: str
    parameters: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    accepted_utc: str = field(default_factory=now_iso)
    activity: str = field(default_factory=lambda: str(uuid.uuid4()))


# -- throttling -------------------------------------------------------------------------


@dataclass
class TokenBucket:
    capacity: float
    rate: float
    tokens: float = -1.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def take(self, now: float) -> tuple[bool, int, float]:
        """(allowed, remaining after this request, seconds until a token is back)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0.0
        return False, 0, (1 - self.tokens) / self.rate


# -- faults -----------------------------------------------------------------------------


@dataclass
class Fault:
    """Answer matching requests with a fault, at ``rate`` (seeded) or for the next ``count``."""

    kind: str  # "500" | "503" | "reset" | "conflict" | "403" | "404" | "400"
    method: str | None = None
    path_contains: str = ""
    rate: float = 0.0
    count: int | None = None
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and self.path_contains.lower() in path.lower()


class _KeepAliveLoopback(LoopbackHttps):
    """:class:`LoopbackHttps` served by cheroot instead of werkzeug's development server.

    Werkzeug's server closes every connection (it cannot drain a request body safely), so
    every ARM call would pay a TLS handshake on both ends; ARM and the SDK's connection
    pool keep connections alive, and at fleet scale (the fan-out benchmark) the
    handshakes alone would dominate. Requests, recording and trust work as in
    :class:`LoopbackHttps`; requests are still parsed with werkzeug.
    """

    def start(self) -> LoopbackHttps:
        from cheroot import wsgi
        from cheroot.ssl.builtin import BuiltinSSLAdapter

        cert = self._ca.issue_cert("127.0.0.1", "localhost")
        cert_file = os.path.join(self._dir, "server.pem")
        key_file = os.path.join(self._dir, "server.key")
        cert.cert_chain_pems[0].write_to_path(cert_file)
        cert.private_key_pem.write_to_path(key_file)

        class Gateway(wsgi.Gateway_10):
            """Exposes the connection's socket (for the connection-reset fault)."""

            def get_environ(self) -> dict[str, Any]:
                environ: dict[str, Any] = super().get_environ()
                environ["loopback.socket"] = self.req.conn.socket
                return environ

        server = wsgi.Server(("127.0.0.1", 0), self._wsgi, numthreads=16, max=-1, request_queue_size=64)
        server.gateway = Gateway
        server.expiration_interval = 0.05  # how long stop() waits for the accept loop to notice
        server.ssl_adapter = BuiltinSSLAdapter(cert_file, key_file)
        server.prepare()
        self._cheroot = server
        self._port = server.bind_addr[1]
        self._thread = threading.Thread(target=server.serve, name="loopback-arm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server = getattr(self, "_cheroot", None)
        if server is not None:
            server.stop()
            self._cheroot = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._port}"


class ArmSimulator:
    """The loopback ARM. Use as a context manager; ``url`` is the ARM endpoint."""

    def __init__(
        self,
        vms: list[SimVm] | None = None,
        *,
        assess_seconds: float = 0.0,
        install_seconds: float = 0.0,
        retry_after: int = 0,
        writes: tuple[float, float] = (200, 10.0),
        reads: tuple[float, float] = (250, 25.0),
        graph: tuple[float, float] = (15, 3.0),
        throttle: bool = True,
        page_size: int = 1000,
        seed: int = 4,
    ) -> None:
        self.vms: dict[str, SimVm] = {}
        for vm in vms or []:
            self.add(vm)
        self.runs: dict[str, SimRun] = {}
        self.operations: dict[str, Operation] = {}
        self.assess_seconds = assess_seconds
        self.install_seconds = install_seconds
        self.retry_after = retry_after
        self.limits = {"reads": reads, "writes": writes, "graph": graph}
        self.throttle = throttle
        self.page_size = page_size
        self.faults: list[Fault] = []
        self._rng = random.Random(seed)
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.RLock()
        self.counts: Counter[str] = Counter()
        self.throttled_at: list[float] = []  # time.monotonic() of each 429
        self.accepted: Counter[str] = Counter()  # (kind:vm id lower) -> operations accepted
        self.in_flight: Counter[str] = Counter()  # kind -> accepted, result not yet fetched
        self.max_in_flight: Counter[str] = Counter()
        self.install_requests: list[dict[str, Any]] = []
        self.cancel_requests: list[str] = []
        self.schedules = ScheduleRoutes()  # maintenance configurations, assignments (dynamic scopes), SQL
        self.violations: list[str] = []  # requests for non-VM machines at Microsoft.Compute/virtualMachines
        self.server = _KeepAliveLoopback(self._handle)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request is noise
        self._ops = itertools.count(1)
        self._fixture_assess = published("arm/compute/VirtualMachine_AssessPatches.json")
        self._fixture_install = published("arm/compute/VirtualMachine_InstallPatches.json")
        self._fixture_view = published("arm/compute/VirtualMachine_Get_InstanceView.json")
        self._fixture_vm = published(
            "arm/compute/VirtualMachine_Create_WindowsVmWithPatchSettingModeOfAutomaticByPlatformAndEnableHotPatchingTrue.json"
        )
        self._fixture_arc = published("arm/hybridcompute/Machines_Get.json")
        self._fixture_arc_assess = published("arm/hybridcompute/Machine_AssessPatches.json")
        self._fixture_arc_install = published("arm/hybridcompute/Machine_InstallPatches.json")

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> ArmSimulator:
        self.server.start()
        self._trust = self.server.trust()
        self._trust.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._trust.__exit__(None, None, None)
        self.server.stop()
        if self.violations and exc[0] is None:
            raise AssertionError(
                "requests reached Microsoft.Compute/virtualMachines for machines that are not Azure VMs: "
                + "; ".join(self.violations)
            )

    @property
    def url(self) -> str:
        return self.server.url

    # -- set-up helpers -----------------------------------------------------------------

    def add(self, vm: SimVm) -> SimVm:
        self.vms[vm.id.lower()] = vm
        return vm

    def vm(self, name: str) -> SimVm:
        for vm in self.vms.values():
            if vm.name == name:
                return vm
        raise KeyError(name)

    def add_run(self, correlation_id: str, vm_ids: list[str], *, cutoff_in: float | None = None) -> SimRun:
        run = SimRun(correlation_id, vm_ids, None if cutoff_in is None else time.time() + cutoff_in)
        self.runs[correlation_id.lower()] = run
        return run

    def inject(self, kind: str, *, rate: float = 0.0, count: int | None = None, method: str | None = None,
               path_contains: str = "") -> Fault:  # fmt: skip
        fault = Fault(kind, method, path_contains, rate, count)
        self.faults.append(fault)
        return fault

    def accepted_for(self, vm: SimVm, kind: str = "assess") -> int:
        return self.accepted[f"{kind}:{vm.id.lower()}"]

    @property
    def throttled_share(self) -> float:
        return self.counts["429"] / max(1, self.counts["requests"])

    # -- request handling ----------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.counts["requests"] += 1
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            return self._error(401, "AuthenticationFailed", "Authentication failed: no bearer token.")
        path = request.path
        is_graph = path.lower().startswith("/providers/microsoft.resourcegraph/")
        kind = "graph" if is_graph else ("reads" if request.method in ("GET", "HEAD") else "writes")
        m = _SUB_IN_PATH.match(path)
        sub = m.group(1).lower() if m else "tenant"
        allowed, remaining, wait = self._take(sub, kind)
        if allowed and kind != "graph":
            allowed, _, wait = self._take(sub, f"global-{kind}")
        headers = self._quota_headers(sub, kind, remaining)
        if not allowed:
            with self._lock:
                self.counts["429"] += 1
                self.throttled_at.append(time.monotonic())
            headers["Retry-After"] = str(max(1, math.ceil(wait)))
            code = "RateLimiting" if is_graph else "SubscriptionRequestsThrottled"
            return self._error(429, code, f"Number of {kind} requests for subscription '{sub}' exceeded.", headers)
        fault = self._fault(request.method, path)
        if fault is not None:
            response = self._apply_fault(fault, request, headers)
            if response is not None:
                return response
        try:
            response = self._route(request, sub)
        except KeyError as exc:
            response = self._error(404, "ResourceNotFound", f"The Resource {exc.args[0]!r} was not found.")
        for k, v in headers.items():
            response.headers.setdefault(k, v)
        with self._lock:
            self.counts[f"status:{response.status_code}"] += 1
        return response

    def _take(self, sub: str, kind: str) -> tuple[bool, int, float]:
        if not self.throttle:
            return True, int(self.limits[kind][0]) - 1, 0.0
        with self._lock:
            bucket = self._buckets.get((sub, kind))
            if bucket is None:
                size, rate = self.limits[kind.removeprefix("global-")]
                factor = GLOBAL_FACTOR if kind.startswith("global-") else 1
                bucket = self._buckets[(sub, kind)] = TokenBucket(size * factor, rate * factor)
            return bucket.take(time.monotonic())

    def _quota_headers(self, sub: str, kind: str, remaining: int) -> dict[str, str]:
        if kind == "graph":
            return {"x-ms-user-quota-remaining": str(remaining), "x-ms-user-quota-resets-after": "00:00:05"}
        other = "reads" if kind == "writes" else "writes"
        with self._lock:
            b = self._buckets.get((sub, other))
            other_left = int(b.tokens) if b is not None else int(self.limits[other][0])
            g = self._buckets.get((sub, f"global-{kind}"))
            global_left = int(g.tokens) if g is not None else int(self.limits[kind][0] * GLOBAL_FACTOR)
        return {
            f"x-ms-ratelimit-remaining-subscription-{kind}": str(remaining),
            f"x-ms-ratelimit-remaining-subscription-global-{kind}": str(global_left),
            f"x-ms-ratelimit-remaining-subscription-{other}": str(other_left),
        }

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if not f.matches(method, path):
                    continue
                if f.count is not None:
                    if f.fired < f.count:
                        f.fired += 1
                        return f
                elif f.rate and self._rng.random() < f.rate:
                    f.fired += 1
                    return f
        return None

    def _apply_fault(self, fault: Fault, request: Request, headers: dict[str, str]) -> Response | None:
        with self._lock:
            self.counts[f"fault:{fault.kind}"] += 1
        if fault.kind == "reset":
            sock = request.environ.get("loopback.socket")
            if sock is not None:
                # SO_LINGER 0: the server closes the connection with a TCP reset, as a dropped
                # load-balancer connection would; the error tells cheroot the peer is gone.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            raise ConnectionResetError(errno.ECONNRESET, "injected connection reset")
        if fault.kind in ("500", "503"):
            return self._error(int(fault.kind), "InternalServerError", "An internal error occurred.", headers)
        if fault.kind == "conflict":
            return self._error(
                409,
                "AnotherOperationInProgress",
                "Another operation on this or dependent resource is in progress.",
                headers,
            )
        if fault.kind == "403":
            return self._error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action "
                "'Microsoft.Compute/virtualMachines/assessPatches/action' over scope.",
                headers,
            )
        if fault.kind == "404":
            return self._error(404, "ResourceNotFound", "The Resource was not found.", headers)
        if fault.kind == "400":
            return self._error(400, "InvalidParameter", "The value of parameter is invalid.", headers)
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    @staticmethod
    def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        body = {"error": {"code": code, "message": message}}
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

    @staticmethod
    def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")

    def _route(self, request: Request, sub: str) -> Response:
        path, method = request.path, request.method
        served = self.schedules.route(request)
        if served is not None:
            return served
        low = path.lower()
        if low == "/providers/microsoft.resourcegraph/resources" and method == "POST":
            return self._graph(request.get_json(force=True))
        if method == "PUT" and _APPLY_PATH.search(path):
            return self._cancel(path, request)
        m = _OP_PATH.match(path)
        if m and method == "GET":
            return self._poll(m.group("op"))
        m = _ARC_PATH.match(path)
        if m:
            vm = self.vms.get(path[: len(path) - len(m.group("rest") or "")].lower())
            if vm is None or not vm.exists or vm.kind != "arc":
                raise KeyError(path)
            rest = (m.group("rest") or "").lower()
            if method == "GET" and rest == "":
                return self._json(self._arc_body(vm))
            if method == "POST" and rest == "/assesspatches":
                return self._start(vm, "assess", {})
            if method == "POST" and rest == "/installpatches":
                return self._start(vm, "install", request.get_json(force=True) or {})
        m = _VM_PATH.match(path)
        if m:
            vm = self.vms.get(f"/subscriptions/{m['sub']}/resourceGroups/{m['rg']}/providers/Microsoft.Compute/"
                              f"virtualMachines/{m['vm']}".lower())  # fmt: skip
            if vm is None:
                others = [v.id for v in self.vms.values() if v.kind != "vm" and v.name.lower() == m["vm"].lower()]
                if others:
                    with self._lock:
                        self.violations.append(f"{method} {path} (that name is {', '.join(others)})")
            if vm is None or not vm.exists:
                raise KeyError(path)
            rest = (m.group("rest") or "").lower()
            if method == "GET" and rest == "":
                return self._json(self._vm_body(vm, expand="instanceview" in request.args.get("$expand", "").lower()))
            if method == "GET" and rest == "/instanceview":
                return self._json(self._instance_view(vm))
            if method == "POST" and rest == "/assesspatches":
                return self._start(vm, "assess", {})
            if method == "POST" and rest == "/installpatches":
                return self._start(vm, "install", request.get_json(force=True) or {})
        return self._error(400, "InvalidRequestUri", f"The simulator does not serve {method} {path}.")

    # -- virtual machines -------------------------------------------------------------------

    def _instance_view(self, vm: SimVm) -> dict[str, Any]:
        view = copy.deepcopy(self._fixture_view["responses"]["200"]["body"])
        view["computerName"] = vm.name
        view["osName"] = "Windows Server 2022 Datacenter: Azure Edition" if vm.os_type == "Windows" else "ubuntu"
        view["statuses"][-1] = {
            "code": f"PowerState/{vm.power_state}",
            "level": "Info",
            "displayStatus": f"VM {vm.power_state}",
        }
        summary = view["patchStatus"]["availablePatchSummary"]
        cs = sum(1 for p in vm.patches if p.classification in ("Critical", "Security"))
        summary.update(
            criticalAndSecurityPatchCount=cs,
            otherPatchCount=len(vm.patches) - cs,
            rebootPending=vm.reboot_pending,
        )
        with self._lock:
            ops = [o for o in self.operations.values() if o.vm is vm and o.kind == "assess"]
        if ops:  # the latest assessment, as ARM shows it: InProgress until it completes
            op = max(ops, key=lambda o: o.accepted)
            running = time.monotonic() < op.done_at
            failed = vm.assessment_error is not None
            summary.update(
                status="InProgress" if running else ("Failed" if failed else "Succeeded"),
                assessmentActivityId=op.activity,
                startTime=op.accepted_utc,
                lastModifiedTime=op.accepted_utc if running else now_iso(),
                error=vm.assessment_error if failed and not running else None,
            )
        if vm.last_installation is not None:
            view["patchStatus"]["lastPatchInstallationSummary"].update(vm.last_installation)
        if vm.power_state == "deallocated":
            view.pop("vmAgent", None)
        return view

    def _vm_body(self, vm: SimVm, *, expand: bool) -> dict[str, Any]:
        body = copy.deepcopy(self._fixture_vm["responses"]["200"]["body"])
        body.update(id=vm.id, name=vm.name, location=vm.location, tags=dict(vm.tags))
        props = body["properties"]
        props["provisioningState"] = "Succeeded"
        publisher, offer, sku, version = vm.image
        props["storageProfile"]["imageReference"] = {
            "publisher": publisher,
            "offer": offer,
            "sku": sku,
            "version": version,
        }
        props["storageProfile"]["osDisk"]["osType"] = vm.os_type
        if vm.os_type == "Windows":
            props["osProfile"]["windowsConfiguration"]["patchSettings"] = {
                "patchMode": vm.patch_mode,
                "enableHotpatching": vm.hotpatch,
                "assessmentMode": vm.assessment_mode,
            }
        else:
            props["osProfile"].pop("windowsConfiguration", None)
            props["osProfile"]["linuxConfiguration"] = {
                "patchSettings": {"patchMode": vm.patch_mode, "assessmentMode": vm.assessment_mode}
            }
        if vm.bypass_platform_safety_checks is not None:
            config = "windowsConfiguration" if vm.os_type == "Windows" else "linuxConfiguration"
            props["osProfile"][config]["patchSettings"]["automaticByPlatformSettings"] = {
                "rebootSetting": "IfRequired",
                "bypassPlatformSafetyChecksOnUserSchedule": vm.bypass_platform_safety_checks,
            }
        if expand:
            props["instanceView"] = self._instance_view(vm)
        return body

    def _graph_vm(self, vm: SimVm) -> dict[str, Any]:
        """The VM as Resource Graph's ``resources`` table shows it (lower-case type, ``extended``)."""
        doc = self._vm_body(vm, expand=False)
        doc.update(
            type="microsoft.compute/virtualmachines",
            resourceGroup=vm.resource_group.lower(),
            subscriptionId=vm.subscription_id,
        )
        doc["properties"]["extended"] = {
            "instanceView": {"powerState": {"code": f"PowerState/{vm.power_state}", "level": "Info"}}
        }
        return doc

    def _arc_body(self, vm: SimVm) -> dict[str, Any]:
        """An Arc-enabled server, from the published Machines_Get example."""
        body = copy.deepcopy(self._fixture_arc["responses"]["200"]["body"])
        body.update(id=vm.id, name=vm.name, location=vm.location, tags=dict(vm.tags))
        props = body["properties"]
        status = {"running": "Connected"}.get(vm.power_state, vm.power_state.capitalize())
        props.update(status=status, osType=vm.os_type.lower(), osSku=vm.image[2], displayName=vm.name)
        settings = {"assessmentMode": vm.assessment_mode, "patchMode": vm.patch_mode}
        if vm.os_type == "Windows":
            props["osProfile"]["windowsConfiguration"]["patchSettings"].update(settings, enableHotpatching=vm.hotpatch)
            props["osProfile"].pop("linuxConfiguration", None)
        else:
            props["osProfile"]["linuxConfiguration"]["patchSettings"].update(settings)
            props["osProfile"].pop("windowsConfiguration", None)
        return body

    def _graph_doc(self, vm: SimVm) -> dict[str, Any]:
        if vm.kind == "arc":
            doc = self._arc_body(vm)
            doc.update(type="microsoft.hybridcompute/machines", resourceGroup=vm.resource_group.lower(),
                       subscriptionId=vm.subscription_id)  # fmt: skip
            return doc
        if vm.kind == "vmss":
            return {"id": vm.id, "name": vm.name, "type": "microsoft.compute/virtualmachinescalesets",
                    "location": vm.location, "resourceGroup": vm.resource_group.lower(),
                    "subscriptionId": vm.subscription_id, "tags": dict(vm.tags), "properties": {}}  # fmt: skip
        return self._graph_vm(vm)

    # -- long-running operations -------------------------------------------------------------

    def _start(self, vm: SimVm, kind: str, parameters: dict[str, Any]) -> Response:
        if vm.power_state in ("deallocated", "stopped", "deallocating"):
            return self._error(
                409,
                "OperationNotAllowed",
                f"Operation '{'assessPatches' if kind == 'assess' else 'installPatches'}' is not allowed on VM "
                f"'{vm.name}' since the VM is {vm.power_state}.",
            )
        now = time.monotonic()
        with self._lock:
            busy = [o for o in self.operations.values() if o.vm is vm and o.done_at > now]
            if busy:
                return self._error(
                    409,
                    "AnotherOperationInProgress",
                    "Another operation on this or dependent resource is in progress.",
                )
            op_id = f"{next(self._ops):08d}-{uuid.uuid4()}"
            provider, ops = ("HybridCompute", "operationResults") if vm.kind == "arc" else ("Compute", "operations")
            location = (
                f"{self.url}/subscriptions/{vm.subscription_id}/providers/Microsoft.{provider}/locations/"
                f"{vm.location}/{ops}/{op_id}?monitor=true&api-version=2025-04-01"
            )
            delay = self.assess_seconds if kind == "assess" else self.install_seconds
            op = Operation(op_id, kind, vm, now, now + delay, location, parameters)
            self.operations[op_id] = op
            self.accepted[f"{kind}:{vm.id.lower()}"] += 1
            self.in_flight[kind] += 1
            self.max_in_flight[kind] = max(self.max_in_flight[kind], self.in_flight[kind])
            if kind == "install":
                self.install_requests.append({"vm": vm.id, **parameters})
        return Response(
            b"",
            status=202,
            headers={"Location": location, "Retry-After": str(self.retry_after)},
        )

    def _poll(self, op_id: str) -> Response:
        with self._lock:
            op = self.operations.get(op_id)
        if op is None:
            raise KeyError(op_id)
        if time.monotonic() < op.done_at:
            return Response(b"", status=202, headers={"Location": op.location, "Retry-After": str(self.retry_after)})
        with self._lock:
            if op.result is None:
                op.result = self._assess_result(op) if op.kind == "assess" else self._install_result(op)
                self.in_flight[op.kind] -= 1
        return self._json(op.result)

    def _arc_assess_result(self, vm: SimVm) -> dict[str, Any]:
        body = copy.deepcopy(self._fixture_arc_assess["responses"]["200"]["body"])
        counts = dict.fromkeys(body["availablePatchCountByClassification"], 0)
        for p in vm.patches:
            key = {"Security": "security", "Critical": "critical", "Update Rollups": "updateRollup",
                   "Definition Updates": "definition"}.get(p.classification, "updates")  # fmt: skip
            counts[key] = counts.get(key, 0) + 1
        body.update(assessmentActivityId=str(uuid.uuid4()), rebootPending=vm.reboot_pending, startDateTime=now_iso(),
                    availablePatchCountByClassification=counts, osType=vm.os_type)  # fmt: skip
        if vm.assessment_error is not None:
            body.update(status="Failed", errorDetails=vm.assessment_error)
        return body

    def _assess_result(self, op: Operation) -> dict[str, Any]:
        vm = op.vm
        if vm.kind == "arc":
            return self._arc_assess_result(vm)
        body = copy.deepcopy(self._fixture_assess["responses"]["200"]["body"])
        activity = op.activity
        patches = [p.as_available(activity) for p in vm.patches]
        cs = sum(1 for p in vm.patches if p.classification in ("Critical", "Security"))
        body.update(
            assessmentActivityId=activity,
            rebootPending=vm.reboot_pending,
            criticalAndSecurityPatchCount=cs,
            otherPatchCount=len(vm.patches) - cs,
            startDateTime=now_iso(),
            availablePatches=patches,
        )
        if vm.assessment_error is not None:
            body.update(status="Failed", error=vm.assessment_error, availablePatches=[])
        return body

    def _install_result(self, op: Operation) -> dict[str, Any]:
        vm, params = op.vm, op.parameters
        if vm.install_error is not None:
            body = copy.deepcopy(self._fixture_install["responses"]["200"]["body"])
            body.update(
                status="Failed",
                installationActivityId=str(uuid.uuid4()),
                installedPatchCount=0,
                failedPatchCount=len(vm.patches),
                pendingPatchCount=len(vm.patches),
                startDateTime=now_iso(),
                patches=[],
                error=vm.install_error,
            )
            return body
        win = params.get("windowsParameters") or params.get("linuxParameters") or {}
        wanted = set(win.get("classificationsToInclude") or [])
        exclude_reboot = bool(win.get("excludeKbsRequiringReboot"))
        excluded_kbs = set(win.get("kbNumbersToExclude") or [])
        installed, pending, excluded, not_selected = [], [], [], []
        for p in vm.patches:
            if p.kb in excluded_kbs or (exclude_reboot and p.reboot != "NeverReboots"):
                excluded.append(p)
            elif wanted and p.classification not in wanted:
                not_selected.append(p)
            elif params.get("rebootSetting") == "Never" and p.reboot == "AlwaysRequiresReboot":
                pending.append(p)
            else:
                installed.append(p)
        vm.patches = [p for p in vm.patches if p not in installed]
        vm.last_installation = {
            "status": "Succeeded",
            "installedPatchCount": len(installed),
            "failedPatchCount": 0,
            "pendingPatchCount": len(pending),
            "excludedPatchCount": len(excluded),
            "notSelectedPatchCount": len(not_selected),
            "startTime": now_iso(),
        }
        needs_reboot = any(p.reboot != "NeverReboots" for p in installed)
        if vm.kind == "arc":
            body = copy.deepcopy(self._fixture_arc_install["responses"]["200"]["body"])
            body.update(installationActivityId=str(uuid.uuid4()), excludedPatchCount=len(excluded),
                        notSelectedPatchCount=len(not_selected), pendingPatchCount=len(pending),
                        installedPatchCount=len(installed), failedPatchCount=0, startDateTime=now_iso(),
                        rebootStatus="Completed" if needs_reboot and params.get("rebootSetting") != "Never"
                        else "NotNeeded")  # fmt: skip
            return body
        body = copy.deepcopy(self._fixture_install["responses"]["200"]["body"])
        body.update(
            installationActivityId=str(uuid.uuid4()),
            rebootStatus="Completed" if needs_reboot and params.get("rebootSetting") != "Never" else "NotNeeded",
            excludedPatchCount=len(excluded),
            notSelectedPatchCount=len(not_selected),
            pendingPatchCount=len(pending),
            installedPatchCount=len(installed),
            failedPatchCount=0,
            startDateTime=now_iso(),
            patches=[
                {
                    "patchId": str(uuid.uuid5(uuid.NAMESPACE_URL, "kb" + p.kb)),
                    "name": p.name or f"KB{p.kb}",
                    "version": "",
                    "kbId": p.kb,
                    "classifications": [p.classification],
                    "installationState": state,
                }
                for group, state in ((installed, "Installed"), (pending, "Pending"), (excluded, "Excluded"))
                for p in group
            ],
        )
        return body

    # -- maintenance runs ---------------------------------------------------------------------

    def _cancel(self, path: str, request: Request) -> Response:
        correlation = path.lower()
        body = request.get_json(force=True, silent=True) or {}
        if request.args.get("api-version") != API_CANCEL:
            return self._error(400, "InvalidApiVersion", f"api-version must be {API_CANCEL}")
        if (body.get("properties") or {}).get("status") != "Cancel":
            return self._error(400, "InvalidRequestContent", "properties.status must be 'Cancel'.")
        with self._lock:
            run = self.runs.get(correlation)
            if run is None:
                raise KeyError(path)
            if run.cancellation_cutoff is not None and time.time() > run.cancellation_cutoff:
                return self._error(
                    409, "MaintenanceCancellationNotAllowed", "The run can no longer be cancelled: cut-off passed."
                )
            run.status = "Cancel"
            run.cancelled_at = now_iso()
            self.cancel_requests.append(run.correlation_id)
        return self._json(
            {
                "id": run.correlation_id,
                "name": run.correlation_id.rsplit("/", 1)[-1],
                "type": "Microsoft.Maintenance/applyUpdates",
                "properties": {"status": "Cancel", "lastUpdateTime": run.cancelled_at},
            }
        )

    def _graph_runs(self) -> list[dict[str, Any]]:
        """One applyUpdates record per machine of each run, shaped as the published
        ApplyUpdatesResourceGroup_List entry (a scale set's, there) with Resource Graph's columns."""
        example = published("arm/maintenance/ApplyUpdatesResourceGroup_List.json")["responses"]["200"]["body"]
        docs = []
        for run in self.runs.values():
            for vm_id in run.vm_ids:
                name = run.correlation_id.rsplit("/", 1)[-1]
                doc = copy.deepcopy(example["value"][0])
                doc.update(
                    id=f"{vm_id}/providers/microsoft.maintenance/applyupdates/{name}".lower(),
                    name=name,
                    type="microsoft.maintenance/applyupdates",
                    subscriptionId=vm_id.split("/")[2],
                    resourceGroup=vm_id.split("/")[4].lower(),
                )
                doc["properties"].update(
                    correlationId=run.correlation_id,
                    resourceId=vm_id,
                    status=run.status,
                    maintenanceConfigurationId=run.correlation_id.split(
                        "/providers/microsoft.maintenance/applyupdates/"
                    )[0],
                )
                docs.append(doc)
        return docs

    # -- Resource Graph --------------------------------------------------------------------

    def _graph(self, body: dict[str, Any]) -> Response:
        query = body.get("query") or ""
        options = body.get("options") or {}
        subs = {s.lower() for s in body.get("subscriptions") or []}
        table = query.strip().split("|", 1)[0].strip().lower()
        if table == "resources":
            docs = [self._graph_doc(vm) for vm in self.vms.values() if vm.exists]
        elif table == "maintenanceresources":
            docs = self._graph_runs()
        else:
            return self._error(400, "BadRequest", f"unknown table {table!r}")
        if subs:
            docs = [d for d in docs if d["subscriptionId"].lower() in subs]
        try:
            rows = run_kql(docs, query)
        except ValueError as exc:
            return self._error(400, "InvalidQuery", str(exc))
        offset = int(base64.b64decode(options["$skipToken"]).decode()) if options.get("$skipToken") else 0
        top = min(int(options.get("$top") or self.page_size), self.page_size, 1000)
        page = rows[offset : offset + top]
        out: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(page),
            "resultTruncated": "false",
            "data": page if options.get("resultFormat", "objectArray") == "objectArray" else _table(page),
        }
        if offset + top < len(rows):
            out["$skipToken"] = base64.b64encode(str(offset + top).encode()).decode()
        return self._json(out)


# -- a tiny KQL evaluator for the query shapes the adapter emits ------------------------------


def _path_value(doc: Any, path: str) -> Any:
    cur = doc
    for part in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\[['\"][^'\"]*['\"]\]", path):
        key = part[2:-2] if part.startswith("[") else part
        if isinstance(cur, dict):
            # Resource Graph property access is case-insensitive
            match = next((k for k in cur if k.lower() == key.lower()), None)
            cur = cur.get(match) if match is not None else None
        else:
            return None
    return cur


def _literal(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    raise ValueError(f"expected a string literal, got {text!r}")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside quotes and brackets."""
    parts: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


def _outer_parens(text: str) -> bool:
    """``(a) or (b)`` is not wrapped in one pair; ``(a or b)`` is."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _split_or(text: str) -> list[str]:
    """Split on `` or `` outside quotes and brackets."""
    marked = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        marked.append(ch if depth == 0 and not quote else "\0")
    flat = "".join(marked)
    parts, start = [], 0
    for m in re.finditer(r"\s+or\s+", flat):
        parts.append(text[start : m.start()])
        start = m.end()
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _condition(doc: dict[str, Any], cond: str) -> bool:
    cond = cond.strip()
    while _outer_parens(cond):
        cond = cond[1:-1].strip()
    alternatives = _split_or(cond)
    if len(alternatives) > 1:
        return any(_condition(doc, c) for c in alternatives)
    if m := re.fullmatch(r"isnotempty\((.+)\)", cond):
        return _path_value(doc, m.group(1)) not in (None, "")
    if m := re.fullmatch(r"(.+?)\s+in~\s+\((.*)\)", cond):
        values = {_literal(v).lower() for v in _split_top(m.group(2), ",")}
        return str(_expr(doc, m.group(1)) or "").lower() in values
    if m := re.fullmatch(r"(.+?)\s+(=~|==|has|contains)\s+(.+)", cond):
        left = _path_value(doc, re.sub(r"^tostring\((.*)\)$", r"\1", m.group(1).strip()))
        right = _literal(m.group(3))
        left_s = "" if left is None else str(left)
        op = m.group(2)
        if op == "==":
            return left_s == right
        if op == "=~":
            return left_s.lower() == right.lower()
        return right.lower() in left_s.lower()
    raise ValueError(f"the simulator does not understand the condition {cond!r}")


def _expr(doc: dict[str, Any], expr: str) -> Any:
    expr = expr.strip()
    if m := re.fullmatch(r"coalesce\((.*)\)", expr):
        for part in _split_top(m.group(1), ","):
            value = _expr(doc, part)
            if value not in (None, ""):
                return value
        return None
    if m := re.fullmatch(r"tostring\((.*)\)", expr):
        value = _expr(doc, m.group(1))
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value)
    if m := re.fullmatch(r"tobool\((.*)\)", expr):
        value = _expr(doc, m.group(1))
        if isinstance(value, str):
            return value.lower() == "true"
        return bool(value) if value is not None else None
    return _path_value(doc, expr)


def run_kql(docs: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    stages = _split_top(query, "|")
    rows: list[dict[str, Any]] = list(docs)
    projected = False
    for stage in stages[1:]:
        verb, _, rest = stage.partition(" ")
        if verb == "where":
            rows = [d for d in rows if all(_condition(d, c) for c in re.split(r"\s+and\s+", rest))]
        elif verb == "project":
            out = []
            for d in rows:
                row = {}
                for item in _split_top(rest, ","):
                    name, eq, expr = item.partition("=")
                    if not eq:
                        name, expr = item.strip().split(".")[-1], item
                    row[name.strip()] = _expr(d, expr)
                out.append(row)
            rows, projected = out, True
        elif verb == "order":
            m = re.fullmatch(r"by\s+(\S+)(\s+(asc|desc))?", rest.strip())
            if not m:
                raise ValueError(f"cannot order {rest!r}")
            rows.sort(key=lambda r: str(_path_value(r, m.group(1)) or "").lower(), reverse=m.group(3) == "desc")
        else:
            raise ValueError(f"the simulator does not understand the stage {stage!r}")
    if not projected:
        raise ValueError("queries must project their columns")
    return rows


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = list(rows[0]) if rows else []
    return {
        "columns": [{"name": c, "type": "string"} for c in columns],
        "rows": [[r[c] for c in columns] for r in rows],
    }
