"""Private files for the review bundle, which holds personal data and is written by a job that often runs as root.

A folder is used only after it was opened without following a symbolic link and checked through that open
descriptor: owned by the user running the job and writable by nobody else (`open_private_folder`). Every later
step goes through the verified descriptor (`dir_fd`), never through a path that could be swapped: sub-folders
are created and opened relative to it with `O_NOFOLLOW` and checked the same way, a file is written to a temp
file created exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600 from its first byte) and renamed over the
final name inside the same folder (a rename replaces a link, it never writes through it), modes are changed
with `fchmod` on the descriptor, and removals use `unlink` / `rmtree` relative to it. So a link planted in the
folder under the name of a bundle file is replaced or refused, and its target is neither written nor
re-moded; a folder another user owns or can write to is refused before anything is written.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from usermgmt_pipeline.errors import UsermgmtError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
TEMP_SUFFIX = ".tmp"


class ReviewDirError(UsermgmtError, ValueError):
    """The folder given for the review cannot be used: not a folder, someone else's or open to others,
    a symbolic link, or an existing folder with other content."""


def _check_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ReviewDirError(f"invalid name in the review bundle: {name!r}")
    return name


def _verify(fd: int, path: Path) -> None:
    """The open folder must be the running user's and closed to group and others."""
    info = os.fstat(fd)
    if not stat.S_ISDIR(info.st_mode):
        raise ReviewDirError(f"review folder {path} is not a folder")
    if info.st_uid != os.geteuid():
        raise ReviewDirError(
            f"review folder {path} is owned by uid {info.st_uid}, not by the user running this job "
            f"(uid {os.geteuid()}); give a folder of your own or a new path"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ReviewDirError(
            f"review folder {path} is writable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
            "the review holds personal data: give a new path, or remove that permission (chmod go-w)"
        )


def _open_dir(name: str | Path, path: Path, dir_fd: int | None = None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if _is_link(dir_fd, str(name)):
            raise ReviewDirError(f"review folder {path} is a symbolic link; give the real folder") from None
        if isinstance(exc, NotADirectoryError):
            raise ReviewDirError(f"review folder {path} exists and is not a folder") from None
        raise


def _is_link(dir_fd: int | None, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


class PrivateFolder:
    """A verified folder, operated on through its descriptor only (see the module docstring)."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> PrivateFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tighten(self) -> None:
        os.fchmod(self.fd, 0o700)

    def entries(self) -> list[str]:
        return sorted(os.listdir(self.fd))

    def kind(self, name: str) -> str | None:
        """ "file", "dir", "link" or "other" for the entry itself (never its link target), None if absent."""
        try:
            mode = os.stat(_check_name(name), dir_fd=self.fd, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            return "link"
        return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"

    @contextmanager
    def subfolder(self, name: str, *, create: bool = True) -> Iterator[PrivateFolder]:
        """The sub-folder `name`, created 0700 if missing (with `create`), verified and tightened to 0700."""
        path = self.path / _check_name(name)
        if create:
            with suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=self.fd)
        folder = PrivateFolder(_open_dir(name, path, self.fd), path)
        try:
            _verify(folder.fd, path)
            folder.tighten()
            yield folder
        finally:
            folder.close()

    def write(self, name: str, text: str) -> None:
        """Write `name` atomically with mode 0600: an exclusive temp file in this folder, renamed over `name`."""
        _check_name(name)
        tmp = f".{name}.{secrets.token_hex(8)}{TEMP_SUFFIX}"
        fd = os.open(tmp, _FILE_CREATE_FLAGS, 0o600, dir_fd=self.fd)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
            os.replace(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=self.fd)
            raise

    def read(self, name: str) -> str:
        """The text of the regular file `name`; a link there is refused, not followed."""
        fd = os.open(_check_name(name), _FILE_READ_FLAGS, dir_fd=self.fd)
        with os.fdopen(fd, encoding="utf-8") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ReviewDirError(f"{self.path / name} is not a regular file")
            return handle.read()

    def remove(self, name: str) -> None:
        """Remove the entry `name` (a folder with its content); a link is removed itself, never its target."""
        kind = self.kind(name)
        if kind == "dir":
            shutil.rmtree(name, dir_fd=self.fd)
        elif kind is not None:
            os.unlink(name, dir_fd=self.fd)


def open_private_folder(path: Path, *, create: bool) -> PrivateFolder:
    """Open (with `create`: make, mode 0700) the folder `path` itself without following a link at it, and
    verify it through the descriptor: a folder, the running user's, not writable by group or others."""
    if create:
        with suppress(FileExistsError):
            os.mkdir(path, 0o700)
    fd = _open_dir(path, path)
    try:
        _verify(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return PrivateFolder(fd, path)
