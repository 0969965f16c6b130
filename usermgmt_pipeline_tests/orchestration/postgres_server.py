"""A throwaway PostgreSQL on 127.0.0.1 for the Dagster-storage test.

`USERMGMT_TEST_POSTGRES_URL` wins if set (a server CI already runs). Otherwise the Debian `postgresql-15`
binaries are used: `initdb` + `pg_ctl` in a temp dir on a free port, as the `postgres` system user when we
are root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from usermgmt_pipeline_tests.orchestration.dagster_server import free_port

PG_BIN_DIRS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14, 13)]


class NoPostgresError(RuntimeError):
    pass


def _pg_bin() -> Path:
    for directory in PG_BIN_DIRS:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise NoPostgresError(
        "PostgreSQL server binaries not found: install the Debian package postgresql-15 "
        "(apt-get install postgresql-15) or set USERMGMT_TEST_POSTGRES_URL"
    )


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yields a `postgresql://` URL of an empty database usable by dagster-postgres."""
    if os.environ.get("USERMGMT_TEST_POSTGRES_URL"):
        yield os.environ["USERMGMT_TEST_POSTGRES_URL"]
        return
    bin_dir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="usermgmt-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres") if _user_exists("postgres") else pwd.getpwnam("nobody")
        for path in (base, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", user.pw_name, "--"]
    port = free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "dagster",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        subprocess.run(
            [
                *run_as,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "postgres.log"),
                "-o",
                f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise NoPostgresError(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}") from None
    try:
        yield f"postgresql://dagster@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
