"""Azure Resource Manager: fleet discovery, assessments, installations, run cancellation.

Implements :class:`shared.services.ports.ArmPort` with the real SDK clients
(azure-mgmt-compute, azure-mgmt-resourcegraph, an ``ARMPipelineClient`` for the
maintenance cancel call). Every endpoint and the token scope come from
:func:`shared.adapters.identity.endpoints` (``AZURE_CLOUD`` or explicit URLs); an
explicit credential may be passed (tests pass a static one).

Long-running operations never block a worker: :class:`StepPolling` takes at most one
status poll per call, and the poller's continuation token is what the queue message
carries to the next invocation. Every request passes through the process's
:class:`~shared.adapters.retry.Pacer` (inside the pipeline's retry loop), and failures
come out as the port's errors (:func:`shared.adapters.retry.classify`).

azure-mgmt-* are imported lazily, inside the methods that need them.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.core.polling.base_polling import BadResponse, BadStatus, OperationFailed
from azure.mgmt.core.polling.arm_polling import ARMPolling

from shared.adapters.retry import (
    Pacer,
    RetrySettings,
    classify,
    default_pacer,
    remaining_of,
    request_kind,
    sdk_retry_options,
    whole_operation,
)
from shared.config import Settings
from shared.domain.cycle_state import InstallPlan
from shared.domain.fleet import (
    ARC_MACHINE_TYPE,
    AZURE_VM_TYPE,
    MachineKind,
    ResourceId,
    Vm,
    hotpatch_image,
    machine_kind,
    power_state_of,
)
from shared.domain.scope import DynamicScope
from shared.services.ports import ArmError, FleetScope, LroStep, PermanentError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.hybridcompute import HybridComputeManagementClient
    from azure.mgmt.resourcegraph import ResourceGraphClient

T = TypeVar("T")
CANCEL_API_VERSION = "2023-09-01-preview"
GRAPH_PAGE = 1000  # Resource Graph's largest page
GRAPH_SUBSCRIPTIONS_PER_QUERY = 1000


class PacerPolicy(HTTPPolicy):
    """Every attempt waits for its slot in the pacer and reports ARM's answer back.

    Placed right after the pipeline's RetryPolicy, so the pipeline's own retries are
    paced too. A 429 whose Retry-After is longer than a worker should wait becomes
    :class:`~shared.services.ports.ThrottledError` instead of a long sleep in the pipeline.
    """

    def __init__(self, pacer: Pacer, max_block: float) -> None:
        super().__init__()
        self.pacer = pacer
        self.max_block = max_block

    def send(self, request: PipelineRequest) -> PipelineResponse:
        http = request.http_request
        kind, sub = request_kind(http.method, http.url)
        seq = self.pacer.slot(sub, kind, self.max_block)
        try:
            response = self.next.send(request)
        except BaseException:
            self.pacer.abandon(sub, kind)
            raise
        headers = response.http_response.headers
        status = response.http_response.status_code
        remaining = remaining_of(kind, headers)
        retry_after = parse_retry_after(headers)
        self.pacer.observe(sub, kind, remaining=remaining, status=status, retry_after=retry_after, seq=seq)
        if status == 429 and retry_after is not None and retry_after > self.max_block:
            from shared.services.ports import ThrottledError

            raise ThrottledError(
                f"ARM throttled {kind} for {sub}: Retry-After {retry_after:.0f} s", retry_after=retry_after
            )
        return response


def parse_retry_after(headers: Any) -> float | None:
    """``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``/``x-ms-retry-after-ms``."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return float(value) / 1000
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class StepPolling(ARMPolling):
    """ARM polling that never waits: ``step()`` takes one poll, LROPoller's thread does nothing."""

    def run(self) -> None:
        return None

    def step(self) -> None:
        try:
            if not self.finished():
                self.update_status()
            if not self.finished():
                return
            if self.status().lower() in ("failed", "canceled", "cancelled"):
                raise OperationFailed("Operation failed or canceled")
            final = self._operation.get_final_get_url(self._pipeline_response)
            if final:
                self._pipeline_response = self.request_status(final)
        except BadStatus as err:
            self._status = "Failed"
            raise HttpResponseError(response=self._pipeline_response.http_response, error=err) from err
        except BadResponse as err:
            self._status = "Failed"
            raise HttpResponseError(
                response=self._pipeline_response.http_response, message=str(err), error=err
            ) from err
        except OperationFailed as err:
            raise HttpResponseError(response=self._pipeline_response.http_response, error=err) from err

    def retry_after(self) -> float | None:
        return parse_retry_after(self._pipeline_response.http_response.headers)

    def body(self) -> dict[str, Any]:
        response = self._pipeline_response.http_response
        try:
            data = response.json()
        except Exception:
            return {}
        return data if isinstance(data, dict) else {}


