"""Write the data sets the R reference scripts need as CSV files.

R reads exactly the rows Python fits: the loaders in ``multilevel.data`` are the
single source. Run from the repository root before the R scripts (``make fixtures``
does both).
"""

from pathlib import Path

from multilevel import data, simulate

OUT = Path(__file__).resolve().parent / "data"

EXPORTS = {
    "hsb82": data.load_hsb,
    "star_kindergarten": data.load_star_kindergarten,
    "scots_secondary": data.load_scots_secondary,
    "wage_panel": data.load_wage_panel,
    "cces2016_vote_income": data.cces2016_vote_income,
    # A student variance near zero: optimisers started far away tend to stop on the boundary.
    "students_tiny_variance": lambda: simulate.simulate_students(sigma_aptitude=0.0, seed=3),
    # lme4's and mlmRev's own data sets for the engine fixtures (lmer_engine.R, glmer_engine.R).
    "sleepstudy": lambda: data._rdataset("lme4", "sleepstudy"),
    "pastes": lambda: data._rdataset("lme4", "Pastes"),
    "penicillin": lambda: data._rdataset("lme4", "Penicillin"),
    "cbpp": lambda: data._rdataset("lme4", "cbpp"),
    "insteval": lambda: data._rdataset("lme4", "InstEval")[["s", "d", "dept", "service", "y"]],
    "mmmec": lambda: data._rdataset("mlmRev", "Mmmec"),
    "grouseticks": lambda: data._rdataset("lme4", "grouseticks"),
}

if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, loader in EXPORTS.items():
        loader().to_csv(OUT / f"{name}.csv", index=False)
        print(f"wrote {OUT / name}.csv")
