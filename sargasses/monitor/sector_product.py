"""Covered km2 per coastal sector and pass, with a risk class against a baseline period (in AOML's spirit).

A pass is one acquisition time; the scenes of one pass (adjacent tiles) add up. Per sector and pass:
covered_km2 (blank where the sector's water was not seen at all: a gap, not a zero), observed_km2, the share of the
sector's area in the pass's scenes that was seen, and density = covered / observed. The risk class compares the
density with the sector's mean density over the baseline passes (all passes when no baseline is given):

    ratio < 1     low       at or below the baseline
    1 <= ratio < 3 medium   up to three times the baseline
    ratio >= 3    high      three times the baseline or more
    (not seen)    not observed

A sector whose baseline density is 0 is "high" at the first raft seen. AOML's product (NOAA/AOML Sargassum
Inundation Risk) classes the cover within 50 km of each coast against its climatology; these thresholds are ours,
documented in docs/monitoring.md, and a `--baseline` period chooses the reference.
"""

from __future__ import annotations

import csv
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

RISK_THRESHOLDS = ((1.0, "low"), (3.0, "medium"), (math.inf, "high"))
NOT_OBSERVED = "not observed"
PASSES = (
    "SELECT p.datetime, p.date, p.sector, SUM(p.covered_m2), SUM(p.observed_m2), SUM(p.sector_area_m2) "
    "FROM monitor_sector_passes p JOIN scenes s ON s.scene_key = p.scene_key WHERE s.status = 'done' "
    "GROUP BY p.datetime, p.sector"
)
DONE_PASSES = "SELECT DISTINCT datetime, date FROM scenes WHERE status IN ('done', 'skipped') ORDER BY datetime"
COLUMNS = ("datetime", "date", "sector", "covered_km2", "observed_km2", "observed_share", "density",
           "baseline_density", "ratio", "risk")  # fmt: skip


@dataclass
class SectorPass:
    datetime: str
    date: str
    sector: str
    covered_km2: float | None  # None: not observed
    observed_km2: float
    observed_share: float
    density: float | None = None
    baseline_density: float | None = None
    ratio: float | None = None
    risk: str = NOT_OBSERVED


def sector_passes(db: sqlite3.Connection, sectors: list[str], baseline: tuple[str, str] | None) -> list[SectorPass]:
    """Every pass x every sector (gaps included), with its risk class."""
    found = {(r[0], r[2]): r for r in db.execute(PASSES).fetchall()}
    out = []
    for when, date in db.execute(DONE_PASSES).fetchall():
        for sector in sectors:
            r = found.get((when, sector))
            observed, area = (r[4], r[5]) if r else (0.0, 0.0)
            seen = observed > 0
            out.append(
                SectorPass(when, date, sector, r[3] / 1e6 if seen else None, observed / 1e6,
                           observed / area if area else 0.0, r[3] / observed if seen else None)
            )  # fmt: skip
    _classify(out, sectors, baseline)
    return out


def _classify(passes: list[SectorPass], sectors: list[str], baseline: tuple[str, str] | None) -> None:
    for sector in sectors:
        mine = [p for p in passes if p.sector == sector]
        ref = [p.density for p in mine if p.density is not None and _in(p.date, baseline)]
        mean = sum(ref) / len(ref) if ref else None
        for p in mine:
            if p.density is None or mean is None:
                continue
            p.baseline_density = mean
            p.ratio = p.density / mean if mean > 0 else (math.inf if p.density > 0 else 0.0)
            p.risk = next(name for limit, name in RISK_THRESHOLDS if p.ratio < limit)


def _in(date: str, baseline: tuple[str, str] | None) -> bool:
    return baseline is None or baseline[0] <= date <= baseline[1]


def write_sector_csv(passes: list[SectorPass], path: Path) -> None:
    from sargasses.atomic import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(COLUMNS)
            for p in passes:
                out.writerow([_cell(getattr(p, c)) for c in COLUMNS])

    atomic_write(path, write)


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.9g}"
    return "" if value is None else value


def write_sector_plot(passes: list[SectorPass], sectors: list[str], path: Path) -> None:
    """Covered km2 per pass, one line per sector, risk classes as marker colours, gaps as grey bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    import numpy as np

    from sargasses.atomic import atomic_write

    colours = {"low": "tab:green", "medium": "tab:orange", "high": "tab:red"}
    fig, axes = plt.subplots(len(sectors), 1, figsize=(9, 1.8 + 1.6 * len(sectors)), sharex=True, squeeze=False)
    for ax, sector in zip(axes[:, 0], sectors, strict=True):
        mine = [p for p in passes if p.sector == sector]
        when = [np.datetime64(p.datetime.rstrip("Z")) for p in mine]
        values = [np.nan if p.covered_km2 is None else p.covered_km2 for p in mine]
        ax.plot(when, values, "-", color="0.4", lw=1)
        for t, v, p in zip(when, values, mine, strict=True):
            if p.covered_km2 is None:
                ax.axvspan(t - np.timedelta64(8, "h"), t + np.timedelta64(8, "h"), color="0.85", lw=0)
            else:
                ax.plot(t, v, "o", color=colours[p.risk], ms=6)
        ax.set_ylabel("covered km²")
        ax.set_title(sector, loc="left", fontsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=n) for n, c in colours.items()]
    handles.append(plt.Rectangle((0, 0), 1, 1, color="0.85", label=NOT_OBSERVED))
    axes[0, 0].legend(handles=handles, loc="upper left", fontsize=8, ncol=4)
    fig.autofmt_xdate()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


DAYS = (
    "SELECT date, COUNT(*), SUM(observed_km2), SUM(covered_km2) FROM scenes WHERE status IN ('done', 'skipped') "
    "GROUP BY date ORDER BY date"
)


def write_days_csv(db: sqlite3.Connection, path: Path) -> list[tuple]:
    """Covered km2 per day: the sum of that day's scenes (blank where nothing was seen)."""
    from sargasses.atomic import atomic_write

    rows = db.execute(DAYS).fetchall()

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            out = csv.writer(f)
            out.writerow(("date", "scenes", "observed_km2", "covered_km2"))
            for date, n, observed, covered in rows:
                seen = bool(observed)
                out.writerow((date, n, _cell(float(observed or 0)), _cell(float(covered)) if seen else ""))

    atomic_write(path, write)
    return rows
