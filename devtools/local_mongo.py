"""Start a throw-away MongoDB-wire server on 127.0.0.1 for the demo and the test suite.

Why this exists: the pipeline must be exercised against a real MongoDB-wire server, never a mock. In order
of preference we use a server the caller points us at (``MONGODB_URI``), a ``mongod`` on PATH, or the pinned
FerretDB v1.24.2 with its SQLite backend, built from the Go module proxy by ``tools/build_ferretdb.sh`` into
the repository's ignored ``.cache`` folder. Everything binds to loopback and FerretDB telemetry is off.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from pymongo import MongoClient
from pymongo.errors import PyMongoError

REPO_ROOT = Path(__file__).resolve().parents[1]
FERRETDB_BINARY = REPO_ROOT / ".cache" / "bin" / "ferretdb"
FERRETDB_BUILD_SCRIPT = REPO_ROOT / "tools" / "build_ferretdb.sh"

HOW_TO_GET_A_SERVER = (
    "No MongoDB-wire server is available. Either set MONGODB_URI to a server on 127.0.0.1 "
    "(e.g. mongodb://127.0.0.1:27017), put `mongod` on PATH, or install Go (1.22+) so that "
    "tools/build_ferretdb.sh can build the pinned FerretDB v1.24.2 into .cache/bin (run `make ferretdb`)."
)


class NoMongoServerError(RuntimeError):
    """Raised when no MongoDB-wire server can be found or started; the message says how to get one."""


@dataclass
class LocalMongoServer:
    """A running server. ``uri`` has no credentials; ``username``/``password`` are set when auth is on."""

    uri: str
    kind: str
    process: subprocess.Popen[bytes] | None = None
    username: str = ""
    password: str = ""
    log_path: Path | None = None
    _data_dir: Path | None = field(default=None, repr=False)

    @property
    def host_port(self) -> str:
        return self.uri.removeprefix("mongodb://").rstrip("/")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill(self) -> None:
        """Hard-stop the server (outage tests); data on disk survives for a restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_ferretdb_binary() -> Path:
    """Build the pinned FerretDB if needed; raise NoMongoServerError with instructions if that fails."""
    if not FERRETDB_BINARY.exists():
        if shutil.which("go") is None:
            raise NoMongoServerError(HOW_TO_GET_A_SERVER)
        result = subprocess.run(
            ["bash", str(FERRETDB_BUILD_SCRIPT)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not FERRETDB_BINARY.exists():
            raise NoMongoServerError(
                f"Building FerretDB failed (exit {result.returncode}):\n{result.stderr[-3000:]}\n"
                + HOW_TO_GET_A_SERVER
            )
    return FERRETDB_BINARY


class _Credentials(TypedDict, total=False):
    """Passed to ``MongoClient`` only when auth is on, so an unauthenticated server gets no credentials."""

    username: str
    password: str


def _wait_until_ready(server: LocalMongoServer, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process is not None and server.process.poll() is not None:
            log = server.log_path.read_text(errors="replace")[-3000:] if server.log_path else ""
            raise NoMongoServerError(f"{server.kind} exited with {server.process.returncode}:\n{log}")
        try:
            credentials: _Credentials = {}
            if server.username:
                credentials = {"username": server.username, "password": server.password}
            client: MongoClient[dict[str, Any]]
            with MongoClient(server.uri, serverSelectionTimeoutMS=500, **credentials) as client:
                client.admin.command("ping")
            return
        except PyMongoError as exc:
            last_error = exc
            time.sleep(0.2)
    server.stop()
    raise NoMongoServerError(f"{server.kind} did not answer within {timeout_s}s: {last_error}")


def start_ferretdb(
    data_dir: Path, *, port: int | None = None, username: str = "", password: str = ""
) -> LocalMongoServer:
    """Start FerretDB (SQLite backend) on 127.0.0.1; with a username, SCRAM auth is enforced."""
    binary = ensure_ferretdb_binary()
    port = port or free_port()
    sqlite_dir = data_dir / "sqlite"
    state_dir = data_dir / "state"
    sqlite_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    args = [
        str(binary),
        "--handler=sqlite",
        f"--sqlite-url=file:{sqlite_dir}/",
        f"--listen-addr=127.0.0.1:{port}",
        "--telemetry=disable",
        "--debug-addr=-",
        f"--state-dir={state_dir}",
        "--log-level=WARN",
    ]
    if username:
        args += [
            "--test-enable-new-auth",
            "--setup-database=admin",
            f"--setup-username={username}",
            f"--setup-password={password}",
        ]
    log_path = data_dir / "ferretdb.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = LocalMongoServer(
        uri=f"mongodb://127.0.0.1:{port}",
        kind="ferretdb",
        process=process,
        username=username,
        password=password,
        log_path=log_path,
        _data_dir=data_dir,
    )
    _wait_until_ready(server)
    return server


def restart(server: LocalMongoServer) -> LocalMongoServer:
    """Start the same server again on the same port and data (after ``kill``), for outage tests."""
    if server.kind != "ferretdb" or server._data_dir is None:
        raise RuntimeError("only a FerretDB started by start_ferretdb can be restarted")
    port = int(server.uri.rsplit(":", 1)[1])
    return start_ferretdb(server._data_dir, port=port, username=server.username, password=server.password)


def start_mongod(data_dir: Path, *, port: int | None = None) -> LocalMongoServer:
    mongod = shutil.which("mongod")
    if mongod is None:
        raise NoMongoServerError(HOW_TO_GET_A_SERVER)
    port = port or free_port()
    db_path = data_dir / "mongod"
    db_path.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "mongod.log"
    process = subprocess.Popen(
        [mongod, "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(db_path), "--quiet"],
        stdout=log_path.open("ab"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = LocalMongoServer(
        uri=f"mongodb://127.0.0.1:{port}",
        kind="mongod",
        process=process,
        log_path=log_path,
        _data_dir=data_dir,
    )
    _wait_until_ready(server)
    return server


def acquire_server(data_dir: Path) -> LocalMongoServer:
    """The server the suite or demo runs against: MONGODB_URI, else mongod on PATH, else FerretDB."""
    uri = os.environ.get("MONGODB_URI", "").strip()
    if uri:
        server = LocalMongoServer(uri=uri, kind="external")
        _wait_until_ready(server, timeout_s=15)
        return server
    if shutil.which("mongod"):
        return start_mongod(data_dir)
    return start_ferretdb(data_dir)
