import hashlib
import io
import json
import urllib.error

import pytest
import typer
from typer.testing import CliRunner

from vidpred import weights
from vidpred.cli import _VidpredGroup
from vidpred.cli import weights as weights_cmd
from vidpred.errors import InputError, VidpredError, WeightsMissingError


@pytest.fixture
def fake_entry(tmp_path, monkeypatch):
    """A registered test entry whose published hash matches `payload`, and the payload file."""
    payload = b"pretend these are weights"
    prefix = hashlib.sha256(payload).hexdigest()[:8]
    entry = weights.WeightsEntry(
        name="test-net",
        url=f"https://download.example.invalid/models/test-net-{prefix}.pth",
        size_mb=0.0,
        used_by="tests",
    )
    monkeypatch.setitem(weights.REGISTRY, entry.name, entry)
    source = tmp_path / "download.pth"
    source.write_bytes(payload)
    return entry, source


def test_registry_uses_torchvision_files_and_their_hash_prefixes(hub_dir):
    assert set(weights.REGISTRY) == {"raft-small", "raft-large", "vgg19", "lpips-alex", "lpips-vgg"}
    vgg = weights.REGISTRY["vgg19"]
    assert vgg.filename == "vgg19-dcbb9e9d.pth" and vgg.sha256_prefix == "dcbb9e9d"
    assert vgg.url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert vgg.path == hub_dir / "checkpoints" / "vgg19-dcbb9e9d.pth"
    for entry in weights.REGISTRY.values():
        assert len(entry.sha256_prefix) >= 8 and entry.size_mb > 1
    assert not any(row["present"] for row in weights.weights_table())


def test_raft_weights_are_the_ports_of_the_raft_authors_own():
    """The paper's flow is RAFT-large with princeton-vl's raft-things.pth; torchvision's C_T_V1
    is that file ported (C_T_V2 is torchvision's retraining)."""
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    for name, enum in (("raft-large", Raft_Large_Weights), ("raft-small", Raft_Small_Weights)):
        entry = weights.REGISTRY[name]
        assert entry.url == enum.C_T_V1.url and entry.torchvision == f"{enum.__name__}.C_T_V1"
        assert "ported from the original paper" in enum.C_T_V1.meta["_docs"]
    assert "raft-things.pth" in weights.REGISTRY["raft-large"].paper


def test_missing_weights_error_names_both_fixes(hub_dir):
    with pytest.raises(WeightsMissingError) as info:
        weights.require("lpips-vgg")
    message = str(info.value)
    assert "`vidpred weights fetch lpips-vgg`" in message
    assert "`vidpred weights import lpips-vgg FILE`" in message
    assert str(hub_dir / "checkpoints" / "vgg16-397923af.pth") in message


def test_import_verifies_then_installs(hub_dir, fake_entry, tmp_path):
    entry, source = fake_entry
    wrong = tmp_path / "wrong.pth"
    wrong.write_bytes(b"something else")
    with pytest.raises(InputError, match="wrong.pth: not the test-net weights"):
        weights.import_weights("test-net", wrong)
    assert not entry.present
    assert list(hub_dir.rglob("*.pth*")) == []  # the temporary copy is gone too
    path = weights.import_weights("test-net", source)
    assert path == entry.path and entry.present
    assert path.read_bytes() == source.read_bytes()
    assert weights.require("test-net") == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_import_refuses_missing_files_and_unknown_names(hub_dir, tmp_path):
    with pytest.raises(InputError, match="nope.pth: no such file"):
        weights.import_weights("vgg19", tmp_path / "nope.pth")
    (tmp_path / "x.pth").write_bytes(b"x")
    with pytest.raises(InputError, match="unknown weights 'vgg20'; known: raft-small"):
        weights.import_weights("vgg20", tmp_path / "x.pth")


class _Response(io.BytesIO):
    length = None


def test_fetch_downloads_verifies_and_installs(hub_dir, fake_entry, monkeypatch):
    entry, source = fake_entry
    seen = {}

    def urlopen(url, timeout):
        seen.update(url=url, timeout=timeout)
        return _Response(source.read_bytes())

    monkeypatch.setattr(weights.urllib.request, "urlopen", urlopen)
    progress = []
    path = weights.fetch("test-net", timeout=3.0, progress=lambda d, t: progress.append(d))
    assert seen == {"url": entry.url, "timeout": 3.0}
    assert path.read_bytes() == source.read_bytes() and progress[-1] == len(source.read_bytes())
    seen.clear()
    assert weights.fetch("test-net") == path and not seen  # present: nothing downloaded
    weights.fetch("test-net", force=True)
    assert seen["url"] == entry.url


def test_fetch_rejects_a_corrupt_download(hub_dir, fake_entry, monkeypatch):
    entry, _ = fake_entry
    monkeypatch.setattr(
        weights.urllib.request, "urlopen", lambda url, timeout: _Response(b"truncated")
    )
    with pytest.raises(InputError, match="not the test-net weights"):
        weights.fetch("test-net")
    assert not entry.present


def test_fetch_without_network_is_one_line_with_the_offline_fix(hub_dir, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(weights.urllib.request, "urlopen", offline)
    with pytest.raises(VidpredError) as info:
        weights.fetch("raft-small")
    message = str(info.value)
    assert "\n" not in message and "Name or service not known" in message
    assert "`vidpred weights import raft-small FILE`" in message
    assert not weights.is_present("raft-small")


def test_unreadable_weights_file_is_named(hub_dir):
    path = weights.REGISTRY["raft-small"].path
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a torch file")
    with pytest.raises(
        VidpredError, match="raft_small_C_T_V1-ad48884c.pth: cannot be read"
    ) as info:
        weights.load_state_dict("raft-small")
    assert "\n" not in str(info.value) and "vidpred weights fetch raft-small" in str(info.value)


# -- vidpred weights ------------------------------------------------------------------------


def _cli():
    app = typer.Typer(cls=_VidpredGroup)
    app.add_typer(weights_cmd.app, name="weights")
    app.command("unused")(lambda: None)
    return app


def test_cli_weights_list_json(hub_dir, fake_entry):
    _, source = fake_entry
    weights.import_weights("test-net", source)
    result = CliRunner().invoke(_cli(), ["weights", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["test-net"]["present"] and not rows["vgg19"]["present"]
    assert rows["raft-small"]["url"].endswith("raft_small_C_T_V1-ad48884c.pth")
    assert rows["raft-large"]["torchvision"] == "Raft_Large_Weights.C_T_V1"
    assert "raft-things.pth" in rows["raft-large"]["paper"] and rows["test-net"]["paper"] == ""
    assert rows["vgg19"]["path"] == str(hub_dir / "checkpoints" / "vgg19-dcbb9e9d.pth")
    table = CliRunner().invoke(_cli(), ["weights", "list"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "lpips-alex" in table.stdout
    assert "Raft_Large_Weights.C_T_V1" in table.stdout and "raft-things.pth" in table.stdout


def test_cli_weights_import_and_its_errors(hub_dir, fake_entry, tmp_path):
    entry, source = fake_entry
    runner = CliRunner()
    result = runner.invoke(_cli(), ["weights", "import", "test-net", str(source)])
    assert result.exit_code == 0 and entry.present
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"bad")
    result = runner.invoke(_cli(), ["weights", "import", "vgg19", str(bad)])
    assert result.exit_code == 2 and "bad.pth: not the vgg19 weights" in result.output
    result = runner.invoke(_cli(), ["weights", "fetch", "nothing"])
    assert result.exit_code == 2 and "unknown weights 'nothing'" in result.output
