"""Write the real data sets the R reference scripts need as CSV files.

R reads exactly the rows Python fits: the loaders in ``multilevel.data`` are the
single source. Run from the repository root before the R scripts (``make fixtures``
does both).
"""

from pathlib import Path

from multilevel import data

OUT = Path(__file__).resolve().parent / "data"

EXPORTS = {
    "hsb82": data.load_hsb,
}

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, loader in EXPORTS.items():
        loader().to_csv(OUT / f"{name}.csv", index=False)
        print(f"wrote {OUT / name}.csv")
