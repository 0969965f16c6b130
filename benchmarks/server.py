"""The server a benchmark runs against: its own FerretDB, or `MONGODB_URI`, with or without a login.

Why not hand `MONGODB_URI` around as it is: the job's config takes the credentials in `username` and
`password` (percent-escaped as the Go driver reads them) and refuses user info in `connection_str`, and
pymongo decodes URI credentials by other rules (`+` becomes a space). So the URI is split once here into the
config's keys, and the dataset client gets the same decoded credentials the job's clients get. The
credentials are never printed: what the scripts show is `ServerTarget.display`, the URI without them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from usermgmt_pipeline.case.connections import decode_credentials


@dataclass(frozen=True)
class ServerTarget:
    """A MongoDB URI as the job's config keys: `connection_prefix`, `connection_str` and the user info as
    written in the URI (still percent-escaped, which is what the config's `username`/`password` expect)."""

    connection_prefix: str
    connection_str: str
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    @classmethod
    def parse(cls, uri: str) -> ServerTarget:
        scheme, sep, rest = uri.strip().partition("://")
        if not sep or scheme not in ("mongodb", "mongodb+srv"):
            raise ValueError("MONGODB_URI must start with mongodb:// or mongodb+srv://")
        authority, slash, tail = rest.partition("/")
        userinfo, at, hosts = authority.rpartition("@")
        username, _colon, password = userinfo.partition(":") if at else ("", "", "")
        connection_str = hosts + slash + tail
        return cls(scheme.removeprefix("mongodb"), connection_str.rstrip("/"), username, password)

    @property
    def uri(self) -> str:
        """The URI without user info (credentials go to the client separately)."""
        return f"mongodb{self.connection_prefix}://{self.connection_str}"

    display = uri

    def client(self, **kwargs: Any) -> MongoClient[Any]:
        """A client with the credentials decoded as the job decodes them (Go's `url.PathUnescape`)."""
        creds = decode_credentials(self.username, self.password, "MONGODB_URI")
        if creds is not None:
            kwargs["username"], kwargs["password"] = creds
        return MongoClient(self.uri, **kwargs)

    def config_keys(self) -> dict[str, str]:
        """The `db_configs` keys that point the job at this server (values for a YAML template)."""
        return {
            "connection_prefix": self.connection_prefix,
            "connection_str": self.connection_str,
            "username": self.username,
            "password": self.password,
        }


def start_or_use(tmp: Path) -> tuple[ServerTarget, Any]:
    """`MONGODB_URI` when it is set (server None), else a FerretDB of our own on a temp dir (stop it after)."""
    uri = os.environ.get("MONGODB_URI", "").strip()
    if uri:
        return ServerTarget.parse(uri), None
    from devtools.local_mongo import start_ferretdb

    server = start_ferretdb(tmp / "ferretdb")
    return ServerTarget.parse(server.uri), server
