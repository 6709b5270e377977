"""The hostile-user pass (issue 12): bad input, kills, signals, full disks and crafted files end
in one line and a known exit code, and never lose or corrupt what is already on disk."""

from __future__ import annotations

import errno
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest
import torch
from conftest import make_clip_folder, make_frame_folder, make_frames, make_video, train_tiny_model
from typer.testing import CliRunner

from vidpred import checkpoint as ckpt
from vidpred.checkpoint import load_payload
from vidpred.cli import app
from vidpred.data import load_clips
from vidpred.data.cache import FrameCache
from vidpred.data.inventory import take_inventory
from vidpred.errors import CheckpointError
from vidpred.inference import load_model
from vidpred.train import setup as setup_mod
from vidpred.train import trainer as trainer_mod
from vidpred.train.rundir import LOCK_NAME

runner = CliRunner()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_clip_folder(tmp_path_factory.mktemp("clips"), 2, 12)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPRED_CACHE", str(tmp_path / "cache"))


def train_args(
    data: Path, out: Path, *extra: str, steps: int | None = 2, batch: int | None = 2
) -> list[str]:
    """A tiny training on the command line; `steps` or `batch` None leaves that flag out."""
    args = ["train", str(data), "--out", str(out), "--size", "16", "--context", "2"]
    args += ["--loss", "l1", "--device", "cpu", "--val-every", "0", *extra]
    if steps is not None:
        args += ["--steps", str(steps)]
    if batch is not None:
        args += ["--batch-size", str(batch)]
    return args


