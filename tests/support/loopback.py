"""A loopback HTTPS server for the real Azure SDK clients to talk to.

The SDK's bearer-token policy refuses plain HTTP, so the server speaks TLS with a
certificate from a throwaway test CA (trustme); clients trust it through
``REQUESTS_CA_BUNDLE`` (see :meth:`LoopbackHttps.trust`) or ``connection_verify``.
The server is werkzeug's threaded WSGI server: subclasses (or callers) provide a WSGI
application, usually built from ``werkzeug.wrappers.Request``/``Response``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import trustme
from azure.core.credentials import AccessToken
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

Handler = Callable[[Request], Response]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        import json

        return json.loads(self.body or b"null")


class LoopbackHttps:
    """Serve ``handler`` on https://127.0.0.1:{port}; record every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._ca = trustme.CA()
        self._dir = tempfile.mkdtemp(prefix="loopback-ca-")
        self.ca_bundle = os.path.join(self._dir, "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_bundle)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> LoopbackHttps:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, ssl_context=ctx)
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-https", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LoopbackHttps:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"https://127.0.0.1:{self._server.server_port}"

    @contextlib.contextmanager
    def trust(self) -> Iterator[None]:
        """Make ``requests`` (and so every Azure SDK client) trust the test CA."""
        old = os.environ.get("REQUESTS_CA_BUNDLE")
        os.environ["REQUESTS_CA_BUNDLE"] = self.ca_bundle
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("REQUESTS_CA_BUNDLE", None)
            else:
                os.environ["REQUESTS_CA_BUNDLE"] = old

    # -- plumbing --------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        body = request.get_data()
        with self._lock:
            self.requests.append(
                Recorded(request.method, request.path, dict(request.args), dict(request.headers), body)
            )
        response = self.handler(request)
        return response(environ, start_response)

    def recorded(self, method: str | None = None, path_contains: str = "") -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if (method is None or r.method == method) and path_contains in r.path]


class StaticTokenCredential:
    """A TokenCredential for loopback servers: Entra ID is not reachable from tests."""

    def __init__(self, token: str = "loopback-token") -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    def close(self) -> None:
        return None
