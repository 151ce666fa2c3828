"""A loopback TCP proxy in front of a storage endpoint that can drop chosen requests.

The app's storage clients talk to the proxy as they would to Azurite (the connection
string names the proxy's port); every request passes through unchanged, except those a
:class:`Drop` matches: the proxy reads such a request whole and answers it with a TCP
reset instead of forwarding it, so the server never sees it and the client gets a
connection error after sending (what a dropped load-balancer connection does). Responses
are relayed byte for byte. HTTP/1.1 with ``Content-Length`` bodies, as the Azure storage
SDKs send them.
"""

from __future__ import annotations

import contextlib
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Drop:
    """Reset the next ``count`` requests for which ``matches(method, path, body)`` holds."""

    matches: Callable[[str, str, bytes], bool]
    count: int = 1
    fired: list[tuple[str, str]] = field(default_factory=list)


class FaultProxy:
    """``with FaultProxy(port) as proxy:``; ``proxy.port`` is where clients connect."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.drops: list[Drop] = []
        self.requests = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False

    def drop(self, matches: Callable[[str, str, bytes], bool], count: int = 1) -> Drop:
        rule = Drop(matches, count)
        with self._lock:
            self.drops.append(rule)
        return rule

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=self._relay, args=(upstream, client), daemon=True).start()
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, rest = buffer.partition(b"\r\n\r\n")
                match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
                length = int(match.group(1)) if match else 0
                while len(rest) < length:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                body, buffer = rest[:length], rest[length:]
                method, path = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
                with self._lock:
                    self.requests += 1
                    rule = next((d for d in self.drops if d.count > 0 and d.matches(method, path, body)), None)
                    if rule is not None:
                        rule.count -= 1
                        rule.fired.append((method, path))
                if rule is not None:
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closed with a reset below; the server never saw the request
                upstream.sendall(head + b"\r\n\r\n" + body)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)
