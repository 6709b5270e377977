"""The trainer, on tiny generated clips: learning, resuming, kills, configs, DDP, every loss."""

import csv
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import make_clip_folder
from typer.testing import CliRunner

from vidpred.checkpoint import load_payload
from vidpred.cli import app
from vidpred.config import RunConfig, load_config
from vidpred.losses import build_loss
from vidpred.train import trainer as trainer_mod
from vidpred.train.trainer import train, weights_digest

runner = CliRunner()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    return make_clip_folder(tmp_path_factory.mktemp("clips"), 3, 14)


def tiny_config(clips: Path, out: Path, **train) -> RunConfig:
    cfg = RunConfig().override("data", paths=(str(clips),), size=(16, 16), context=2)
    cfg = cfg.override("loss", spec="l1", flow="dis")
    return cfg.override(
        "train",
        **{
            "out": str(out),
            "steps": 6,
            "batch_size": 4,
            "lr": 1e-3,
            "val_every": 3,
            "sample_every": 3,
            "checkpoint_every": 2,
            "val_batches": 1,
            "device": "cpu",
            **train,
        },
    )


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDPRED_CACHE", str(tmp_path / "cache"))


def _rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as fh:
        return list(csv.DictReader(fh))


def test_run_folder_has_everything(clips, tmp_path):
    summary = train(tiny_config(clips, tmp_path / "run"))
    run = tmp_path / "run"
    assert summary.step == 6
    for f in ["config.toml", "model.pt", "checkpoints/last.pt", "checkpoints/best.pt"]:
        assert (run / f).is_file(), f
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step_0000003.png",
        "step_0000006.png",
    ]
    rows = _rows(run)
    assert {"step", "loss", "lr", "steps_per_s", "val_psnr", "val_ssim"} <= set(rows[0])
    assert any(r["val_psnr"] for r in rows)
    model = load_payload(run / "model.pt", kind="model")
    assert model["step"] == 6 and "optimizer" not in model
    assert load_config(run / "config.toml").train.steps == 6


def test_a_few_steps_lower_the_loss(clips, tmp_path):
    cfg = tiny_config(clips, tmp_path / "run", steps=40, val_every=0, sample_every=0, lr=3e-3)
    cfg = cfg.override("model", head="pixels", residual=False)  # far from the data: must learn
    seen = []
    train(cfg, on_step=lambda step, logs: seen.append(logs["loss"]))
    assert seen[-1] < 0.6 * seen[0]


def _interrupt_at(step: int):
    """An on_step callback that presses Ctrl-C once the run has reached `step`."""

    def on_step(n: int, logs: dict) -> None:
        if n >= step:
            signal.raise_signal(signal.SIGINT)

    return on_step


def test_interrupted_run_resumes_exactly(clips, tmp_path):
    full = train(tiny_config(clips, tmp_path / "full", steps=8))
    cut = train(tiny_config(clips, tmp_path / "split", steps=8), on_step=_interrupt_at(3))
    assert cut.interrupted and cut.step == 3  # stopped mid-run, mid-schedule
    resumed = train(tiny_config(clips, tmp_path / "split", steps=8), resume=True)
    assert resumed.step == 8
    assert resumed.weights_digest == full.weights_digest  # the lr schedule resumed too
    steps = [int(r["step"]) for r in _rows(tmp_path / "split") if r["loss"]]
    assert steps == sorted(set(steps))  # no replayed rows


def test_extending_a_finished_run_equals_asking_for_more_with_a_constant_lr(clips, tmp_path):
    # A cosine schedule is planned over --steps, so only a constant lr makes "3, then 8" the
    # same run as "8".
    full = train(tiny_config(clips, tmp_path / "full", steps=8, lr_schedule="constant"))
    train(tiny_config(clips, tmp_path / "split", steps=3, lr_schedule="constant"))
    resumed = train(
        tiny_config(clips, tmp_path / "split", steps=8, lr_schedule="constant"), resume=True
    )
    assert resumed.weights_digest == full.weights_digest


def test_resume_cli_continues_from_saved_config(clips, tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        str(clips),
        "--out",
        str(run),
        "--size",
        "16",
        "--context",
        "2",
        "--loss",
        "l1",
        "--batch-size",
        "4",
        "--steps",
        "2",
        "--device",
        "cpu",
    ]
    assert runner.invoke(app, args).exit_code == 0
    result = runner.invoke(app, ["train", "--resume", "--out", str(run), "--steps", "4"])
    assert result.exit_code == 0, result.output
    assert load_payload(run / "model.pt", kind="model")["step"] == 4
    saved = load_config(run / "config.toml")
    assert (saved.train.steps, saved.data.context, saved.loss.spec) == (4, 2, "l1")


