"""Read docker-compose.yaml and turn a service into a local process (argv + environment), for the tests.

No Docker daemon runs here, so the split-deployment test starts each service's own command with its own
environment, only moved from the containers to this machine: `${VAR}` interpolation as Compose does it,
container paths mapped to local ones, `0.0.0.0` to 127.0.0.1, container ports and service host names to
loopback ports. What is not mapped runs as written, so the compose file and the test cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from usermgmt_pipeline_tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yaml"
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|:\?|-|\?)(?P<arg>[^}]*))?\}")
_PORT_FLAGS = ("--port", "-p")
_HOST_FLAGS = ("--host", "-h")


class ComposeError(AssertionError):
    """The compose file cannot be run as written (a required variable unset, an unknown service...)."""


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$` (a literal `$`)."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = variables.get(name)
        unset_or_empty = not current if op in (":-", ":?") else current is None
        if op in (":-", "-") and unset_or_empty:
            return arg
        if op in (":?", "?") and unset_or_empty:
            raise ComposeError(f"required variable {name} is not set: {arg}")
        return current or ""

    return _VARIABLE.sub(replace, value)


@dataclass(frozen=True)
class Bind:
    """A bind-mounted file or folder: `source` on the host (interpolated, absolute), `target` in the container."""

    source: Path
    target: str


@dataclass(frozen=True)
class LocalService:
    name: str
    argv: list[str]
    env: dict[str, str]


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def service(compose: Mapping[str, Any], name: str) -> dict[str, Any]:
    services = compose.get("services") or {}
    if name not in services:
        raise ComposeError(f"docker-compose.yaml has no service {name!r} (has {sorted(services)})")
    return dict(services[name])


def binds(compose: Mapping[str, Any], name: str, variables: Mapping[str, str]) -> list[Bind]:
    """The service's bind mounts (named volumes are skipped: they are folders the containers share)."""
    out = []
    for entry in service(compose, name).get("volumes") or []:
        source, target = interpolate(str(entry), variables).split(":")[:2]
        if source.startswith((".", "/")):
            path = Path(source) if source.startswith("/") else (COMPOSE_FILE.parent / source).resolve()
            out.append(Bind(path, target))
    return out


def _local_path(value: str, paths: Mapping[str, Path]) -> str:
    """`value` with its longest container-path prefix replaced by the local path it is mapped to."""
    for container in sorted(paths, key=len, reverse=True):
        if value == container or value.startswith(container.rstrip("/") + "/"):
            rest = PurePosixPath(value).relative_to(container)
            return str(paths[container] / rest) if str(rest) != "." else str(paths[container])
    return value


def local_service(
    compose: Mapping[str, Any],
    name: str,
    *,
    variables: Mapping[str, str],
    bin_dir: Path,
    paths: Mapping[str, Path],
    addresses: Mapping[str, str],
    port: int | None = None,
) -> LocalService:
    """The service's command and environment, for a process on this machine.

    `paths` maps container paths to local ones, `addresses` maps `service:port` (as the other services
    name it) to a loopback `127.0.0.1:port`, `port` replaces the service's own listening port.
    """
    spec = service(compose, name)
    command = spec.get("command")
    if not isinstance(command, list) or not command:
        raise ComposeError(f"service {name!r}: give `command` as a list (the test runs it as is)")
    argv = [str(bin_dir / command[0])]
    previous = ""
    for raw in command[1:]:
        arg = interpolate(str(raw), variables)
        if previous in _HOST_FLAGS and arg == "0.0.0.0":
            arg = "127.0.0.1"
        elif previous in _PORT_FLAGS:
            if port is None:
                raise ComposeError(f"service {name!r} listens on {arg}: pass a local port")
            arg = str(port)
        argv.append(_local_path(arg, paths))
        previous = str(raw)
    env = {}
    for key, raw in (spec.get("environment") or {}).items():
        value = interpolate(str(raw), variables)
        for remote, local in addresses.items():
            value = value.replace(f"@{remote}/", f"@{local}/")
        env[str(key)] = _local_path(value, paths)
    return LocalService(name, argv, env)
