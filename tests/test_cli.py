import json

from conftest import make_frame_folder, make_frames, make_video
from typer.testing import CliRunner

from vidpred import __version__
from vidpred.cli import app

runner = CliRunner()


def test_version_and_help():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
    commands = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert "inspect" in commands
    for command in commands:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_help_shows_the_defaults_and_reflows_paragraphs():
    # "[default: ...]" in a help text once vanished as a Rich markup tag, and docstring line
    # breaks were kept, so paragraphs came out ragged.
    wide = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    train = " ".join(runner.invoke(app, ["train", "--help"], env=wide).output.split())
    assert "[default: l1+corr-l1]" in train and "[default: flow]" in train
    result = runner.invoke(app, ["eval", "--help"], env=wide)
    assert "interpolation models predict every other frame" in result.output


def test_inspect_json_lists_every_clip_with_windows(tmp_path):
    make_video(tmp_path / "a.mp4", make_frames(10, 32, 48), fps=10)
    make_frame_folder(tmp_path / "frames", make_frames(5, 32, 48))
    (tmp_path / "broken.mp4").write_text("nope")
    result = runner.invoke(app, ["inspect", str(tmp_path), "--json", "--context", "2"])
    assert result.exit_code == 0, result.output
    rows = {r["path"].split("/")[-1]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"a.mp4", "frames"}
    assert rows["a.mp4"]["codec"] == "h264" and rows["a.mp4"]["frames"] == 10
    assert (rows["a.mp4"]["width"], rows["a.mp4"]["height"], rows["a.mp4"]["fps"]) == (48, 32, 10)
    assert rows["a.mp4"]["windows"] == 8 and rows["frames"]["windows"] == 3
    assert "broken.mp4" in result.stderr


def test_inspect_table_has_totals(tmp_path):
    make_video(tmp_path / "a.mp4", make_frames(10, 32, 48), fps=10)
    result = runner.invoke(app, ["inspect", str(tmp_path)])
    assert result.exit_code == 0
    assert "a.mp4" in result.stdout and "total" in result.stdout


def test_inspect_nothing_readable_exits_2_with_one_line(tmp_path):
    (tmp_path / "broken.mp4").write_text("nope")
    result = runner.invoke(app, ["inspect", str(tmp_path / "broken.mp4")])
    assert result.exit_code == 2
    assert "broken.mp4" in result.stderr
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["inspect", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "missing" in result.stderr
