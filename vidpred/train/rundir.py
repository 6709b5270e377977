"""The run folder's guard: what `vidpred train --out RUN` may write into, one writer at a time.

- a new or empty folder: a new run;
- a folder holding a vidpred run: refused, unless continued (`--resume`) or replaced whole
  (`--overwrite`); training into it used to replace model.pt, last.pt, best.pt, config.toml and
  metrics.csv silently and mix old samples with new ones (issue 12);
- a folder holding anything that is not part of a run: never written into, `--overwrite` or not
  (an evaluation of the run's model written inside it counts as part of the run);
- `RUN/.lock` names the process writing the run: a second training on the folder is refused
  while that process lives; a lock whose process is gone (killed) is taken over, with a note.

Holding the lock also makes the temporary files a killed writer left (`.last.pt.1234.tmp`, up to
a checkpoint's size each) safe to delete: no live process can still be writing them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

from vidpred.errors import InputError, Note

LOCK_NAME = ".lock"
# What a run folder holds (trainer.py's module docstring), and what each subfolder may hold.
RUN_FILES = frozenset({"config.toml", "model.pt", "metrics.csv", LOCK_NAME})
RUN_FOLDERS = {
    "checkpoints": lambda name: name in ("last.pt", "best.pt"),
    "samples": lambda name: name.startswith("step_") and name.endswith(".png"),
    "tensorboard": lambda name: name.startswith("events.out.tfevents."),
}


def is_temporary(name: str) -> bool:
    """A writer's hidden temporary (vidpred.io.atomic): `.NAME.PID.tmp`, `.NAME.XXXX.partial`."""
    return name.startswith(".") and (name.endswith(".tmp") or name.endswith(".partial"))


def is_eval_output(folder: Path) -> bool:
    """A folder `vidpred eval --out` wrote: its metrics.json carries the vidpred version."""
    try:
        record = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return False
    return not folder.is_symlink() and isinstance(record, dict) and "vidpred" in record


def foreign_entries(folder: Path) -> list[Path]:
    """What in `folder` a training run did not write (empty when it holds only a run)."""
    foreign = []
    for entry in sorted(folder.iterdir()):
        if is_temporary(entry.name) or (entry.name in RUN_FILES and entry.is_file()):
            continue
        belongs = RUN_FOLDERS.get(entry.name)
        if belongs is None and is_eval_output(entry):
            continue  # the README's `vidpred eval RUN/model.pt ... --out RUN/eval`
        if belongs is None or not entry.is_dir() or entry.is_symlink():
            foreign.append(entry)
            continue
        foreign += [
            p
            for p in sorted(entry.iterdir())
            if not (p.is_file() and (belongs(p.name) or is_temporary(p.name)))
        ]
    return foreign


def _holds_run(folder: Path) -> bool:
    return any(e.name != LOCK_NAME and not is_temporary(e.name) for e in folder.iterdir())


def _process_start(pid: int) -> str | None:
    """The start time of process `pid` (Linux), so that a reused pid is not taken for the
    process that wrote a lock; None where /proc is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _lock_record() -> str:
    return " ".join(map(str, _holder_of_self())) + "\n"


def _holder(lock: Path) -> tuple[int, str, str] | None:
    """(pid, start time, host) from a lock file, or None when it is unreadable or garbled."""
    try:
        pid, start, host = lock.read_text().split()
        return int(pid), start, host
    except (OSError, ValueError):
        return None


def _alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now = _process_start(pid)
    return start == "-" or now is None or now == start


@dataclass
class RunFolder:
    """A run folder this process has checked and locked; `release` when done."""

    path: Path
    created: bool  # the folder did not exist: remove it again if nothing was written

    @classmethod
    def claim(cls, path: Path, *, resume: bool, overwrite: bool) -> RunFolder:
        """Check `path` against the rules in the module docstring and take its lock. Nothing is
        deleted yet (see `prepare`), so a run that fails to start loses nothing."""
        path = Path(path)
        if resume and overwrite:
            raise InputError("--resume and --overwrite exclude each other")
        if path.exists() and not path.is_dir():
            raise InputError(f"{path}: is a file; --out names the run folder")
        created = not path.exists()
        if created:
            if resume:
                raise InputError(f"{path}: no such run folder to resume")
        elif resume:
            if not (path / "checkpoints" / "last.pt").is_file():
                raise InputError(f"{path}: holds no checkpoints/last.pt to resume from")
        elif foreign := foreign_entries(path):
            shown = ", ".join(p.name for p in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
            raise InputError(
                f"{path}: holds files that are not part of a vidpred run ({shown}); "
                "refusing to write into it: choose a new or empty --out"
            )
        elif _holds_run(path) and not overwrite:
            if not (path / "checkpoints" / "last.pt").is_file():
                raise InputError(
                    f"{path}: holds a vidpred run that saved no checkpoint (--resume needs one); "
                    "replace it with --overwrite"
                )
            raise InputError(
                f"{path}: holds a vidpred run; continue it with --resume or replace it with "
                "--overwrite"
            )
        path.mkdir(parents=True, exist_ok=True)
        _take_lock(path / LOCK_NAME)
        return cls(path, created)

    def prepare(self, *, overwrite: bool) -> None:
        """Once the run is set up: with `overwrite`, delete the earlier run (whole); always,
        delete the temporary files a killed writer left."""
        if overwrite:
            for entry in self.path.iterdir():
                if entry.name == LOCK_NAME:
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        stale = [
            p
            for folder in (self.path, *(self.path / name for name in RUN_FOLDERS))
            if folder.is_dir()
            for p in folder.iterdir()
            if is_temporary(p.name) and p.is_file()
        ]
        if stale:
            size = sum(p.stat().st_size for p in stale)
            for p in stale:
                p.unlink(missing_ok=True)
            warnings.warn(
                f"removed {len(stale)} temporary file(s) ({size / 1e6:.1f} MB) that a killed "
                f"run left in {self.path}",
                Note,
                stacklevel=2,
            )

    def release(self) -> None:
        lock = self.path / LOCK_NAME
        if _holder(lock) == _holder_of_self():
            lock.unlink(missing_ok=True)
        if self.created and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()


def _holder_of_self() -> tuple[int, str, str]:
    return os.getpid(), _process_start(os.getpid()) or "-", socket.gethostname()


def _take_lock(lock: Path) -> None:
    for _ in range(2):  # a stale lock is removed once, then taken like a free one
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is not None:
                pid, start, host = holder
                if host != socket.gethostname():
                    raise InputError(
                        f"{lock.parent}: locked by process {pid} on {host}; if that training "
                        f"has ended, delete {lock}"
                    ) from None
                if _alive(pid, start):
                    raise InputError(
                        f"{lock.parent}: another training (process {pid}) is writing this run; "
                        "wait for it to end or stop it"
                    ) from None
            who = f"process {holder[0]}" if holder else "an unreadable lock"
            warnings.warn(
                f"{lock.parent}: took over the lock of {who}, which is no longer running",
                Note,
                stacklevel=3,
            )
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(_lock_record())
        return
    raise InputError(f"{lock.parent}: another training took the lock at the same moment")
