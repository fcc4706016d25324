"""Three nested levels and crossed classifications: every fit against lme4, and the chapter's glue.

The fixtures come from ``tests/reference/lmer_levels.R`` (lmer with ``(1 | sch) + (1 | tch)``
on STAR kindergarten and ``(1 | primary) + (1 | second)`` on ScotsSec).
"""

from functools import cache

import numpy as np
import pandas as pd
import pytest
from conftest import glued, reference

from multilevel import MultilevelInputError, data, models, plots
from multilevel.simulate import simulate_students

# lme4's names for the fixed effects -> the 0/1 columns the chapter builds.
TERMS = {"(Intercept)": "Intercept", "cltypesmall": "small", "cltypereg+A": "aide",
         "schtypesuburb": "suburb", "schtyperural": "rural", "schtypeurban": "urban",
         "verbal": "verbal", "sexM": "male"}


@cache
def star() -> pd.DataFrame:
    df = data.load_star_kindergarten()
    df["small"] = (df["cltype"] == "small").astype(float)
    df["aide"] = (df["cltype"] == "reg+A").astype(float)
    for kind in ["suburb", "rural", "urban"]:
        df[kind] = (df["schtype"] == kind).astype(float)
    return df


@cache
def scots() -> pd.DataFrame:
    df = data.load_scots_secondary()
    df["male"] = (df["sex"] == "M").astype(float)
    return df


def levels_fit(name: str) -> dict:
    return reference("lmer_levels")[name]


def lmer_variances(ref: dict) -> dict[str, float]:
    """Variance of each grouping factor's intercept, and the residual variance."""
    return {row["grp"]: row["vcov"] for row in ref["varcorr"]}


def model_spec(name: str) -> tuple[pd.DataFrame, str, list[str], list[str]]:
    """Data, response, covariates and factors of a fixture, read from its lmer formula."""
    ref = levels_fit(name)
    frame = star() if name.startswith("star") else scots()
    response = ref["formula"].split("~")[0].strip()
    covariates = [TERMS[t] for t in ref["fixef"] if t != "(Intercept)"]
    factors = list(ref["ngroups"])
    return frame, response, covariates, factors


EXACT_FITS = [
    "star_empty_reml", "star_cltype_reml", "star_cltype_ml", "star_schtype_reml",
    "star_cltype_school_reml", "star_cltype_class_reml", "scots_empty_reml",
    "scots_crossed_reml", "scots_crossed_ml", "scots_second_reml", "scots_primary_reml",
]


@pytest.mark.parametrize("name", EXACT_FITS)
def test_fit_variance_components_equals_lmer(name):
    ref = levels_fit(name)
    frame, response, covariates, factors = model_spec(name)
    fit = models.fit_variance_components(frame, response, covariates, factors, reml=ref["reml"])
    assert fit.nobs == ref["nobs"]
    assert fit.n_units == ref["ngroups"]
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-5)
    for term, value in ref["fixef"].items():
        assert fit.params[TERMS[term]] == pytest.approx(value, rel=1e-4, abs=1e-6)
        assert fit.bse[TERMS[term]] == pytest.approx(ref["se"][term], rel=1e-4)
    for group, variance in lmer_variances(ref).items():
        assert fit.variances[group] == pytest.approx(variance, rel=1e-3)
    for factor, modes in ref["ranef"].items():
        expected = np.asarray(modes["mode"], dtype=float).ravel()
        ours = fit.effects[factor]
        ours.index = ours.index.astype(str)
        assert set(ours.index) == set(modes["group"])
        predicted = ours.loc[modes["group"]]  # lme4's order of the units
        scale = np.sqrt(lmer_variances(ref)[factor])
        np.testing.assert_allclose(predicted.to_numpy(), expected, atol=1e-3 * scale)


def test_three_level_mixedlm_as_in_the_chapter_equals_lmer():
    ref = levels_fit("star_cltype_reml")
    fit = models.fit_mixed(star(), "math ~ small + aide", group="sch", re_formula="1",
                           vc_formula={"class": "0 + C(tch)"}, methods=("powell",))
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    for term, value in ref["fixef"].items():
        assert fit.params[TERMS[term]] == pytest.approx(value, rel=1e-3)
        assert fit.bse[TERMS[term]] == pytest.approx(ref["se"][term], rel=1e-3)
    shares = models.variance_shares(fit, names={"Group": "sch", "class": "tch"})
    for group, variance in lmer_variances(ref).items():
        assert shares.loc[group, "variance"] == pytest.approx(variance, rel=1e-3)


