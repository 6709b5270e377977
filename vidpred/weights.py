"""Named pretrained weights the losses and flow backends use, and where they live on disk.

Nothing here downloads implicitly. A model that needs weights calls `require(name)`, which returns
the file path or raises `WeightsMissingError` carrying the exact command that fixes it. Downloads
happen only through `fetch` (`vidpred weights fetch NAME`); machines without internet copy the
file over and `import_weights` it (`vidpred weights import NAME FILE`).

Files live where torchvision's own `load_state_dict_from_url` puts them
(`torch.hub.get_dir()/checkpoints`) under torchvision's file names, so weights a user already
downloaded through torchvision are found, and vice versa.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.models import AlexNet_Weights, VGG16_Weights, VGG19_Weights
from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

from vidpred.errors import InputError, VidpredError, WeightsMissingError
from vidpred.io.atomic import atomic_path

# torch.hub's own rule (torch/hub.py HASH_REGEX): the digits between the last "-" and the
# extension of a torchvision file name are the first hex digits of the file's sha256.
_HASH_IN_NAME = re.compile(r"-([a-f0-9]+)\.")


@dataclass(frozen=True)
class WeightsEntry:
    """One named download: where it comes from, what it must hash to, what uses it."""

    name: str
    url: str
    size_mb: float
    used_by: str
    torchvision: str = ""  # the weights enum the file is, e.g. "Raft_Large_Weights.C_T_V1"
    paper: str = ""  # what the paper (or the authors' code) used for the same job; "" if none

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        match = _HASH_IN_NAME.search(self.filename)
        assert match, f"torchvision file name without a hash: {self.filename}"
        return match.group(1)

    @property
    def path(self) -> Path:
        """Where the file is looked for (it may not exist)."""
        return checkpoints_dir() / self.filename

    @property
    def present(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0


def _entry(name: str, weights, used_by: str, paper: str = "") -> WeightsEntry:
    # URL and size come from the installed torchvision so the file names always match its cache.
    return WeightsEntry(
        name=name,
        url=weights.url,
        size_mb=float(weights.meta["_file_size"]),
        used_by=used_by,
        torchvision=str(weights),
        paper=paper,
    )


REGISTRY: dict[str, WeightsEntry] = {
    e.name: e
    for e in (
        # RAFT: C_T_V1 are torchvision's ports of the RAFT authors' own Chairs+Things weights
        # (princeton-vl/RAFT raft-small.pth, raft-things.pth); C_T_V2 are torchvision's
        # retraining. The paper's flow was RAFT-large with raft-things.pth (dangeng/CorrWiseLosses
        # code/corrwise/flow_utils.py: `RAFT(model='things')`, `args.small = False`), so
        # raft-large is its port; raft-small takes the same lineage.
        _entry("raft-small", Raft_Small_Weights.C_T_V1, "flow backend raft-small (and auto)"),
        _entry(
            "raft-large",
            Raft_Large_Weights.C_T_V1,
            "flow backend raft-large",
            paper="RAFT-large raft-things.pth; this file is its port",
        ),
        _entry(
            "vgg19",
            VGG19_Weights.IMAGENET1K_V1,
            "loss term vgg",
            paper="this file (pix2pixHD VGGLoss)",
        ),
        # lpips builds its trunk from torchvision's ImageNet alexnet / vgg16; its linear layers
        # ship inside the lpips package and need no download.
        _entry(
            "lpips-alex",
            AlexNet_Weights.IMAGENET1K_V1,
            "loss term lpips",
            paper="this file, to evaluate (code/eval.py)",
        ),
        _entry("lpips-vgg", VGG16_Weights.IMAGENET1K_V1, "loss term lpips-vgg"),
    )
}


def checkpoints_dir() -> Path:
    """torch.hub's checkpoint folder (honours `torch.hub.set_dir` and `$TORCH_HOME`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def get_entry(name: str) -> WeightsEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InputError(f"unknown weights {name!r}; known: {', '.join(REGISTRY)}") from None