def test_config_file_precedence(clips, tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text(
        f'[data]\npaths = ["{clips}"]\nsize = [16, 16]\ncontext = 2\n'
        '[loss]\nspec = "mse"\n[train]\nsteps = 2\nbatch_size = 4\nlr = 0.01\ndevice = "cpu"\n'
    )
    run = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--config", str(conf), "--lr", "0.002", "--out", str(run)]
    )
    assert result.exit_code == 0, result.output
    saved = load_config(run / "config.toml")
    assert saved.train.lr == 0.002  # the flag wins
    assert saved.loss.spec == "mse" and saved.train.steps == 2  # the file beats defaults


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(clips, tmp_path, monkeypatch):
    real = trainer_mod.Trainer.train_step

    def poisoned(self, batch):
        loss, logs = real(self, batch)
        return (loss * float("nan") if self.step >= 3 else loss), logs

    monkeypatch.setattr(trainer_mod.Trainer, "train_step", poisoned)
    result = runner.invoke(
        app,
        [
            "train",
            str(clips),
            "--out",
            str(tmp_path / "run"),
            "--size",
            "16",
            "--context",
            "2",
            "--loss",
            "l1",
            "--batch-size",
            "4",
            "--steps",
            "10",
            "--device",
            "cpu",
            "--checkpoint-every",
            "2",
            "--val-every",
            "0",
        ],
    )
    assert result.exit_code == 2
    assert "at step 4" in result.stderr and "Traceback" not in result.output
    assert load_payload(tmp_path / "run/checkpoints/last.pt", kind="checkpoint")["step"] == 2


@pytest.mark.parametrize(
    "spec", ["l1", "mse", "corr-l1", "corr-mse", "l1+vgg", "corr-l1+0.5*lpips", "lpips+corr-l1"]
)
def test_every_loss_spec_trains_one_step(clips, tmp_path, monkeypatch, spec):
    # No pretrained weights here: random VGG/LPIPS backbones exercise the same plumbing.
    monkeypatch.setattr(trainer_mod, "build_loss", functools.partial(build_loss, pretrained=False))
    cfg = tiny_config(clips, tmp_path / "run", steps=1, val_every=0, sample_every=0)
    cfg = cfg.override("data", size=(32, 32))  # AlexNet (LPIPS) needs more than 16x16
    summary = train(cfg.override("loss", spec=spec))
    assert summary.step == 1 and torch.isfinite(torch.tensor(summary.loss))


def test_interpolation_task_trains(clips, tmp_path):
    cfg = tiny_config(clips, tmp_path / "run", steps=2, task="interpolate")
    train(cfg)
    payload = load_payload(tmp_path / "run/model.pt", kind="model")
    assert payload["model_config"]["task"] == "interpolate"


def test_bad_options_are_one_line_errors(clips, tmp_path):
    base = ["train", str(clips), "--out", str(tmp_path / "r"), "--device", "cpu"]
    for extra, needle in [
        (["--size", "20"], "multiples of 8"),
        (["--loss", "l3"], "l3"),
        (["--model", "unet-xxl"], "unet-xxl"),
        (["--task", "dance"], "dance"),
        (["--precision", "fp16"], "fp16"),
        (["--batch-size", "100000"], "less than one batch"),
    ]:
        result = runner.invoke(app, base + extra)
        assert result.exit_code == 2, (extra, result.output)
        assert needle in result.stderr and "Traceback" not in result.output


def _train_cmd(clips: Path, out: Path, steps: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vidpred",
        "train",
        str(clips),
        "--out",
        str(out),
        "--size",
        "16",
        "--context",
        "2",
        "--loss",
        "l1",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--steps",
        str(steps),
        "--checkpoint-every",
        "1",
        "--val-every",
        "0",
        "--sample-every",
        "0",
    ]