def one_line_error(result, code: int = 2) -> str:
    """The error line of a refused command; fails unless it is one line, no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# -- the run folder ------------------------------------------------------------------------------


@pytest.fixture
def run(clips, tmp_path) -> Path:
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(clips, out, "--sample-every", "1"))
    assert result.exit_code == 0, result.output
    return out


def test_training_into_a_run_is_refused_and_changes_nothing(clips, run):
    before = _snapshot(run)
    line = one_line_error(runner.invoke(app, train_args(clips, run, "--loss", "mse")))
    assert "--resume" in line and "--overwrite" in line
    assert _snapshot(run) == before


def test_overwrite_replaces_the_run_whole(clips, run):
    assert len(list((run / "samples").iterdir())) == 2
    result = runner.invoke(app, train_args(clips, run, "--overwrite", "--sample-every", "0"))
    assert result.exit_code == 0, result.output
    # no old samples mixed with new: sample-every 0 writes the last step's only
    assert [p.name for p in (run / "samples").iterdir()] == ["step_0000002.png"]
    assert not (run / LOCK_NAME).exists()
    rows = (run / "metrics.csv").read_text().splitlines()
    assert sum(1 for r in rows[1:] if r.startswith("0,")) == 1  # one step-0 validation, new


def test_an_evaluation_inside_the_run_is_part_of_it(clips, run):
    (run / "eval").mkdir()
    (run / "eval" / "metrics.json").write_text('{"vidpred": "0.1.0"}')
    assert "--overwrite" in one_line_error(runner.invoke(app, train_args(clips, run)))
    assert runner.invoke(app, train_args(clips, run, "--overwrite")).exit_code == 0
    assert not (run / "eval").exists()  # it scored the model that was replaced


@pytest.mark.parametrize("flag", [[], ["--overwrite"]])
def test_a_folder_holding_other_things_is_never_written_into(clips, tmp_path, flag):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.toml").write_text('title = "my project"\n')
    (out / "notes.txt").write_text("do not lose me")
    before = _snapshot(out)
    line = one_line_error(runner.invoke(app, train_args(clips, out, *flag)))
    assert "not part of a vidpred run" in line and "notes.txt" in line
    assert _snapshot(out) == before


def test_a_flow_head_with_one_context_frame_is_refused_before_anything_is_written(clips, tmp_path):
    out = tmp_path / "run"
    line = one_line_error(runner.invoke(app, train_args(clips, out, "--context", "1")))
    assert "context >= 2" in line and not out.exists()


def test_out_naming_a_file_is_one_line(clips, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    assert "is a file" in one_line_error(runner.invoke(app, train_args(clips, out)))
    assert out.read_text() == "x"


def test_resume_and_overwrite_exclude_each_other(run):
    result = runner.invoke(app, ["train", "--resume", "--overwrite", "--out", str(run)])
    assert "exclude each other" in one_line_error(result)


def test_a_live_lock_refuses_a_second_training(clips, run):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        start = Path(f"/proc/{sleeper.pid}/stat").read_text().rsplit(")", 1)[-1].split()[19]
        (run / LOCK_NAME).write_text(f"{sleeper.pid} {start} {os.uname().nodename}\n")
        result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "4"])
        line = one_line_error(result)
        assert "another training" in line and str(sleeper.pid) in line
    finally:
        sleeper.kill()
        sleeper.wait()
    # Its process is gone now: the lock is stale and is taken over, with a note.
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert "took over the lock" in result.stderr and str(sleeper.pid) in result.stderr
    assert not (run / LOCK_NAME).exists()
    assert load_payload(run / "model.pt", kind="model")["step"] == 4


def test_resume_removes_the_temporary_files_a_kill_left(run):
    leftovers = [run / "checkpoints" / ".last.pt.99999.tmp", run / ".model.pt.99999.tmp"]
    for p in leftovers:
        p.write_bytes(b"\0" * 1000)
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in leftovers)
    assert "note: removed 2 temporary file(s)" in result.stderr


def test_resume_below_the_runs_step_is_refused(run):
    before = _snapshot(run)
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "1"])
    line = one_line_error(result)
    assert "already at step 2" in line and "--steps 1" in line
    assert _snapshot(run) == before


# -- non-finite weights --------------------------------------------------------------------------


def test_no_checkpoint_is_written_with_non_finite_weights(clips, tmp_path, monkeypatch):
    real = trainer_mod.Trainer.train_step

    def poisoned(self, batch):
        out = real(self, batch)
        if self.step >= 2:  # the weights go bad in step 3; its loss was still finite
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
        return out

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", poisoned)
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(clips, out, "--checkpoint-every", "1", steps=6))
    line = one_line_error(result)
    last = out / "checkpoints" / "last.pt"
    assert f"{last} (step 2) holds the last good state" in line
    for f in (last, out / "model.pt"):
        payload = load_payload(f, kind="checkpoint" if f == last else "model")
        assert payload["step"] == 2 and not ckpt.non_finite_tensors(payload["model"])


@pytest.fixture(scope="module")
def tiny_model(clips, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("model")
    return train_tiny_model(clips, root / "run", cache=root / "cache")


def _crafted(model: Path, tmp_path: Path, edit) -> Path:
    payload = torch.load(model, weights_only=True)
    edit(payload)
    path = tmp_path / "crafted.pt"
    torch.save(payload, path)
    return path


def _nan_weights(p):
    next(iter(p["model"].values())).fill_(float("nan"))


def _zero_size(p):
    p["run_config"]["data"]["size"] = [0, 0]


def _text_step(p):
    p["step"] = "sixty"


def _other_shapes(p):
    # weights of another network than the config describes (e.g. another version's flow head)
    p["model"]["stem.weight"] = torch.zeros(1, 1, 3, 3)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (_nan_weights, "NaN or infinite"),
        (_zero_size, "size 0"),
        (_text_step, "step 'sixty'"),
        (_other_shapes, "do not fit the network its config describes"),
    ],
)
def test_crafted_models_are_refused_by_predict_and_eval(tiny_model, clips, tmp_path, edit, needle):
    model = _crafted(tiny_model, tmp_path, edit)
    with pytest.raises(CheckpointError, match=needle):
        load_model(model)
    frames = make_frame_folder(tmp_path / "ctx", make_frames(3, 16, 16))
    result = runner.invoke(app, ["predict", str(model), str(frames), "--out", str(tmp_path / "p")])
    assert needle in one_line_error(result)
    assert not (tmp_path / "p").exists()
    result = runner.invoke(app, ["eval", str(model), str(clips), "--device", "cpu"])
    assert needle in one_line_error(result)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda p: p.update(step=1.5), "step 1.5"),
        (_other_shapes, "do not fit the network"),
        (lambda p: p["model_config"].pop("trend"), "saved before the flow head's appearance trend"),
    ],
)
def test_a_crafted_training_checkpoint_cannot_be_resumed(run, edit, needle):
    last = run / "checkpoints" / "last.pt"
    payload = torch.load(last, weights_only=True)
    edit(payload)
    torch.save(payload, last)
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "4"])
    assert needle in one_line_error(result)


# -- config values, checked once on the merged config -------------------------------------------

BAD_CONFIGS = [
    (["--lr", "nan"], None, "--lr ([train] lr) = nan"),
    (["--lr", "-1"], None, "must be a finite number > 0"),
    (["--lr", "inf"], None, "--lr ([train] lr) = inf"),
    ([], "[train]\nlr = -5.0\n", "--lr ([train] lr) = -5.0"),
    ([], "[train]\nsteps = 0\n", "--steps ([train] steps) = 0"),
    ([], "[train]\nbatch_size = 0\n", "--batch-size ([train] batch_size) = 0"),
    ([], "[data]\nval_fraction = 1.5\n", "[data] val_fraction = 1.5"),
    ([], "[data]\nsynthetic = 1.0\n", "--synthetic ([data] synthetic) = 1.0"),
    (["--size", "8"], None, "at least 16"),
    (["--size", "12"], None, "multiples of 8"),
    (["--precision", "fp16"], None, "fp16"),
]


@pytest.mark.parametrize(("flags", "toml", "needle"), BAD_CONFIGS)
def test_bad_config_values_are_one_line_before_any_work(clips, tmp_path, flags, toml, needle):
    extra = list(flags)
    if toml is not None:
        (tmp_path / "c.toml").write_text(toml)
        extra += ["--config", str(tmp_path / "c.toml")]
    toml = toml or ""
    args = train_args(
        clips,
        tmp_path / "run",
        *extra,
        steps=None if "steps" in toml else 2,
        batch=None if "batch_size" in toml else 2,
    )
    assert needle in one_line_error(runner.invoke(app, args))
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_size_help_and_check_agree():
    help_text = runner.invoke(app, ["train", "--help"]).output
    assert "multiples of 8, at least 16" in " ".join(help_text.replace("│", " ").split())
    assert setup_mod.smallest_size(8) == 16


def test_weights_are_saved_before_the_final_validation(clips, tmp_path, monkeypatch):
    def failing(self):
        if self.step == 3:
            raise RuntimeError("validation broke")
        return real(self)

    real = trainer_mod.Trainer.validate
    monkeypatch.setattr(trainer_mod.Trainer, "validate", failing)
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(clips, out, "--checkpoint-every", "100", steps=3))
    assert result.exit_code != 0
    assert load_payload(out / "model.pt", kind="model")["step"] == 3


# -- full disks, read-only targets ---------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # like a write: no file name


def test_disk_full_while_checkpointing_is_one_line_and_keeps_the_old_file(clips, run, monkeypatch):
    before = (run / "model.pt").read_bytes()
    monkeypatch.setattr(ckpt.torch, "save", _enospc)
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "3"])
    line = one_line_error(result)
    assert "No space left on device" in line and str(run) in line and ".tmp" not in line
    assert (run / "model.pt").read_bytes() == before
    assert not [p for p in run.rglob(".*.tmp")]


def test_torch_reporting_a_full_disk_as_runtime_error_is_named(tmp_path, monkeypatch):
    def torch_full(obj, f):
        Path(f).write_bytes(b"x")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")

    monkeypatch.setattr(ckpt.torch, "save", torch_full)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: type("U", (), {"free": 10})())
    with pytest.raises(OSError) as e:
        ckpt.atomic_save({"w": torch.zeros(100)}, tmp_path / "m.pt")
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_the_frame_cache_names_the_cache(clips, tmp_path, monkeypatch):
    from vidpred.data import cache as cache_mod

    class FullFile:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        write = _enospc

    def full_disk_open(path, mode="r", *args, **kwargs):
        return FullFile() if "w" in mode else open(path, mode, *args, **kwargs)

    monkeypatch.setattr(cache_mod, "open", full_disk_open, raising=False)
    line = one_line_error(runner.invoke(app, train_args(clips, tmp_path / "run")))
    assert str(tmp_path / "cache") in line and "No space left" in line and "VIDPRED_CACHE" in line


def test_disk_full_writing_predictions_and_flow_panels(tiny_model, tmp_path, monkeypatch):
    from PIL import Image

    frames = make_frame_folder(tmp_path / "ctx", make_frames(3, 16, 16))
    monkeypatch.setattr(Image.Image, "save", _enospc)
    out = tmp_path / "pred"
    result = runner.invoke(app, ["predict", str(tiny_model), str(frames), "--out", str(out)])
    assert f"{out}: No space left on device" in one_line_error(result)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    png = tmp_path / "flow.png"
    a, b = sorted(frames.iterdir())[:2]
    result = runner.invoke(app, ["flow", str(a), str(b), "--flow", "dis", "--out", str(png)])
    assert f"{png}: No space left on device" in one_line_error(result)


def test_interpolate_into_a_read_only_folder(clips, tmp_path, monkeypatch):
    model = train_tiny_model(clips, tmp_path / "irun", task="interpolate")
    frames = make_frame_folder(tmp_path / "in", make_frames(3, 16, 16))
    a, b = sorted(frames.iterdir())[:2]

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "ro"))

    monkeypatch.setattr("vidpred.io.atomic.tempfile.mkstemp", read_only)
    out = tmp_path / "ro" / "mid.png"
    result = runner.invoke(app, ["interpolate", str(model), str(a), str(b), "--out", str(out)])
    assert "Read-only file system" in one_line_error(result)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_predict_into_a_read_only_folder(tiny_model, tmp_path):
    frames = make_frame_folder(tmp_path / "ctx", make_frames(3, 16, 16))
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        result = runner.invoke(
            app, ["predict", str(tiny_model), str(frames), "--out", str(ro / "p.mp4")]
        )
        assert "Permission denied" in one_line_error(result)
    finally:
        ro.chmod(0o755)


def test_eval_out_naming_a_file_is_one_line(tiny_model, clips, tmp_path):
    out = tmp_path / "file"
    out.write_text("x")
    result = runner.invoke(
        app, ["eval", str(tiny_model), str(clips), "--device", "cpu", "--out", str(out)]
    )
    assert str(out) in one_line_error(result)
    assert out.read_text() == "x"


# -- hostile data --------------------------------------------------------------------------------


def _png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.fixture
def hostile_data(tmp_path) -> Path:
    root = tmp_path / "data"
    make_video(root / "good.mp4", make_frames(12, 32, 48), fps=10)
    (root / "loop.mp4").symlink_to("loop.mp4")
    (root / "bomb").mkdir()
    for i in range(4):
        (root / "bomb" / f"f{i}.png").write_bytes(_png_claiming(100_000, 100_000))
    return root


def test_symlink_loops_and_decompression_bombs_are_skipped_with_a_note(hostile_data, tmp_path):
    result = runner.invoke(app, train_args(hostile_data, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "loop.mp4" in result.stderr and "decompression-bomb" in result.stderr
    result = runner.invoke(app, ["inspect", str(hostile_data), "--json"])
    assert result.exit_code == 0, result.output
    assert [Path(r["path"]).name for r in json.loads(result.stdout)] == ["good.mp4"]
    assert "unreadable:" in result.stderr and "loop.mp4" in result.stderr


def test_a_corrupt_cache_entry_is_rebuilt(clips, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    load_clips([clips], size=(16, 16), frames=3, cache=cache)
    metas = sorted((tmp_path / "cache").glob("*.json"))
    assert metas
    for meta in metas:
        meta.write_text("{not json")
    clips_again, skipped = load_clips([clips], size=(16, 16), frames=3, cache=cache)
    assert not skipped and [c.frames for c in clips_again] == [12, 12]
    assert all(json.loads(m.read_text())["frames"] == 12 for m in metas)


# -- counts that are true ------------------------------------------------------------------------


@pytest.fixture
def truncated_avi(tmp_path) -> Path:
    """An MPEG-4 AVI whose header claims 40 frames; the last fifth of the file is cut off, so 25
    decode."""
    full = make_video(tmp_path / "full.avi", make_frames(40, 32, 48), fps=10, codec="mpeg4")
    data = full.read_bytes()
    cut = tmp_path / "avi" / "cut.avi"
    cut.parent.mkdir()
    cut.write_bytes(data[: int(len(data) * 0.8)])
    full.unlink()
    return cut


def test_inspect_counts_decoded_frames_and_flags_the_claim(truncated_avi, tmp_path):
    result = runner.invoke(app, ["inspect", str(truncated_avi), "--json", "--context", "2"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["frames_claimed"], row["frames"], row["windows"]) == (40, 25, 23)
    assert "claims 40 frames; 25 decode" in result.stderr
    result = runner.invoke(app, ["inspect", str(truncated_avi)])
    assert "25 (claims 40)" in result.stdout
    quick = runner.invoke(app, ["inspect", str(truncated_avi), "--no-decode", "--json"])
    assert json.loads(quick.stdout)[0]["frames_decoded"] is None
    assert (
        "not decoded" in runner.invoke(app, ["inspect", str(truncated_avi), "--no-decode"]).stdout
    )


def test_inspect_and_training_data_agree_on_windows(truncated_avi, tmp_path):
    cache = FrameCache(tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match="decoding stopped at frame 25 of 40"):
        (clip,), _ = load_clips([truncated_avi], size=(16, 16), frames=3, cache=cache)
    inv = take_inventory([truncated_avi], context=2, horizon=1, stride=1, cache=cache)
    assert inv.clips[0].decoded == clip.frames == 25  # read from the cache's record
    from vidpred.data import ClipDataset

    dataset = ClipDataset([clip], frames=3, size=(16, 16))
    assert len(dataset) == inv.total_windows == 23


def test_library_warnings_are_one_note_line(truncated_avi, tmp_path):
    result = runner.invoke(app, train_args(truncated_avi.parent, tmp_path / "run"))
    assert result.exit_code == 0, result.output
    assert "note:" in result.stderr and "decoding stopped at frame 25 of 40" in result.stderr
    assert "RuntimeWarning" not in result.output and "warnings.warn" not in result.output


def test_inspect_of_an_unreadable_file_prints_the_error_alone(tmp_path):
    (tmp_path / "broken.mp4").write_text("nope")
    result = runner.invoke(app, ["inspect", str(tmp_path / "broken.mp4")])
    one_line_error(result)
    assert result.stdout == ""  # no empty table


# -- options checked before work, Ctrl-C ---------------------------------------------------------


def test_a_bad_grid_suffix_is_refused_before_predicting(tiny_model, tmp_path):
    frames = make_frame_folder(tmp_path / "ctx", make_frames(3, 16, 16))
    out = tmp_path / "pred"
    result = runner.invoke(
        app, ["predict", str(tiny_model), str(frames), "--out", str(out), "--grid", "g.txt"]
    )
    assert "--grid g.txt" in one_line_error(result)
    assert not out.exists()


def test_flow_out_is_not_replaced_without_overwrite(tmp_path):
    frames = make_frame_folder(tmp_path / "f", make_frames(2, 16, 16))
    a, b = sorted(frames.iterdir())
    png = tmp_path / "flow.png"
    png.write_bytes(b"mine")
    args = ["flow", str(a), str(b), "--flow", "dis", "--out", str(png)]
    assert "--overwrite" in one_line_error(runner.invoke(app, args))
    assert png.read_bytes() == b"mine"
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_ctrl_c_during_start_up_is_exit_130_one_line(clips, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(trainer_mod, "load_data", interrupted)
    out = tmp_path / "run"
    result = runner.invoke(app, train_args(clips, out))
    assert result.exit_code == 130 and result.stderr.strip() == "interrupted"
    assert not out.exists()  # the folder it made for the lock is gone again


def test_ctrl_c_while_importing_is_exit_130_one_line(clips, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidpred", *train_args(clips, tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    time.sleep(0.5)  # importing torch takes longer than this
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "interrupted"