def is_present(name: str) -> bool:
    return get_entry(name).present


def fix_command(name: str) -> str:
    """The commands that put `name` on this machine, as the error messages quote them."""
    return (
        f"`vidpred weights fetch {name}`, or without internet `vidpred weights import {name} FILE`"
    )


def require(name: str) -> Path:
    """Path of the weights file, or `WeightsMissingError` saying how to get it. Never downloads."""
    entry = get_entry(name)
    if not entry.present:
        raise WeightsMissingError(
            f"{name} weights ({entry.size_mb:.0f} MB, for {entry.used_by}) are not at "
            f"{entry.path}; get them with {fix_command(name)} (FILE downloaded from {entry.url})"
        )
    return entry.path


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The state dict stored for `name` (CPU tensors). Raises `WeightsMissingError` if absent."""
    path = require(name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which, not a pickle traceback
        reason = (str(e).splitlines() or [""])[0]  # torch's messages run to many lines
        raise VidpredError(
            f"{path}: cannot be read as {name} weights ({type(e).__name__}: {reason}); "
            f"delete it and run {fix_command(name)}"
        ) from None


def sha256_of(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(name: str, file: Path, *, source: str | None = None) -> None:
    """Raise `InputError` unless `file`'s sha256 starts with the prefix torchvision publishes.

    `source` names the file in the message when `file` is a temporary copy of it."""
    entry = get_entry(name)
    digest = sha256_of(file)
    expected = entry.sha256_prefix
    if not digest.startswith(expected):
        raise InputError(
            f"{source or file}: not the {name} weights (sha256 starts {digest[: len(expected)]}, "
            f"expected {expected}; download {entry.url})"
        )


def _install_atomically(name: str, fill: Callable[[Path], None], *, source: str) -> Path:
    """Write the file beside its final path, verify it, then rename: never a half file."""
    entry = get_entry(name)
    with atomic_path(entry.path) as tmp:
        fill(tmp)
        verify(name, tmp, source=source)
    return entry.path


def import_weights(name: str, file: Path | str) -> Path:
    """Check `file` against the published hash and copy it into the cache. Returns the new path."""
    file = Path(file)
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    get_entry(name)  # unknown names fail before any copying
    return _install_atomically(name, lambda tmp: shutil.copyfile(file, tmp), source=str(file))


def fetch(
    name: str,
    *,
    timeout: float = 5.0,
    progress: Callable[[int, int | None], None] | None = None,
    force: bool = False,
) -> Path:
    """Download `name` into the cache (explicitly asked for; nothing else downloads).

    `timeout` bounds the connect and every read, so an offline machine fails in seconds.
    `progress(done_bytes, total_bytes_or_None)` is called after every chunk. A file already
    present is kept unless `force`.
    """
    entry = get_entry(name)
    if entry.present and not force:
        return entry.path

    def download(tmp: Path) -> None:
        try:
            with (
                urllib.request.urlopen(entry.url, timeout=timeout) as response,
                open(tmp, "wb") as f,
            ):
                total = response.length
                done = 0
                while block := response.read(1 << 20):
                    f.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise VidpredError(
                f"cannot download {name} from {entry.url} ({reason}); on a machine without "
                f"internet copy that file here and run `vidpred weights import {name} FILE`"
            ) from None

    return _install_atomically(name, download, source=entry.url)


def weights_table() -> list[dict[str, object]]:
    """One plain dict per registered entry: what `vidpred weights list --json` prints."""
    return [
        {
            "name": e.name,
            "file": e.filename,
            "url": e.url,
            "sha256_prefix": e.sha256_prefix,
            "size_mb": e.size_mb,
            "used_by": e.used_by,
            "torchvision": e.torchvision,
            "paper": e.paper,
            "path": str(e.path),
            "present": e.present,
        }
        for e in REGISTRY.values()
    ]