class ArmAdapter:
    """The ARM port on the real SDK clients (one per process is enough; clients are cached)."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        arm_endpoint: str = "https://management.azure.com",
        retry: RetrySettings | None = None,
        pacer: Pacer | None = None,
        poll_fallback_seconds: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credential = credential
        self.arm_endpoint = arm_endpoint.rstrip("/")
        self.scope = self.arm_endpoint + "/.default"
        self.retry = retry or RetrySettings()
        self.pacer = pacer or default_pacer()
        self.poll_fallback_seconds = poll_fallback_seconds
        self._sleep = sleep
        self._lock = threading.Lock()
        self._compute: dict[str, ComputeManagementClient] = {}
        self._hybrid: dict[str, HybridComputeManagementClient] = {}
        self._graph: ResourceGraphClient | None = None
        self._pipeline: Any = None

    @classmethod
    def from_settings(
        cls,
        cfg: Settings,
        credential: TokenCredential | None = None,
        **kwargs: Any,
    ) -> ArmAdapter:
        from shared.adapters import identity

        return cls(
            credential if credential is not None else identity.credential(),
            arm_endpoint=identity.endpoints(cfg).arm,
            **kwargs,
        )

    # -- clients ---------------------------------------------------------------------------

    def _client_options(self) -> dict[str, Any]:
        return {
            "base_url": self.arm_endpoint,
            "credential_scopes": [self.scope],
            "per_retry_policies": [PacerPolicy(self.pacer, self.retry.max_block)],
            **sdk_retry_options(self.retry),
        }

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        with self._lock:
            client = self._compute.get(subscription_id.lower())
            if client is None:
                from azure.mgmt.compute import ComputeManagementClient

                client = ComputeManagementClient(self.credential, subscription_id, **self._client_options())
                self._compute[subscription_id.lower()] = client
            return client

    def hybrid(self, subscription_id: str) -> HybridComputeManagementClient:
        """Arc-enabled servers (azure-mgmt-hybridcompute: ``machines.begin_assess_patches`` /
        ``begin_install_patches``, the HybridCompute spec's own operations)."""
        with self._lock:
            client = self._hybrid.get(subscription_id.lower())
            if client is None:
                from azure.mgmt.hybridcompute import HybridComputeManagementClient

                client = HybridComputeManagementClient(self.credential, subscription_id, **self._client_options())
                self._hybrid[subscription_id.lower()] = client
            return client

    def graph(self) -> ResourceGraphClient:
        with self._lock:
            if self._graph is None:
                from azure.mgmt.resourcegraph import ResourceGraphClient

                self._graph = ResourceGraphClient(self.credential, **self._client_options())
            return self._graph

    def pipeline(self) -> Any:
        """A plain ARM pipeline (bearer token, retry, pacer) for calls no SDK method covers."""
        with self._lock:
            if self._pipeline is None:
                from azure.core.pipeline import policies
                from azure.mgmt.core import ARMPipelineClient
                from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy

                opts = sdk_retry_options(self.retry)
                transport_opts = {k: opts.pop(k) for k in ("connection_timeout", "read_timeout")}
                self._pipeline = ARMPipelineClient(
                    base_url=self.arm_endpoint,
                    policies=[
                        policies.RequestIdPolicy(),
                        policies.HeadersPolicy(),
                        policies.UserAgentPolicy(sdk_moniker="patch-watch"),
                        policies.ContentDecodePolicy(),
                        policies.RedirectPolicy(),
                        policies.RetryPolicy(**opts),
                        PacerPolicy(self.pacer, self.retry.max_block),
                        ARMChallengeAuthenticationPolicy(self.credential, self.scope),
                        policies.NetworkTraceLoggingPolicy(),
                    ],
                    **transport_opts,
                )
            return self._pipeline

    def close(self) -> None:
        for client in self._compute.values():
            client.close()
        for hybrid in self._hybrid.values():
            hybrid.close()
        if self._graph is not None:
            self._graph.close()
        if self._pipeline is not None:
            self._pipeline.close()

    # -- resilience wrapper --------------------------------------------------------------------

    def _call(self, operation: Callable[[], T]) -> T:
        """Run a whole operation under tenacity; translate whatever escapes into the port's errors."""
        try:
            for attempt in whole_operation(self.retry, sleep=self._sleep):
                with attempt:
                    return operation()
        except ArmError:
            raise
        except Exception as exc:
            raise classify(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- discovery -------------------------------------------------------------------------------

    def _graph_rows(self, query: str, subscriptions: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        chunks: list[list[str] | None] = [
            list(subscriptions[i : i + GRAPH_SUBSCRIPTIONS_PER_QUERY])
            for i in range(0, len(subscriptions), GRAPH_SUBSCRIPTIONS_PER_QUERY)
        ] or [None]
        for subs in chunks:
            skip_token: str | None = None
            while True:
                request = QueryRequest(
                    subscriptions=subs,
                    query=query,
                    options=QueryRequestOptions(top=GRAPH_PAGE, skip_token=skip_token, result_format="objectArray"),
                )
                page: Any = self._call(partial(self._graph_page, request))
                data: Any = page.data or []
                if isinstance(data, dict):  # "table" format, should the service answer with it
                    names = [c["name"] for c in data.get("columns", [])]
                    data = [dict(zip(names, r, strict=False)) for r in data.get("rows", [])]
                yield from (row for row in data if isinstance(row, dict))
                skip_token = page.skip_token
                if not skip_token:
                    break

    def _graph_page(self, request: Any) -> Any:
        return self.graph().resources(request)

    def discover(self, scope: FleetScope) -> list[Vm]:
        if not scope.subscriptions:
            raise PermanentError("no subscriptions in scope: set TARGET_SUBSCRIPTION_IDS")
        rows = self._graph_rows(vm_query(scope), scope.subscriptions)
        seen: dict[str, Vm] = {}
        for row in rows:
            vm = vm_from_row(row)
            if not scope.hotpatch_offered:
                vm = replace(vm, hotpatch_image=False)
            elif scope.hotpatch_images:
                judged = hotpatch_image(vm.image_publisher, vm.image_offer, vm.image_sku, scope.hotpatch_images)
                vm = replace(vm, hotpatch_image=judged)
            seen.setdefault(vm.id.lower(), vm)  # paging can repeat a row if the fleet changes meanwhile
        return sorted(seen.values(), key=lambda v: v.id.lower())

    def scope_members(self, scope: DynamicScope) -> list[str]:
        """The machines a dynamic scope selects now (Resource Graph, paged)."""
        if not scope.resource_types:
            return []  # it selects only types Patch Watch does not handle (its notes say which)
        ids: dict[str, str] = {}
        for row in self._graph_rows(dynamic_scope_query(scope), (scope.subscription_id,)):
            rid = str(row.get("id") or "")
            if rid:
                ids.setdefault(rid.lower(), rid)
        return sorted(ids.values(), key=str.lower)

    def run_vms(self, correlation_id: str, subscriptions: tuple[str, ...] = ()) -> list[str]:
        ids: dict[str, str] = {}
        for row in self._graph_rows(run_query(correlation_id), tuple(subscriptions)):
            rid = (
                str(row.get("resourceId") or "")
                or str(row.get("id") or "").split("/providers/microsoft.maintenance/applyupdates/")[0]
            )
            if rid:
                ids.setdefault(rid.lower(), rid)
        return sorted(ids.values(), key=str.lower)

    # -- assessments and installations ---------------------------------------------------------

    def _polling(self) -> StepPolling:
        return StepPolling(timeout=self.poll_fallback_seconds)

    def _step(self, poller: Any) -> LroStep:
        method: StepPolling = poller.polling_method()
        token = poller.continuation_token()
        if method.finished():
            return LroStep(True, token, 0.0, method.body())
        retry_after = method.retry_after()
        return LroStep(False, token, self.poll_fallback_seconds if retry_after is None else retry_after)

    def _resume(self, poller: Any) -> LroStep:
        method: StepPolling = poller.polling_method()
        method.step()
        return self._step(poller)

    def _operations(self, vm_id: str) -> tuple[MachineKind, ResourceId, Any]:
        """The machine's own operations, chosen by its full resource id's type; a type with no
        patch API we use is refused here, before any request (never sent to another type's API)."""
        kind = machine_kind(vm_id)
        rid = ResourceId.parse(vm_id)
        if kind is MachineKind.AZURE_VM:
            return kind, rid, self.compute(rid.subscription_id).virtual_machines
        if kind is MachineKind.ARC:
            return kind, rid, self.hybrid(rid.subscription_id).machines
        raise PermanentError(f"not handled: {vm_id} is not an Azure VM or an Arc-enabled server")

    def start_assessment(self, vm_id: str) -> LroStep:
        _, rid, ops = self._operations(vm_id)
        poller = self._call(lambda: ops.begin_assess_patches(rid.resource_group, rid.name, polling=self._polling()))
        return self._step(poller)

    def resume_assessment(self, vm_id: str, token: str) -> LroStep:
        _, rid, ops = self._operations(vm_id)
        return self._call(
            lambda: self._resume(
                ops.begin_assess_patches(
                    rid.resource_group, rid.name, continuation_token=token, polling=self._polling()
                )
            )
        )

    @staticmethod
    def _install_body(plan: InstallPlan, os_type: str) -> dict[str, Any]:
        """The installPatches body; Azure VMs and Arc machines share its shape (compute's
        VirtualMachineInstallPatchesParameters, HybridCompute's MachineInstallPatchesParameters)."""
        body: dict[str, Any] = {"maximumDuration": plan.maximum_duration, "rebootSetting": plan.reboot_setting}
        if os_type.lower() == "linux":
            body["linuxParameters"] = {"classificationsToInclude": list(plan.classifications)}
        else:
            body["windowsParameters"] = {
                "classificationsToInclude": list(plan.classifications),
                "excludeKbsRequiringReboot": plan.exclude_kbs_requiring_reboot,
            }
        return body

    def start_install(self, vm_id: str, plan: InstallPlan, os_type: str) -> LroStep:
        kind, rid, ops = self._operations(vm_id)
        body = self._install_body(plan, os_type)
        params: Any = body
        if kind is MachineKind.AZURE_VM:
            from azure.mgmt.compute import models

            params = models.VirtualMachineInstallPatchesParameters(body)
        poller = self._call(
            lambda: ops.begin_install_patches(rid.resource_group, rid.name, params, polling=self._polling())
        )
        return self._step(poller)

    def resume_install(self, vm_id: str, token: str) -> LroStep:
        kind, rid, ops = self._operations(vm_id)
        params: Any = {}  # not sent when resuming
        if kind is MachineKind.AZURE_VM:
            from azure.mgmt.compute import models

            params = models.VirtualMachineInstallPatchesParameters({})
        return self._call(
            lambda: self._resume(
                ops.begin_install_patches(
                    rid.resource_group, rid.name, params, continuation_token=token, polling=self._polling()
                )
            )
        )

    def power_state(self, vm_id: str) -> str:
        kind, rid, ops = self._operations(vm_id)
        if kind is MachineKind.ARC:
            machine = self._call(lambda: ops.get(rid.resource_group, rid.name))
            props = getattr(machine, "properties", None)
            return str(getattr(props, "status", "") or "").lower()
        view = self._call(lambda: ops.instance_view(rid.resource_group, rid.name))
        for status in view.statuses or []:
            if (status.code or "").lower().startswith("powerstate/"):
                return power_state_of(status.code)
        return ""

    def start_budget(self, subscription_id: str) -> tuple[float, float]:
        return self.pacer.budget(subscription_id.lower(), "writes")

    def last_installation(self, vm_id: str) -> dict[str, Any]:
        kind, rid, vms = self._operations(vm_id)
        if kind is not MachineKind.AZURE_VM:
            return {}  # an Arc machine has no instance view; its verification assesses it instead
        view = self._call(lambda: vms.instance_view(rid.resource_group, rid.name))
        status = getattr(view, "patch_status", None)
        summary = getattr(status, "last_patch_installation_summary", None) if status is not None else None
        return dict(summary.as_dict()) if summary is not None else {}

    def latest_assessment(self, vm_id: str) -> dict[str, Any] | None:
        """The instance view's ``patchStatus.availablePatchSummary`` (azure-mgmt-compute
        ``VirtualMachinePatchStatus.available_patch_summary``, REST names via ``as_dict``).
        An Arc-enabled server has no instance view and HybridCompute's Machine carries no
        patch status (its assessment result exists only as the operation's answer), so None."""
        kind, rid, vms = self._operations(vm_id)
        if kind is not MachineKind.AZURE_VM:
            return None
        view = self._call(lambda: vms.instance_view(rid.resource_group, rid.name))
        status = getattr(view, "patch_status", None)
        summary = getattr(status, "available_patch_summary", None) if status is not None else None
        return dict(summary.as_dict()) if summary is not None else {}

    # -- maintenance runs ------------------------------------------------------------------------

    def cancel_run(self, correlation_id: str) -> dict[str, Any]:
        """``PUT {correlationId}?api-version=2023-09-01-preview`` with ``{"properties":{"status":"Cancel"}}``."""
        from azure.core.rest import HttpRequest

        if not correlation_id.lower().startswith("/subscriptions/"):
            raise PermanentError(f"not a maintenance run id: {correlation_id!r}")

        def put() -> dict[str, Any]:
            request = HttpRequest(
                "PUT",
                f"{self.arm_endpoint}{correlation_id}",
                params={"api-version": CANCEL_API_VERSION},
                json={"properties": {"status": "Cancel"}},
            )
            response = self.pipeline().send_request(request)
            response.raise_for_status()
            data = response.json() if response.content else {}
            return data if isinstance(data, dict) else {}

        return self._call(put)


# -- Resource Graph queries and rows -------------------------------------------------------------


def kql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: What Resource Graph's ``resources`` table shows of a machine, Azure VM or Arc-enabled
#: server (compute: properties.storageProfile, properties.extended.instanceView.powerState;
#: HybridCompute: properties.osType, properties.status, properties.osProfile.*.patchSettings,
#: per the specs named beside AZURE_VM_TYPE / ARC_MACHINE_TYPE).
MACHINE_PROJECTION = (
    "| project id, name, type, subscriptionId, resourceGroup, location, tags, "
    "osType = coalesce(tostring(properties.storageProfile.osDisk.osType), tostring(properties.osType)), "
    "powerState = coalesce(tostring(properties.extended.instanceView.powerState.code), "
    "tostring(properties.status)), "
    "patchMode = coalesce(tostring(properties.osProfile.windowsConfiguration.patchSettings.patchMode), "
    "tostring(properties.osProfile.linuxConfiguration.patchSettings.patchMode)), "
    "assessmentMode = coalesce(tostring(properties.osProfile.windowsConfiguration.patchSettings.assessmentMode), "
    "tostring(properties.osProfile.linuxConfiguration.patchSettings.assessmentMode)), "
    "bypass = coalesce(tobool(properties.osProfile.windowsConfiguration.patchSettings.automaticByPlatformSettings"
    ".bypassPlatformSafetyChecksOnUserSchedule), tobool(properties.osProfile.linuxConfiguration.patchSettings"
    ".automaticByPlatformSettings.bypassPlatformSafetyChecksOnUserSchedule)), "
    "hotpatch = tobool(properties.osProfile.windowsConfiguration.patchSettings.enableHotpatching), "
    "imagePublisher = tostring(properties.storageProfile.imageReference.publisher), "
    "imageOffer = tostring(properties.storageProfile.imageReference.offer), "
    "imageSku = tostring(properties.storageProfile.imageReference.sku), "
    "imageVersion = tostring(properties.storageProfile.imageReference.version)"
)
MACHINE_TYPES = f"| where type in~ ({kql_string(AZURE_VM_TYPE)}, {kql_string(ARC_MACHINE_TYPE)})"


def vm_query(scope: FleetScope) -> str:
    lines = ["resources", MACHINE_TYPES]
    if scope.resource_groups:
        lines.append(f"| where resourceGroup in~ ({', '.join(kql_string(g) for g in scope.resource_groups)})")
    if scope.tag:
        name, eq, value = scope.tag.partition("=")
        tag = f"tags[{kql_string(name.strip())}]"
        lines.append(f"| where {tag} =~ {kql_string(value.strip())}" if eq else f"| where isnotempty({tag})")
    lines.append(MACHINE_PROJECTION)
    lines.append("| order by id asc")
    return "\n".join(lines)


def dynamic_scope_query(scope: DynamicScope) -> str:
    """The machines a dynamic scope selects, its filter expressed in the query (Resource Graph
    narrows, nothing is filtered here): types, resource groups, locations, OS types, tags with
    Any (one listed value of one tag) or All (a listed value of every tag)."""
    lines = ["resources", f"| where type in~ ({', '.join(kql_string(t) for t in scope.resource_types)})"]
    lines.append(f"| where subscriptionId =~ {kql_string(scope.subscription_id)}")
    if scope.resource_group:
        lines.append(f"| where resourceGroup =~ {kql_string(scope.resource_group)}")
    if scope.resource_groups:
        lines.append(f"| where resourceGroup in~ ({', '.join(kql_string(g) for g in scope.resource_groups)})")
    if scope.locations:
        lines.append(f"| where location in~ ({', '.join(kql_string(loc) for loc in scope.locations)})")
    if scope.os_types:
        os_type = "coalesce(tostring(properties.storageProfile.osDisk.osType), tostring(properties.osType))"
        lines.append(f"| where {os_type} in~ ({', '.join(kql_string(o) for o in scope.os_types)})")
    tests = []
    for name, values in scope.tags:
        tag = f"tags[{kql_string(name)}]"  # dynamic: compared as a string
        tests.append(
            f"tostring({tag}) in~ ({', '.join(kql_string(v) for v in values)})" if values else f"isnotempty({tag})"
        )
    if tests and scope.tag_operator == "All":
        lines.extend(f"| where {t}" for t in tests)
    elif tests:
        lines.append("| where " + " or ".join(f"({t})" for t in tests))
    lines.append("| project id")
    lines.append("| order by id asc")
    return "\n".join(lines)


def run_query(correlation_id: str) -> str:
    return "\n".join(
        [
            "maintenanceresources",
            "| where type =~ 'microsoft.maintenance/applyupdates'",
            f"| where properties.correlationId =~ {kql_string(correlation_id)}",
            "| project id, resourceId = tostring(properties.resourceId), status = tostring(properties.status)",
            "| order by id asc",
        ]
    )


def vm_from_row(row: dict[str, Any]) -> Vm:
    rid = str(row.get("id") or "")
    parsed = ResourceId.parse(rid)
    tags = row.get("tags") or {}
    return Vm(
        id=rid,
        name=str(row.get("name") or parsed.name),
        subscription_id=str(row.get("subscriptionId") or parsed.subscription_id),
        resource_group=str(row.get("resourceGroup") or parsed.resource_group),
        location=str(row.get("location") or ""),
        os_type=str(row.get("osType") or ""),
        power_state=power_state_of(str(row.get("powerState") or "")),
        patch_mode=str(row.get("patchMode") or ""),
        hotpatch_enabled=bool(row.get("hotpatch")),
        image_publisher=str(row.get("imagePublisher") or ""),
        image_offer=str(row.get("imageOffer") or ""),
        image_sku=str(row.get("imageSku") or ""),
        image_version=str(row.get("imageVersion") or ""),
        tags={str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        assessment_mode=str(row.get("assessmentMode") or ""),
        bypass_platform_safety_checks=bool(row.get("bypass")),
    )
