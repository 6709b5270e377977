from pathlib import Path

import pytest

from vidpred.config import RunConfig, load_config, save_config
from vidpred.errors import InputError


def test_round_trip_through_toml(tmp_path: Path):
    cfg = RunConfig().override("data", paths=("a.mp4", "b/"), size=(32, 64))
    cfg = cfg.override("train", lr=3e-4, steps=7)
    save_config(cfg, tmp_path / "c.toml")
    assert load_config(tmp_path / "c.toml") == cfg


def test_override_skips_flags_not_given():
    cfg = RunConfig().override("train", lr=None, steps=5)
    assert cfg.train.lr == RunConfig().train.lr
    assert cfg.train.steps == 5


def test_partial_file_keeps_defaults_and_ints_become_floats(tmp_path: Path):
    (tmp_path / "c.toml").write_text("[train]\nlr = 1\n")
    cfg = load_config(tmp_path / "c.toml")
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    assert cfg.data == RunConfig().data


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[trian]\nsteps = 3\n", "unknown section"),
        ("[train]\nstep = 3\n", "unknown key"),
        ("[train]\nsteps = 'many'\n", "expected int"),
        ("[train]\nsteps = true\n", "expected int"),
        ("[data]\nsize = [64, 'x']\n", "list of int"),
        ("[train\n", "not valid TOML"),
    ],
)
def test_bad_files_name_the_file_and_the_problem(tmp_path: Path, text: str, needle: str):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=needle) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(InputError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