def test_crossed_mixedlm_equals_lmer():
    ref = levels_fit("scots_crossed_reml")
    fit = models.fit_crossed(scots(), "attain ~ verbal + male", ["primary", "second"])
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    for term, value in ref["fixef"].items():
        assert fit.params[TERMS[term]] == pytest.approx(value, rel=1e-3)
        assert fit.bse[TERMS[term]] == pytest.approx(ref["se"][term], rel=1e-3)
    variances = models.variance_shares(fit)["variance"]
    for group, variance in lmer_variances(ref).items():
        assert variances[group] == pytest.approx(variance, rel=1e-3)
    assert fit.attempts.loc["powell", "converged"]


@pytest.mark.parametrize("reml", [True, False])
def test_one_factor_equals_the_fast_random_intercept_fit(reml):
    df = simulate_students(seed=3)
    several = models.fit_variance_components(df, "score", "hours", ["student"], reml=reml)
    one = models.fit_random_intercept(df, "score", "hours", "student", reml=reml)
    assert several.loglik == pytest.approx(one.loglik, abs=1e-7)
    assert several.params["hours"] == pytest.approx(one.params["hours"], rel=1e-6)
    assert several.variances["student"] == pytest.approx(one.sigma_group**2, rel=1e-5)
    np.testing.assert_allclose(several.effects["student"], one.group_effects, atol=1e-5)


def test_factor_order_does_not_matter():
    df = scots()
    forward = models.fit_variance_components(df, "attain", "verbal", ["primary", "second"])
    backward = models.fit_variance_components(df, "attain", "verbal", ["second", "primary"])
    assert forward.loglik == pytest.approx(backward.loglik, abs=1e-7)
    assert forward.variances["second"] == pytest.approx(backward.variances["second"], rel=1e-4)
    assert list(backward.variances.index) == ["second", "primary", "Residual"]


def test_variance_shares_equal_the_hand_formula_for_each_fitter():
    fit = models.fit_variance_components(star(), "math", None, ["sch", "tch"])
    table = models.variance_shares(fit, names={"sch": "school", "tch": "class"})
    assert list(table.index) == ["school", "class", "Residual"]
    assert table["share"].sum() == pytest.approx(1.0)
    total = fit.variances.sum()
    assert table.loc["school", "share"] == pytest.approx(fit.variances["sch"] / total)
    assert table.loc["class", "sd"] == pytest.approx(np.sqrt(fit.variances["tch"]))
    pd.testing.assert_series_equal(fit.shares, fit.variances / total)
    one = models.fit_random_intercept(simulate_students(seed=3), "score", "hours", "student")
    shares = models.variance_shares(one)
    assert shares.loc["student", "share"] == pytest.approx(one.icc)


def test_variance_shares_refuse_random_slopes_and_other_objects():
    slopes = models.fit_mixed(simulate_students(n_students=20, seed=3), "score ~ hours",
                              group="student", re_formula="~hours", methods=("powell",))
    with pytest.raises(MultilevelInputError, match="random slopes"):
        models.variance_shares(slopes)
    with pytest.raises(MultilevelInputError, match="must come from"):
        models.variance_shares(models.fit_ols(star(), "math", "small"))


def test_fit_variance_components_rejects_bad_input():
    df = star()
    with pytest.raises(MultilevelInputError, match="at least one grouping column"):
        models.fit_variance_components(df, "math", "small", [])
    with pytest.raises(MultilevelInputError, match="names a column twice"):
        models.fit_variance_components(df, "math", "small", ["sch", "sch"])
    with pytest.raises(MultilevelInputError, match="not found"):
        models.fit_variance_components(df, "math", "small", ["district"])
    with pytest.raises(MultilevelInputError, match="collinear"):
        models.fit_variance_components(df.assign(big=2 * df["small"]), "math",
                                       ["small", "big"], ["sch"])
    gappy = df.assign(sch=df["sch"].where(df.index > 0))
    with pytest.raises(MultilevelInputError, match="missing values"):
        models.fit_variance_components(gappy, "math", "small", ["sch"])
    with pytest.raises(MultilevelInputError, match="at least 2 groups"):
        models.fit_variance_components(df.assign(one=1), "math", "small", ["one"])


def test_fit_crossed_rejects_bad_input():
    df = scots()
    with pytest.raises(MultilevelInputError, match="not a valid Python name"):
        models.fit_crossed(df.rename(columns={"second": "second school"}), "attain ~ verbal",
                           ["second school"])
    with pytest.raises(MultilevelInputError, match="at least one optimiser"):
        models.fit_crossed(df, "attain ~ verbal", ["second"], methods=())
    with pytest.raises(MultilevelInputError, match="at least one grouping column"):
        models.fit_crossed(df, "attain ~ verbal", [])


