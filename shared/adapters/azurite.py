"""The local storage emulator: start a real Azurite (from the project's node_modules) on
free loopback ports. Used by the tests and by ``make demo``; never by the deployed app.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
# Azurite's well-known public development key (documented by Microsoft; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.1)
    return False


@dataclass
class Azurite:
    """A running Azurite; ``stop()`` and ``start()`` keep the same ports (for fault tests).

    Data lives in a temporary folder so that a restart keeps what was written, unless
    ``in_memory`` (the demo): then nothing touches the disk.
    """

    blob_port: int
    queue_port: int
    table_port: int
    location: str
    proc: subprocess.Popen[bytes] | None = None
    in_memory: bool = False

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def start(self) -> None:
        exe = ROOT / "node_modules" / ".bin" / "azurite"
        if not exe.exists():
            raise RuntimeError(f"{exe} is missing: run `npm ci` (make setup does)")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "--silent",
                "--skipApiVersionCheck",
                "--disableProductStyleUrl",
                "--disableTelemetry",  # else stopping waits ~10 s on a telemetry call
                *(["--inMemoryPersistence"] if self.in_memory else ["--location", self.location]),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.blob_port),
                "--queueHost",
                "127.0.0.1",
                "--queuePort",
                str(self.queue_port),
                "--tableHost",
                "127.0.0.1",
                "--tablePort",
                str(self.table_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for port in (self.blob_port, self.queue_port, self.table_port):
            if not wait_port(port, 60):
                self.stop()
                raise RuntimeError(f"Azurite did not open port {port} within 60 s")

    def kill(self) -> None:
        """SIGKILL, as a crash or an out-of-memory kill ends it: no shutdown, no final flush."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


STANDARD_PORTS = (10000, 10001, 10002)  # blob, queue, table: what UseDevelopmentStorage=true means


def ports_free(ports: tuple[int, ...]) -> bool:
    for port in ports:
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Azurite (node) binds: TIME_WAIT is free
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@contextlib.contextmanager
def running_azurite(
    *, in_memory: bool = False, location: str | Path | None = None, ports: tuple[int, int, int] | None = None
) -> Iterator[Azurite]:
    """Azurite on free ports (or ``ports``); the connection string is also usable from other
    processes. Its data lives in a temporary folder removed afterwards, or in ``location``,
    which is kept (so a later Azurite on the same folder serves the same data)."""
    keep = location is not None
    folder = str(location) if keep else tempfile.mkdtemp(prefix="azurite-")
    if keep:
        Path(folder).mkdir(parents=True, exist_ok=True)
    blob, queue, table = ports or (free_port(), free_port(), free_port())
    az = Azurite(blob, queue, table, folder, in_memory=in_memory)
    az.start()
    try:
        yield az
    finally:
        az.stop()
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
