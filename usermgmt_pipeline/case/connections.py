"""MongoDB clients for the four CASE databases, built the way the Go job builds them (docs/case-data.md §2).

Why not just hand the URI to pymongo: the Go job splices `username:password@` into the URI verbatim and the Go
driver decodes them with `url.PathUnescape`, where `+` stays `+`. pymongo decodes URI credentials with
`unquote_plus` (`+` becomes a space) and rejects other inputs Go accepts. So we decode the credentials with
the Go rules ourselves and pass them to pymongo separately, with a URI that carries no user info. Empty
username and password mean "no authentication" (a deliberate improvement over Go, which refuses to start).

Each database gets its own client (four clients even when the URIs are equal), `max_pool_size` and
`idle_conn_timeout` override URI options (0 = unlimited), and every single operation runs under its own
`timeout`-second deadline (`op_timeout`), except the user iteration cursor, which Go runs without deadline.
No client is created at import time.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import pymongo
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.uri_parser import parse_uri
from pymongo.uri_parser_shared import SCHEME, SRV_SCHEME, _validate_uri

from usermgmt_pipeline.case.bulk import note_server
from usermgmt_pipeline.errors import UsermgmtError

log = logging.getLogger(__name__)

DB_KEYS = ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
PIPELINE_DB_NAME = "usermgmt-pipeline"
"""Our own bookkeeping database (journal, audit, leases), named with the global_infos_db prefix."""


class CredentialError(UsermgmtError, ValueError):
    """A username/password the Go driver would reject; the message never contains the secret itself."""


class DatabaseConnectionError(UsermgmtError):
    """A configured database did not answer the start-up ping (unreachable, refused the credentials).

    Ours, not the builtin `ConnectionError`: that one is an `OSError` a socket raises, and an `except OSError`
    meant for files would take a database outage for a file problem. The message names the database key and
    pymongo's reason, never a secret.
    """


class DBConfigLike(Protocol):
    connection_str: str
    connection_prefix: str
    timeout: int
    idle_conn_timeout: int
    max_pool_size: int
    use_no_cursor_timeout: bool
    db_name_prefix: str

    @property
    def username(self) -> Any: ...

    @property
    def password(self) -> Any: ...


_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def go_path_unescape(value: str, what: str) -> str:
    """Go `url.PathUnescape`: decode `%XX` as UTF-8 bytes, keep `+` literally, reject a malformed `%`."""
    out = bytearray()
    i = 0
    raw = value.encode("utf-8")
    while i < len(raw):
        if raw[i] == 0x25:  # '%'
            chunk = raw[i + 1 : i + 3].decode("ascii", errors="replace")
            if len(chunk) != 2 or not _PERCENT.fullmatch("%" + chunk):
                raise CredentialError(f"{what} contains an invalid percent-escape (Go: invalid URL escape)")
            out.append(int(chunk, 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", errors="surrogateescape")


def _secret(value: Any) -> str:
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if getter else value)


def credential_problems(username: str, password: str) -> list[tuple[str, str]]:
    """(field, message) for user info the Go driver would reject; messages never contain the secret."""
    problems: list[tuple[str, str]] = []
    for name, value in (("username", username), ("password", password)):
        bad = sorted({c for c in value if c in ":@/"})
        if bad:
            problems.append(
                (
                    name,
                    f"contains {' '.join(repr(c) for c in bad)} unescaped; percent-encode it "
                    "(e.g. '@' as %40, ':' as %3A, '/' as %2F) as the Go job requires",
                )
            )
            continue
        try:
            go_path_unescape(value, name)
        except CredentialError:
            problems.append((name, "contains an invalid percent-escape (Go: invalid URL escape)"))
    return problems


def connection_str_problem(conn: str) -> str | None:
    """Why the Go driver would reject `connection_str` (the URI after the user info), or None."""
    if "@" in conn.split("/", 1)[0]:
        return "must not contain user info ('@'): give username and password in their own keys"
    query_at = conn.find("?")
    if query_at >= 0 and "/" not in conn[:query_at]:
        return 'must have a / before the query ? (e.g. "host:27017/?replicaSet=rs0")'
    return None


def uri_problem(connection_prefix: str, connection_str: str) -> tuple[str, str] | None:
    """(key, why) when pymongo cannot read the URI the job builds from these keys (`build_uri`), else None.

    pymongo's own parser decides, with the options the client itself uses (`validate`, `warn`: an unknown or
    ill-typed option is ignored with a warning at run time, so it is no load error either). It never does a
    network lookup: for `mongodb+srv://`, `parse_uri` would resolve the SRV and TXT records, so we call the
    DNS-free first half of it, `_validate_uri`, the very check `MongoClient(...)` runs before it resolves
    anything. pymongo's messages name options, never their values.
    """
    uri = f"mongodb{connection_prefix}://{connection_str}"
    if not uri.startswith((SCHEME, SRV_SCHEME)):
        return "connection_prefix", f'must be "" or "+srv" (the URI scheme is {SCHEME} or {SRV_SCHEME})'
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if uri.startswith(SRV_SCHEME):
                _validate_uri(uri, validate=True, warn=True, normalize=False)
            else:
                parse_uri(uri, validate=True, warn=True, normalize=False)
    except (pymongo.errors.PyMongoError, ValueError, TypeError) as exc:
        return "connection_str", f"is not a valid MongoDB host list and options: {exc}"
    return None


def decode_credentials(username: str, password: str, key: str) -> tuple[str, str] | None:
    """Return (user, password) decoded as the Go driver decodes the spliced user info, or None for no auth."""
    if not username and not password:
        return None
    if not username or not password:
        empty = "username" if not username else "password"
        raise CredentialError(f"db_configs.{key}.{empty} is empty while the other credential is set")
    problems = credential_problems(username, password)
    if problems:
        field, message = problems[0]
        raise CredentialError(f"db_configs.{key}.{field} {message}")
    return (
        go_path_unescape(username, f"db_configs.{key}.username"),
        go_path_unescape(password, f"db_configs.{key}.password"),
    )


def build_uri(cfg: DBConfigLike, key: str) -> str:
    """`mongodb<prefix>://<connection_str>`, i.e. the Go URI without the user info."""
    conn = cfg.connection_str
    if not conn:
        raise CredentialError(f"db_configs.{key}.connection_str is empty")
    problem = connection_str_problem(conn)
    if problem:
        raise CredentialError(f"db_configs.{key}.connection_str {problem}")
    return f"mongodb{cfg.connection_prefix}://{conn}"


def client_kwargs(cfg: DBConfigLike, key: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "maxPoolSize": cfg.max_pool_size if cfg.max_pool_size > 0 else None,
        "maxIdleTimeMS": cfg.idle_conn_timeout * 1000 if cfg.idle_conn_timeout > 0 else None,
        "serverSelectionTimeoutMS": max(cfg.timeout, 1) * 1000,
        "connectTimeoutMS": max(cfg.timeout, 1) * 1000,
        "appname": "usermgmt_pipeline",
    }
    creds = decode_credentials(_secret(cfg.username), _secret(cfg.password), key)
    if creds is not None:
        kwargs["username"], kwargs["password"] = creds
    return kwargs


def make_client(cfg: DBConfigLike, key: str, *, ping: bool = True) -> MongoClient[Any]:
    """Create one database's client; with `ping`, fail fast (bounded by `timeout`) like the Go start-up."""
    kwargs = client_kwargs(cfg, key)
    client: MongoClient[Any] = MongoClient(build_uri(cfg, key), connect=False, **kwargs)
    if ping:
        try:
            with pymongo.timeout(cfg.timeout):
                note_server(client, client.admin.command("buildInfo"))  # the start-up ping, and the engine
        except pymongo.errors.PyMongoError as exc:
            client.close()
            raise DatabaseConnectionError(f"could not connect to {key}: {connection_failure(exc)}") from None
    return client


