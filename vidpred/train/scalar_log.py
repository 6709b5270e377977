"""metrics.csv of a run: one row per log interval or validation, columns added as they appear;
the same scalars go to TensorBoard when the optional `tensorboard` package is installed."""

from __future__ import annotations

import csv
from pathlib import Path

from vidpred.io.atomic import atomic_path


class ScalarLog:
    """Append rows of `{column: number}`. The header is the union of the columns seen so far (in
    first-seen order, `step` first); a row that brings a new column rewrites the file once.
    Rows with an empty cell simply lack that value (e.g. validation columns on training rows)."""

    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path, self.enabled = Path(path), enabled
        self._tb = _tensorboard_writer(self.path.parent / "tensorboard") if enabled else None
        self.columns: list[str] = ["step"]
        self.rows: list[dict[str, float]] = []
        if enabled and self.path.exists():
            with open(self.path, newline="") as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or ["step"])
                self.rows = [{k: v for k, v in r.items() if v != ""} for r in reader]

    def truncate_after(self, step: int) -> None:
        """Drop rows past `step` (a resumed run replays from its checkpoint's step)."""
        if not self.enabled:
            return
        kept = [r for r in self.rows if float(r["step"]) <= step]
        if len(kept) != len(self.rows) or not self.path.exists():
            self.rows = kept
            self._rewrite()

    def write(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.rows.append(row)
        if self._tb is not None:
            for k, v in row.items():
                if k != "step":
                    self._tb.add_scalar(k, v, global_step=int(row["step"]))
            self._tb.flush()
        new = [k for k in row if k not in self.columns]
        if new or not self.path.exists():
            self.columns += new
            self._rewrite()
            return
        with open(self.path, "a", newline="") as fh:
            csv.DictWriter(fh, self.columns).writerow(_fmt(row))

    def _rewrite(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, self.columns)
            w.writeheader()
            w.writerows(_fmt(r) for r in self.rows)


def _fmt(row: dict) -> dict:
    return {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}


def _tensorboard_writer(log_dir: Path):
    """A SummaryWriter when tensorboard is installed (never required), else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 (optional)
    except ImportError:
        return None
    return SummaryWriter(log_dir=str(log_dir))
