"""Publishing alerts as CloudEvents 1.0 to an Event Grid custom topic.

azure-eventgrid's ``EventGridPublisherClient`` sends to ``ALERTS_TOPIC_ENDPOINT`` with the
app's managed identity (the identity needs the "EventGrid Data Sender" role on the
topic), or with the topic's access key when ``ALERTS_TOPIC_KEY`` is set. One send per
alert carries its unpublished transitions in order; a failure raises and the caller
leaves the alert pending. The event ids are stable per transition
(:func:`shared.domain.alerts.event_id`), so a resend after a crash is recognisable.

:class:`DryRunPublisher` is what ``replay`` uses without ``--live``: it keeps what would
have been published. azure-eventgrid is imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.eventgrid import EventGridPublisherClient

    from shared.config import Settings


class PublishError(RuntimeError):
    """The topic did not accept the events; they stay pending."""


def to_cloud_event(event: Mapping[str, Any]) -> Any:
    """An ``azure.core.messaging.CloudEvent`` with the given attributes."""
    from azure.core.messaging import CloudEvent

    return CloudEvent(
        source=event["source"],
        type=event["type"],
        data=event["data"],
        subject=event.get("subject"),
        id=event["id"],
        time=event.get("time"),
        datacontenttype=event.get("datacontenttype", "application/json"),
        specversion=event.get("specversion", "1.0"),
    )


class EventGridAlertPublisher:
    """Sends to an Event Grid custom topic (CloudEvents 1.0 input schema)."""

    def __init__(
        self,
        endpoint: str,
        *,
        key: str = "",
        credential: TokenCredential | None = None,
        client: EventGridPublisherClient | None = None,
        **send_options: Any,
    ) -> None:
        """``send_options`` go with each send (e.g. ``retry_total``): azure-eventgrid 4.x drops
        constructor options for basic topics, so pipeline options are given per call."""
        if not endpoint and client is None:
            raise PublishError("ALERTS_TOPIC_ENDPOINT is not set: no Event Grid topic to publish alerts to")
        self.endpoint = endpoint
        self._key = key
        self._credential = credential
        self._client = client
        self._send_options = send_options

    @property
    def client(self) -> EventGridPublisherClient:
        if self._client is None:
            from azure.eventgrid import EventGridPublisherClient

            cred: Any
            if self._key:
                from azure.core.credentials import AzureKeyCredential

                cred = AzureKeyCredential(self._key)
            else:
                if self._credential is None:
                    from shared.adapters.identity import credential

                    self._credential = credential()
                cred = self._credential
            self._client = EventGridPublisherClient(self.endpoint, cred)
        return self._client

    def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        if not events:
            return
        from azure.core.exceptions import AzureError

        try:
            self.client.send([to_cloud_event(e) for e in events], **self._send_options)
        except AzureError as exc:
            raise PublishError(f"Event Grid topic {self.endpoint} refused {len(events)} alert event(s): {exc}") from exc

    @classmethod
    def from_settings(cls, cfg: Settings, **kwargs: Any) -> EventGridAlertPublisher:
        return cls(cfg["ALERTS_TOPIC_ENDPOINT"], key=cfg["ALERTS_TOPIC_KEY"], **kwargs)


@dataclass
class DryRunPublisher:
    """Keeps what would have been published (``replay`` without ``--live``, ``make demo``)."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.events.extend(dict(e) for e in events)
