"""Three nested levels and crossed classifications: what the chapter relies on, and its glue.

The fixtures come from ``tests/reference/lmer_levels.R`` (lmer with ``(1 | sch) + (1 | tch)``
on STAR kindergarten and ``(1 | primary) + (1 | second)`` on ScotsSec); every fixture
against ``multilevel.lmer`` is in ``tests/test_mixed_fixtures.py``.
"""

from functools import cache

import pandas as pd
import pytest
from conftest import glued, reference

import statsmodels.formula.api as smf

import multilevel
from multilevel import MultilevelInputError, data, plots

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


def test_nested_terms_are_one_model_however_written():
    """(1 | sch/tch) = (1 | sch) + (1 | sch:tch) = lme4's (1 | sch) + (1 | tch) here."""
    ref = levels_fit("star_cltype_reml")
    fits = [multilevel.lmer(f"math ~ small + aide + {random}", star()) for random in
            ("(1 | sch/tch)", "(1 | sch) + (1 | sch:tch)", "(1 | sch) + (1 | tch)")]
    for fit in fits:
        assert fit.llf == pytest.approx(ref["loglik"], abs=1e-5)
        assert fit.params["small"] == pytest.approx(ref["fixef"]["cltypesmall"], rel=1e-4)
        variances = fit.varcorr.set_index("grp")["vcov"]
        assert variances.iloc[0] == pytest.approx(lmer_variances(ref)["tch"], rel=1e-3)
        assert variances["sch"] == pytest.approx(lmer_variances(ref)["sch"], rel=1e-3)
    assert list(fits[1].varcorr["grp"]) == ["sch:tch", "sch", "Residual"]
    assert fits[1].ngroups == {"sch:tch": 337, "sch": 79}


def test_three_level_mixedlm_as_in_the_chapter_equals_lmer():
    ref = levels_fit("star_cltype_reml")
    fit = smf.mixedlm("math ~ small + aide", star(), groups="sch", re_formula="1",
                      vc_formula={"class": "0 + C(tch)"}).fit(reml=True, method=["powell"])
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-3)
    for term, value in ref["fixef"].items():
        assert fit.fe_params[TERMS[term]] == pytest.approx(value, rel=1e-3)
        assert fit.bse_fe[TERMS[term]] == pytest.approx(ref["se"][term], rel=1e-3)
    assert fit.cov_re.iloc[0, 0] == pytest.approx(lmer_variances(ref)["sch"], rel=1e-3)
    assert fit.vcomp[0] == pytest.approx(lmer_variances(ref)["tch"], rel=1e-3)
    assert fit.scale == pytest.approx(lmer_variances(ref)["Residual"], rel=1e-3)


def test_crossed_factor_order_does_not_matter():
    forward = multilevel.lmer("attain ~ verbal + (1 | primary) + (1 | second)", scots())
    backward = multilevel.lmer("attain ~ verbal + (1 | second) + (1 | primary)", scots())
    assert forward.llf == pytest.approx(backward.llf, abs=1e-7)
    pd.testing.assert_frame_equal(forward.varcorr, backward.varcorr, rtol=1e-4)
    # lme4's order: the factor with more levels first.
    assert list(backward.varcorr["grp"]) == ["primary", "second", "Residual"]


def test_crossed_secondary_effects_are_shrunk_by_the_primaries():
    """The exercise's claim: crossed secondary effects vary less than secondary-only ones."""
    crossed = multilevel.lmer("attain ~ verbal + male + (1 | primary) + (1 | second)", scots())
    alone = multilevel.lmer("attain ~ verbal + male + (1 | second)", scots())
    a, b = crossed.ranef()["second"]["(Intercept)"], alone.ranef()["second"]["(Intercept)"]
    assert a.index.equals(b.index) and len(a) == 19
    assert a.std() < 0.5 * b.std()
    ref = levels_fit("scots_crossed_reml")
    assert crossed.llf == pytest.approx(ref["loglik"], abs=1e-5)


def test_level_lr_test_is_a_boundary_test():
    two = multilevel.lmer("math ~ small + aide + (1 | sch)", star())
    three = multilevel.lmer("math ~ small + aide + (1 | sch) + (1 | sch:tch)", star())
    row = multilevel.lrtest(two, three).iloc[1]
    assert row["Df"] == 1 and not row["refitted_ML"]
    assert row["Pr(>Chisq) boundary"] == pytest.approx(0.5 * row["Pr(>Chisq)"], rel=1e-6)


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
    # MixedLM and lmer agree; ignoring primaries inflates the secondary variance.
    assert values["star_loglik_gap"] < 1e-3
    assert values["secondary_inflation"] > 2 and values["secondary_inflation_empty"] > 1
    assert values["star_pupils"] == 5871 and values["star_classes"] == 337
    assert values["star_schools"] == 79 and values["scots_pupils"] == 3435
    lr = 2 * (levels_fit("star_cltype_reml")["loglik"]
              - levels_fit("star_cltype_school_reml")["loglik"])
    assert values["ex_lr_statistic"] == pytest.approx(lr, abs=1e-3)