def test_killed_run_resumes(clips, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        _train_cmd(clips, out, 10_000),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        last.exists() and load_payload(last, kind="checkpoint")["step"] >= 3
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = load_payload(last, kind="checkpoint")["step"]  # loadable whenever it was killed
    assert step >= 3
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "vidpred",
            "train",
            "--resume",
            "--out",
            str(out),
            "--steps",
            str(step + 2),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert load_payload(last, kind="checkpoint")["step"] == step + 2


def test_ctrl_c_saves_and_exits_cleanly(clips, tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _train_cmd(clips, out, 10_000),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    last = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        last.exists() and load_payload(last, kind="checkpoint")["step"] >= 1
    ):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "vidpred train --resume" in stdout
    assert load_payload(last, kind="checkpoint")["step"] >= 1


DDP_SCRIPT = """
import sys
from vidpred.config import load_config
from vidpred.train.trainer import train
summary = train(load_config(sys.argv[1]))
import os
open(sys.argv[2] + f".rank{os.environ['RANK']}", "w").write(summary.weights_digest)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_processes_end_with_identical_weights(clips, tmp_path):
    from vidpred.config import save_config

    cfg = tiny_config(clips, tmp_path / "run", steps=3, val_every=0, sample_every=0)
    save_config(cfg, tmp_path / "c.toml")
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    digest = tmp_path / "digest"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc-per-node",
            "2",
            "--master-port",
            str(_free_port()),
            str(script),
            str(tmp_path / "c.toml"),
            str(digest),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    d0, d1 = (Path(f"{digest}.rank{r}").read_text() for r in (0, 1))
    assert d0 == d1
    # Only rank 0 wrote the run folder, and its model holds those same weights.
    payload = load_payload(tmp_path / "run/model.pt", kind="model")
    assert payload["step"] == 3
    assert weights_digest(payload["model"]) == d0


def test_cosine_schedule_warms_up_then_decays_to_zero():
    from vidpred.train.setup import lr_at

    lrs = [lr_at(s, peak=1.0, total=100, schedule="cosine", warmup=0.05) for s in range(100)]
    assert lrs[0] < lrs[4] < lrs[5] == pytest.approx(1.0)  # 5 warmup steps, then the peak
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:], strict=False))  # monotone decay
    assert lrs[-1] < 1e-3
    assert lr_at(50, peak=0.3, total=100, schedule="constant", warmup=0.05) == 0.3


def test_validation_logs_the_model_beside_copy_last_and_linear(clips, tmp_path):
    cfg = tiny_config(clips, tmp_path / "run", steps=4, val_every=2, sample_every=2)
    train(cfg.override("model", head="pixels"))
    rows = [r for r in _rows(tmp_path / "run") if r.get("val_psnr")]
    assert [int(r["step"]) for r in rows] == [0, 2, 4]  # step 0: the untrained model
    for r in rows:
        assert float(r["val_psnr_copy_last"]) > 0 and float(r["val_psnr_linear"]) > 0
    # An untrained residual pixel model is copy-last: same windows, same score.
    assert float(rows[0]["val_psnr"]) == pytest.approx(float(rows[0]["val_psnr_copy_last"]))
    # Three files at val_fraction 0.2 leave one validation file: split by time instead.
    assert load_config(tmp_path / "run" / "config.toml").data.val_split == "time"


def test_flow_head_trains_from_the_cli_and_starts_as_linear(clips, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(clips), "--out", str(run), "--size", "16", "--context", "2"]
    args += ["--loss", "corr-l1", "--flow", "dis", "--head", "flow", "--batch-size", "4"]
    args += ["--steps", "3", "--device", "cpu", "--val-every", "3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [r for r in _rows(run) if r.get("val_psnr")]
    assert float(rows[0]["val_psnr"]) == pytest.approx(float(rows[0]["val_psnr_linear"]))
    assert load_payload(run / "model.pt", kind="model")["model_config"]["head"] == "flow"


def test_a_pixelwise_term_beside_a_corrwise_one_trains_from_the_cli(clips, tmp_path):
    run = tmp_path / "run"
    args = ["train", str(clips), "--out", str(run), "--size", "16", "--context", "2"]
    args += ["--loss", "L1 + Corr-L1", "--flow", "dis", "--batch-size", "4", "--steps", "2"]
    result = runner.invoke(app, args + ["--device", "cpu", "--val-every", "0"])
    assert result.exit_code == 0, result.output
    row = [r for r in _rows(run) if r.get("loss")][-1]
    total, corr, pixel = (float(row[k]) for k in ("loss", "corr_loss", "pixel_loss"))
    assert pixel > 0 and corr > 0 and total == pytest.approx(corr + pixel, rel=1e-4)
    assert load_config(run / "config.toml").loss.spec == "l1+corr-l1"  # saved canonical


@pytest.mark.parametrize(
    ("flag", "value"), [("--head", "voxels"), ("--lr-schedule", "step"), ("--val-split", "x")]
)
def test_bad_choices_are_one_line_errors(clips, tmp_path, flag, value):
    result = runner.invoke(app, ["train", str(clips), "--out", str(tmp_path / "r"), flag, value])
    assert result.exit_code == 2 and value in result.stderr and "Traceback" not in result.output