AUTHENTICATION_FAILED = 18  # MongoDB's error code, also FerretDB's


def connection_failure(exc: pymongo.errors.PyMongoError) -> str:
    """Why a connection attempt failed, in one line an operator reads in the run summary (never a secret:
    the credentials are not in the URI, and servers do not echo them)."""
    if isinstance(exc, pymongo.errors.OperationFailure) and exc.code == AUTHENTICATION_FAILED:
        server_says = (exc.details or {}).get("errmsg") or "wrong username or password"
        return f"authentication failed ({server_says})"
    text = " ".join(str(exc).split())
    if isinstance(exc, pymongo.errors.ServerSelectionTimeoutError):
        # pymongo appends the whole topology description; the first part names the host and the cause
        return f"no server reachable: {text.split(', Timeout: ')[0]}"
    return f"{type(exc).__name__}: {text}"


@dataclass
class CaseDatabases:
    """The four CASE database clients and their naming rules (docs/case-data.md §2.3).

    `global-infos` is one database for all instances; the other three are per instance.
    """

    configs: dict[str, DBConfigLike]
    clients: dict[str, MongoClient[Any]]

    @classmethod
    def connect(cls, db_configs: Any, *, ping: bool = True) -> CaseDatabases:
        configs = {key: getattr(db_configs, key) for key in DB_KEYS}
        clients: dict[str, MongoClient[Any]] = {}
        unauthenticated = [key for key in DB_KEYS if "username" not in client_kwargs(configs[key], key)]
        if unauthenticated:
            log.warning(
                "no username and password for %s: connecting without authentication",
                ", ".join(unauthenticated),
            )
        try:
            for key in DB_KEYS:
                clients[key] = make_client(configs[key], key, ping=ping)
        except Exception:
            for client in clients.values():
                client.close()
            raise
        return cls(configs=configs, clients=clients)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def users_db(self, instance_id: str) -> Database[Any]:
        return self._db("participant_user_db", f"{instance_id}_users")

    def global_infos_db(self) -> Database[Any]:
        return self._db("global_infos_db", "global-infos")

    def messaging_db(self, instance_id: str) -> Database[Any]:
        return self._db("messaging_db", f"{instance_id}_messageDB")

    def study_db(self, instance_id: str) -> Database[Any]:
        return self._db("study_db", f"{instance_id}_studyDB")

    def pipeline_db(self) -> Database[Any]:
        """Our own bookkeeping (journal, audit): kept out of every CASE database and collection."""
        return self._db("global_infos_db", PIPELINE_DB_NAME)

    def timeout_s(self, key: str) -> float:
        return float(self.configs[key].timeout)

    def no_cursor_timeout(self, key: str) -> bool:
        return bool(self.configs[key].use_no_cursor_timeout)

    def _db(self, key: str, name: str) -> Database[Any]:
        return self.clients[key][f"{self.configs[key].db_name_prefix}{name}"]


def pipeline_database(client: MongoClient[Any], global_infos: DBConfigLike) -> Database[Any]:
    """Our own bookkeeping database on a `global_infos_db` client made without `CaseDatabases` (the history
    CLI reads the audit log only)."""
    return client[f"{global_infos.db_name_prefix}{PIPELINE_DB_NAME}"]


@contextmanager
def op_deadline(seconds: float) -> Iterator[None]:
    """One operation's deadline (Go creates a fresh `timeout`-second context per DB call)."""
    with pymongo.timeout(seconds):
        yield
