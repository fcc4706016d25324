"""Every fit of every existing lme4 fixture through the engine's front doors (issue 9).

The fixtures the chapters' old fitters are held to (``tests/reference/lmer_foundation.json``,
``lmer_students.json``, ``lmer_schools.json``, ``lmer_levels.json``, ``glmer_reference.json``,
``glmer_cces.json``), each fit refitted with ``multilevel.lmer`` / ``multilevel.glmer`` on the
rows and columns its R script used, with the formula the script fitted.

Tolerances (the contract of issue 9):

- linear fits: fixed effects, standard errors, ``sigma`` and the variance components
  (``vcov``, ``sdcor`` of ``varcorr``) relative 1e-4 (absolute 1e-6 near zero); the
  log-likelihood within 1e-4 (or 1e-6 of its size); AIC and BIC of ML fits likewise;
  conditional modes and their SDs 1e-3 (relative or absolute);
- generalized fits: log-likelihood within 1e-3 of glmer's and never lower by more than 1e-6;
  for non-singular fits fixed effects, ``theta`` and the random-effect SDs and correlations
  1e-3 (relative or absolute); standard errors 1e-2 of glmer's ``vcov()`` and 1e-3 of the
  converged-PIRLS Hessian where the fixture has one (``glmer_reference``: ``converged_pirls``,
  against which the log-likelihood must agree to 1e-6 and the estimates to 1e-4, as
  tests/test_glmm.py holds the old fitter); conditional modes and SDs 2e-3 absolute.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import assert_close, reference, series
from fixture_rows import linear_rows, reference_csv

import multilevel
from multilevel import data

LINEAR_FIXTURES = ["lmer_foundation", "lmer_students", "lmer_schools", "lmer_levels"]
GLMER_FIXTURES = ["glmer_reference", "glmer_cces"]
LINEAR = [(f, n) for f in LINEAR_FIXTURES for n in reference(f)]
GENERALIZED = [(f, n) for f in GLMER_FIXTURES for n in reference(f)]


def ids(cases) -> list[str]:
    return [f"{fixture}:{name}" for fixture, name in cases]


@cache
def lmer_fit(fixture: str, name: str):
    ref = reference(fixture)[name]
    return multilevel.lmer(ref["formula"], linear_rows(fixture, name), REML=ref["reml"])


@cache
def cces(subset: str | None) -> pd.DataFrame:
    rows = data.cces2016_vote_income()
    return rows if subset is None else rows.query(subset)


@cache
def glmer_fit(fixture: str, name: str):
    ref = reference(fixture)[name]
    if fixture == "glmer_cces":
        return multilevel.glmer(ref["model"], cces(ref["subset"]), family="binomial")
    return multilevel.glmer(ref["formula"], reference_csv(ref["data"]), family="binomial",
                            nAGQ=ref["nAGQ"])




def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def our_varcorr(fit, rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Our (vcov, sdcor) at each of lme4's ``as.data.frame(VarCorr())`` rows."""
    ours = fit.varcorr
    assert len(ours) == len(rows), ours
    found = []
    for row in rows:
        same = ours["grp"] == row["grp"]
        if row["grp"] != "Residual":
            v1, v2 = row["var1"], row["var2"]
            plain = (ours["var1"] == v1) & (ours["var2"].isna() if v2 is None
                                           else ours["var2"] == v2)
            swapped = (ours["var1"] == v2) & (ours["var2"] == v1) if v2 else False
            same &= plain | swapped
        hit = ours[same]
        assert len(hit) == 1, f"lme4 row {row} matches {len(hit)} of ours:\n{ours}"
        found.append(hit[["vcov", "sdcor"]].to_numpy(float)[0])
    found = np.array(found)
    return found[:, 0], found[:, 1]


def compare_ranef(fit, factor: str, levels, terms, modes, cond_sd, rel, abs_) -> None:
    ours = fit.ranef(condvar=True)[factor].copy()
    ours.index = ours.index.astype(str)
    levels, terms = [str(v) for v in as_list(levels)], as_list(terms)
    assert set(ours.index) == set(levels), f"{factor}: levels differ"
    shape = (len(levels), len(terms))
    assert_close(ours.loc[levels, terms], np.reshape(np.asarray(modes, float), shape), rel, abs_,
                 f"{factor} conditional modes")
    assert_close(ours.loc[levels, [f"{t}_sd" for t in terms]],
                 np.reshape(np.asarray(cond_sd, float), shape), rel, abs_,
                 f"{factor} conditional SDs")


# ------------------------------------------------------------------ linear fixtures
@pytest.mark.parametrize("fixture, name", LINEAR, ids=ids(LINEAR))
def test_lmer_equals_the_fixture(fixture, name):
    ref, fit = reference(fixture)[name], lmer_fit(fixture, name)
    assert fit.nobs == ref["nobs"]
    assert dict(fit.ngroups) == ref["ngroups"]
    fixef = series(ref["fixef"])
    assert list(fit.params.index) == list(fixef.index), "fixed-effect names as lme4 prints them"
    assert_close(fit.params[fixef.index], fixef, 1e-4, 1e-6, "fixed effects")
    assert_close(fit.bse[fixef.index], series(ref["se"])[fixef.index], 1e-4, 1e-6, "SEs")
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    assert fit.llf == pytest.approx(ref["loglik"], abs=max(1e-4, 1e-6 * abs(ref["loglik"])))
    assert fit.df_model == ref["df"]
    if not ref["reml"]:
        assert fit.aic == pytest.approx(ref["aic"], abs=max(2e-4, 2e-6 * abs(ref["aic"])))
        assert fit.bic == pytest.approx(ref["bic"], abs=max(2e-4, 2e-6 * abs(ref["bic"])))
    assert fit.is_singular == ref["singular"]