def test_star_kindergarten_is_nested_three_levels():
    df = data.load_star_kindergarten()
    assert df["math"].notna().all() and df["id"].is_unique
    assert data.is_nested(df, "tch", "sch")
    assert len(df) == levels_fit("star_empty_reml")["nobs"]


def test_classification_links_draws_one_line_per_shared_cell():
    nested = pd.DataFrame({"cls": [1, 1, 2, 3, 3, 4], "school": list("aaabbb")})
    ax = plots.classification_links(nested, "cls", "school")
    assert len(ax.lines) == 4  # each class has one school
    crossed = pd.DataFrame({"primary": list("aabbc"), "second": list("xyxyy")})
    ax = plots.classification_links(crossed, "primary", "second", upper_units=["x"])
    assert len(ax.lines) == 2  # only links to the secondary school shown
    widths = [line.get_linewidth() for line in
              plots.classification_links(crossed.iloc[[0, 0, 1, 2]], "primary", "second").lines]
    assert max(widths) > min(widths)
    with pytest.raises(MultilevelInputError, match="has no unit"):
        plots.classification_links(crossed, "primary", "second", upper_units=["z"])


# --- the chapter's glued numbers ---------------------------------------------------------

def lmer_shares(name: str) -> dict[str, float]:
    variances = lmer_variances(levels_fit(name))
    total = sum(variances.values())
    return {group: 100 * value / total for group, value in variances.items()}


@pytest.mark.book
def test_chapter_glues_one_share_per_level():
    values = glued("chapters/levels-and-crossed")
    star_shares = lmer_shares("star_empty_reml")
    assert values["star_share_school"] == pytest.approx(star_shares["sch"], rel=1e-3)
    assert values["star_share_class"] == pytest.approx(star_shares["tch"], rel=1e-3)
    assert values["star_share_pupil"] == pytest.approx(star_shares["Residual"], rel=1e-3)
    crossed = lmer_shares("scots_empty_reml")
    assert values["crossed_share_primary"] == pytest.approx(crossed["primary"], rel=1e-3)
    assert values["crossed_share_secondary"] == pytest.approx(crossed["second"], rel=1e-3)
    assert values["crossed_share_pupil"] == pytest.approx(crossed["Residual"], rel=1e-3)
    for prefix in ("star_share_", "crossed_share_"):
        parts = [v for k, v in values.items() if k.startswith(prefix)]
        assert len(parts) == 3 and sum(parts) == pytest.approx(100)
    adjusted = lmer_shares("scots_crossed_reml")
    assert values["crossed_adj_share_primary"] == pytest.approx(adjusted["primary"], rel=1e-3)
    assert values["crossed_adj_share_secondary"] == pytest.approx(adjusted["second"], rel=1e-3)


@pytest.mark.book
def test_chapter_standard_errors_equal_lmer_and_tell_the_story():
    values = glued("chapters/levels-and-crossed")
    small = "cltypesmall"
    assert values["se_three_level"] == pytest.approx(levels_fit("star_cltype_reml")["se"][small],
                                                     rel=1e-3)
    assert values["se_schools_only"] == pytest.approx(
        levels_fit("star_cltype_school_reml")["se"][small], rel=1e-3)
    assert values["se_classes_only"] == pytest.approx(
        levels_fit("star_cltype_class_reml")["se"][small], rel=1e-3)
    assert values["star_small"] == pytest.approx(levels_fit("star_cltype_reml")["fixef"][small],
                                                 rel=1e-3)
    # Ignoring classes understates the uncertainty; ignoring schools overstates it here.
    assert values["se_ols"] < values["se_three_level"] < values["se_classes_only"]
    assert values["se_schools_only"] < values["se_three_level"] < values["se_cr_class"]
    assert values["se_cr_school"] == pytest.approx(values["se_three_level"], rel=0.15)
    assert values["classes_only_lower"] < 0 < values["star_small"] - 1.96 * values["se_three_level"]
    # MixedLM and the exact fitter agree; ignoring primaries inflates the secondary variance.
    assert values["star_loglik_gap"] < 1e-3 and values["crossed_loglik_gap"] < 1e-3
    assert values["secondary_inflation"] > 2 and values["secondary_inflation_empty"] > 1
    assert values["star_pupils"] == 5871 and values["star_classes"] == 337
    assert values["star_schools"] == 79 and values["scots_pupils"] == 3435
    lr = 2 * (levels_fit("star_cltype_reml")["loglik"]
              - levels_fit("star_cltype_school_reml")["loglik"])
    assert values["ex_lr_statistic"] == pytest.approx(lr, abs=1e-3)
