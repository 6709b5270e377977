import os
from pathlib import Path

import pytest
import torch

from vidpred import checkpoint as ckpt
from vidpred.errors import CheckpointError
from vidpred.io.atomic import atomic_path


def test_save_load_round_trip(tmp_path: Path):
    path = tmp_path / "m.pt"
    ckpt.atomic_save(ckpt.make_payload("model", w=torch.arange(3.0), step=4), path)
    payload = ckpt.load_payload(path, kind="model")
    assert payload["step"] == 4 and torch.equal(payload["w"], torch.arange(3.0))
    assert not [p for p in tmp_path.iterdir() if p.name != "m.pt"]  # no temporaries left


def test_failed_write_keeps_the_old_file(tmp_path: Path):
    path = tmp_path / "m.pt"
    ckpt.atomic_save(ckpt.make_payload("model", step=1), path)
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert ckpt.load_payload(path, kind="model")["step"] == 1
    assert os.listdir(tmp_path) == ["m.pt"]


def test_truncated_file_is_one_line_error(tmp_path: Path):
    path = tmp_path / "m.pt"
    ckpt.atomic_save(ckpt.make_payload("model", w=torch.zeros(1000)), path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="not a loadable vidpred file") as info:
        ckpt.load_payload(path, kind="model")
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_foreign_newer_and_wrong_kind(tmp_path: Path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="no vidpred header"):
        ckpt.load_payload(foreign, kind="model")
    newer = tmp_path / "newer.pt"
    payload = ckpt.make_payload("model")
    payload["vidpred"]["format"] = ckpt.FORMAT + 1
    torch.save(payload, newer)
    with pytest.raises(CheckpointError, match="format"):
        ckpt.load_payload(newer, kind="model")
    other = tmp_path / "ckpt.pt"
    ckpt.atomic_save(ckpt.make_payload("checkpoint"), other)
    with pytest.raises(CheckpointError, match="not a model"):
        ckpt.load_payload(other, kind="model")


def test_code_is_never_unpickled(tmp_path: Path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"vidpred": {"kind": "model", "format": ckpt.FORMAT}, "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        ckpt.load_payload(path, kind="model")