@pytest.mark.parametrize("fixture, name", LINEAR, ids=ids(LINEAR))
def test_lmer_variance_components_equal_the_fixture(fixture, name):
    ref = reference(fixture)[name]
    rows = ref["varcorr"] if isinstance(ref["varcorr"], list) else [ref["varcorr"]]
    vcov, sdcor = our_varcorr(lmer_fit(fixture, name), rows)
    assert_close(vcov, [r["vcov"] for r in rows], 1e-4, 1e-6, "varcorr vcov")
    assert_close(sdcor, [r["sdcor"] for r in rows], 1e-4, 1e-6, "varcorr sdcor")


@pytest.mark.parametrize("fixture, name", LINEAR, ids=ids(LINEAR))
def test_lmer_conditional_modes_equal_the_fixture(fixture, name):
    fit = lmer_fit(fixture, name)
    for factor, r in reference(fixture)[name]["ranef"].items():
        compare_ranef(fit, factor, r["group"], r["terms"], r["mode"], r["cond_sd"], 1e-3, 1e-3)


# ------------------------------------------------------------------ generalized fixtures
@pytest.mark.parametrize("fixture, name", GENERALIZED, ids=ids(GENERALIZED))
def test_glmer_loglik_equals_the_fixture_and_is_never_lower(fixture, name):
    ref, fit = reference(fixture)[name], glmer_fit(fixture, name)
    assert fit.nobs == ref.get("nobs", ref.get("n_obs"))
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-3)
    assert fit.llf >= ref["loglik"] - 1e-6, f"lower than glmer by {ref['loglik'] - fit.llf:.3g}"
    assert fit.aic == pytest.approx(ref["aic"], abs=2e-3)
    assert fit.bic == pytest.approx(ref["bic"], abs=2e-3)
    assert fit.is_singular == ref["singular"]
    converged = ref.get("converged_pirls")
    if converged is not None:  # glmer refitted with tolPwrss = 1e-10
        assert fit.llf == pytest.approx(converged["loglik"], abs=1e-6)


def glmer_sds(fit) -> tuple[pd.Series, pd.DataFrame]:
    """Our random-effect SDs (by term) and correlation matrix of the one grouping factor."""
    vc = fit.varcorr
    sds = vc[vc["var2"].isna()].set_index("var1")["sdcor"]
    corr = pd.DataFrame(np.eye(len(sds)), index=sds.index, columns=sds.index)
    for _, row in vc[vc["var2"].notna()].iterrows():
        corr.loc[row["var1"], row["var2"]] = corr.loc[row["var2"], row["var1"]] = row["sdcor"]
    return sds, corr


@pytest.mark.parametrize("fixture, name", [c for c in GENERALIZED
                                           if not reference(c[0])[c[1]]["singular"]],
                         ids=ids([c for c in GENERALIZED if not reference(c[0])[c[1]]["singular"]]))
def test_glmer_estimates_equal_the_fixture(fixture, name):
    ref, fit = reference(fixture)[name], glmer_fit(fixture, name)
    fixef = series(ref["fixef"])
    assert list(fit.params.index) == list(fixef.index), "fixed-effect names as lme4 prints them"
    assert_close(fit.params[fixef.index], fixef, 1e-3, 1e-3, "fixed effects")
    sd_ref = series(ref["sd"])
    sds, corr = glmer_sds(fit)
    assert_close(sds[sd_ref.index], sd_ref, 1e-3, 1e-3, "random-effect SDs")
    assert_close(corr.loc[sd_ref.index, sd_ref.index],
                 np.reshape(ref["corr"], (len(sd_ref), len(sd_ref))), 1e-3, 1e-3, "correlations")
    assert_close(fit.theta, np.atleast_1d(ref["theta"]), 1e-3, 1e-3, "theta")
    assert_close(fit.bse[fixef.index], series(ref["se"])[fixef.index], 1e-2, 0, "SEs vs vcov()")
    converged = ref.get("converged_pirls")
    if converged is not None:
        assert "error" not in converged, converged
        assert_close(fit.bse[fixef.index], series(converged["se"])[fixef.index], 1e-3, 0,
                     "SEs vs the converged Hessian")
        assert_close(fit.params[fixef.index], series(converged["fixef"])[fixef.index], 1e-4,
                     1e-4, "fixed effects vs converged glmer")
        conv_sd = series(converged["sd"])
        assert_close(sds[conv_sd.index], conv_sd, 1e-4, 1e-4, "SDs vs converged glmer")


@pytest.mark.parametrize("fixture, name", [c for c in GENERALIZED
                                           if not reference(c[0])[c[1]]["singular"]],
                         ids=ids([c for c in GENERALIZED if not reference(c[0])[c[1]]["singular"]]))
def test_glmer_conditional_modes_equal_the_fixture(fixture, name):
    ref, fit = reference(fixture)[name], glmer_fit(fixture, name)
    if fixture == "glmer_reference":
        r = ref["ranef"]
        terms = as_list(r["terms"])
        condvar = np.reshape(np.asarray(r["condvar"], float), (-1, len(terms), len(terms)))
        cond_sd = np.sqrt(np.diagonal(condvar, axis1=1, axis2=2))
        compare_ranef(fit, ref["group"], r["levels"], terms, r["modes"], cond_sd, 0, 2e-3)
    else:
        for factor, r in ref["ranef"].items():
            compare_ranef(fit, factor, r["group"], r["terms"], r["mode"], r["cond_sd"], 0, 2e-3)
