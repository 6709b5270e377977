"""Write-then-rename: a file either keeps its old content or has its complete new content, even
when the process is killed midway (checkpoints, caches, outputs, metrics)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_replace(tmp: Path, path: Path) -> None:
    """fsync `tmp`, rename it over `path`, and fsync the folder so the rename itself is durable."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(Path(path).parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextmanager
def errors_name(path: Path) -> Iterator[None]:
    """Re-raise an OSError that names no file, or names a hidden temporary, as one naming `path`:
    a write to a full disk raises `OSError(28)` with no file name, and the user knows `path`,
    not `.path.1234.tmp` (issue 12)."""
    try:
        yield
    except OSError as e:
        named = e.filename is not None and not Path(str(e.filename)).name.startswith(".")
        if named:
            raise
        raise OSError(e.errno, e.strerror or str(e) or type(e).__name__, str(path)) from e


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on a clean exit it replaces `path`, on an
    exception it is removed and `path` is untouched. OSErrors name `path` (`errors_name`)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with errors_name(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            yield tmp
            fsync_replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def temp_file_beside(path: Path, *, suffix: str = ".partial") -> Path:
    """An empty hidden temporary file next to `path`, with the permissions a plain `open()`
    would give it (mkstemp's 0600 would otherwise survive the rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    return Path(tmp)


def temp_dir_beside(path: Path, *, tag: str) -> Path:
    """A hidden temporary folder next to `path`, with the permissions of a plain `mkdir`."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{tag}-", dir=path.parent))
    tmp.chmod(0o777 & ~_umask())
    return tmp
