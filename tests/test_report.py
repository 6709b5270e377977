"""vidpred.eval.report: the page's structure (parsed), that it is self-contained, how it renders."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from vidpred.errors import InputError
from vidpred.eval.report import (
    Animation,
    EvalSummary,
    Figure,
    ModelSummary,
    nice_ticks,
    render_report,
    write_report,
)
from vidpred.eval.stats import paired, summarize

CHROMIUM = Path("/usr/bin/chromium")


class Page(HTMLParser):
    """Collects what the tests look at: tags, attributes, table cells, and all text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.tables: list[list[list[str]]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def find(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]


def _values(rng, n, T, base, slope):
    return base + slope * np.arange(T)[None] + rng.normal(0, abs(base) * 0.02 + 1e-3, (n, T))


def _models(T: int = 6, n: int = 12) -> list[ModelSummary]:
    rng = np.random.default_rng(0)

    def values(psnr, ssim, lpips):
        return {
            "psnr": _values(rng, n, T, psnr, -0.8),
            "ssim": _values(rng, n, T, ssim, -0.02),
            "lpips": _values(rng, n, T, lpips, 0.01),
        }

    def stats(v):
        return {m: summarize(x) for m, x in v.items()}

    def vs(v, base):
        higher = {"psnr": True, "ssim": True, "lpips": False}
        return {
            "copy last frame": {m: paired(v[m], base[m], higher_is_better=higher[m]) for m in v}
        }

    base = values(26, 0.85, 0.12)
    a = values(31, 0.93, 0.06)  # clearly better than the baseline on every metric
    b = {m: x + rng.normal(0, 0.01, x.shape) for m, x in base.items()}  # the baseline, roughly
    b["psnr"] = base["psnr"] - 0.5  # worse in PSNR on every window
    return [
        ModelSummary("corr-l1", stats(a), description="runs/a/last.pt", paired=vs(a, base)),
        ModelSummary("l1 <plain>", stats(b), paired=vs(b, base)),
        ModelSummary("copy last frame", stats(base), baseline=True),
    ]


def _gif() -> bytes:
    y, x = np.mgrid[0:32, 0:32]
    frames = np.stack([np.stack([(x * 8 + 16 * t) % 256, y * 8, x * 0 + 90], -1) for t in range(4)])
    return iio.imwrite("<bytes>", frames.astype(np.uint8), extension=".gif", duration=100)


def _summary(tmp_path: Path) -> EvalSummary:
    rng = np.random.default_rng(1)
    grid = (rng.random((40, 120, 3)) * 255).astype(np.uint8)
    png_file = tmp_path / "grid.png"
    iio.imwrite(png_file, grid[:, ::-1])
    return EvalSummary(
        models=_models(),
        details={"data": "clips/ (12 clips)", "horizon": "6 frames"},
        notes=["LPIPS uses a random trunk in this test"],
        grids=[
            Figure(
                "clip 3", grid, caption="context | target | prediction", metric="psnr", value=24
            ),
            Figure("clip 7", png_file, metric="psnr", value=18.5),
            Figure(
                "clip 1", iio.imwrite("<bytes>", grid, extension=".png"), metric="psnr", value=29
            ),
        ],
        animations=[Animation("clip 7 animated", _gif(), caption="target | prediction")],
    )


def test_report_structure(tmp_path):
    path = write_report(tmp_path / "out", _summary(tmp_path))
    assert path == tmp_path / "out" / "report.html"
    page = Page(path.read_text(encoding="utf-8"))

    # Summary table: one row per model with mean ± std and a CI, best PSNR in bold.
    summary = page.tables[0]
    metrics = ["PSNR (dB) ↑", "SSIM ↑", "LPIPS ↓"]
    assert summary[0] == ["model", "clips", *metrics, "Δ vs copy last frame"]
    names = [row[0] for row in summary[1:]]
    assert names[0] == "corr-l1" + "runs/a/last.pt"  # name, then the description below it
    assert names[1:] == ["l1 <plain>", "copy last frame baseline"]  # escaped, then parsed
    assert all(row[1] == "12" for row in summary[1:])
    assert all("±" in cell and "[" in cell for row in summary[1:] for cell in row[2:5])
    # Paired columns: a line per metric, coloured by whether the paired CI excludes zero.
    assert summary[1][5].startswith("PSNR +4.85 [+4.56, +5.11] · wins 100%")
    assert "LPIPS −0.0597" in summary[1][5] and summary[3][5] == ""  # none for the baseline
    verdicts = [a["class"] for a in page.find("div") if a.get("class") in ("better", "worse")]
    assert verdicts[:3] == ["better"] * 3 and verdicts[3] == "worse"  # l1 loses in PSNR
    # One per-step plot (SVG) and one per-step table per metric, six steps each.
    assert len(page.find("svg")) == 3
    assert len(page.tables) == 1 + 3
    assert all(table[0] == ["step", "1", "2", "3", "4", "5", "6"] for table in page.tables[1:])
    # Images: three grids worst first (lowest PSNR), then the GIF; all embedded.
    imgs = page.find("img")
    assert [i["alt"] for i in imgs] == ["clip 7", "clip 3", "clip 1", "clip 7 animated"]
    assert [i["src"].split(";")[0] for i in imgs] == ["data:image/png"] * 3 + ["data:image/gif"]
    text = " ".join(page.text)
    for needle in ("mean of its per-frame PSNRs", "sigma=1.5", "use_sample_covariance=False"):
        assert needle in text
    assert 'net="alex"' in text and "version 0.1" in text


def test_report_is_self_contained(tmp_path):
    source = write_report(tmp_path, _summary(tmp_path)).read_text(encoding="utf-8")
    page = Page(source)
    links = [a.get(k, "") for _, a in page.tags for k in ("src", "href", "xlink:href")]
    assert not [u for u in links if u.startswith(("http://", "https://", "//"))]
    assert all(u.startswith("data:") for u in links if u)
    assert not page.find("script") and not page.find("link")
    assert "http://" not in source and "https://" not in source


def test_text_from_the_data_is_escaped_everywhere(tmp_path):
    evil = "x' onmouseover='alert(1)\"<script>"
    models = [ModelSummary(evil, {"psnr": summarize(np.full((3, 2), 30.0))}, description=evil)]
    source = render_report(EvalSummary(models=models, details={evil: evil}, notes=[evil]))
    assert "<script>" not in source and "onmouseover='" not in source
    assert not Page(source).find("script")


def test_the_template_ships_in_the_package():
    import importlib.resources

    template = importlib.resources.files("vidpred.eval") / "templates" / "report.html.j2"
    assert template.is_file() and "autoescape" in Path(__file__).parents[1].joinpath(
        "vidpred/eval/report.py"
    ).read_text(encoding="utf-8")


def test_single_step_has_no_plots_and_missing_metric_shows_dash(tmp_path):
    rng = np.random.default_rng(2)
    models = [
        ModelSummary("a", {"psnr": summarize(rng.normal(30, 1, 5))}),
        ModelSummary("b", {"psnr": summarize(rng.normal(29, 1, 5)), "ssim": summarize([0.9])}),
    ]
    page = Page(render_report(EvalSummary(models=models, metrics=("psnr", "ssim", "lpips"))))
    assert not page.find("svg") and not page.find("img")
    assert page.tables[0][0] == ["model", "clips", "PSNR (dB) ↑", "SSIM ↑"]  # no LPIPS column
    assert page.tables[0][1][3] == "—"


def test_infinite_psnr_is_shown_not_plotted_as_a_number(tmp_path):
    values = np.full((3, 2), 35.0)
    values[0, 1] = np.inf  # a perfect frame
    page = Page(render_report(EvalSummary(models=[ModelSummary("m", {"psnr": summarize(values)})])))
    assert page.tables[0][1][2].startswith("∞")


def test_bad_images_raise(tmp_path):
    base = dict(models=_models(T=2))
    with pytest.raises(InputError, match="nope.png: cannot read"):
        render_report(EvalSummary(**base, grids=[Figure("x", tmp_path / "nope.png")]))
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(InputError, match="notes.txt: not a PNG"):
        render_report(EvalSummary(**base, grids=[Figure("x", text_file)]))
    png = iio.imwrite("<bytes>", np.zeros((4, 4, 3), np.uint8), extension=".png")
    with pytest.raises(InputError, match="not a GIF"):
        render_report(EvalSummary(**base, animations=[Animation("a", png)]))
    with pytest.raises(ValueError, match="uint8"):
        render_report(EvalSummary(**base, grids=[Figure("x", np.zeros((4, 4, 3)))]))
    with pytest.raises(ValueError, match="at least one model"):
        render_report(EvalSummary(models=[]))
    with pytest.raises(ValueError, match="unique"):
        render_report(EvalSummary(models=[base["models"][0]] * 2))


@pytest.mark.parametrize(
    "lo, hi, expected",
    [(0.0, 1.0, [0, 0.25, 0.5, 0.75, 1.0]), (17.3, 31.9, [15, 20, 25, 30, 35]), (0.8, 0.8, None)],
)
def test_nice_ticks_cover_the_range(lo, hi, expected):
    ticks = nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi and 3 <= len(ticks) <= 8
    if expected is not None:
        assert ticks == pytest.approx(expected)


def test_report_renders_in_headless_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: install it (apt-get install chromium) to render")
    path = write_report(tmp_path, _summary(tmp_path))
    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
        "--window-size=1200,1600", path.as_uri(),
    ]  # fmt: skip
    try:
        subprocess.run(cmd, capture_output=True, timeout=90, check=False)
    finally:
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    assert shot.exists(), "chromium wrote no screenshot"
    image = iio.imread(shot)[..., :3]
    assert image.shape[:2] == (1600, 1200)
    ink = (image.astype(int).sum(-1) < 600).mean()  # share of clearly non-white pixels
    colours = len(np.unique(image.reshape(-1, 3)[::7], axis=0))
    assert ink > 0.02 and colours > 50, f"blank-looking page: {ink:.3f} ink, {colours} colours"
