"""Fixed effects: dummies equal the within estimator, clear errors, Kansas, the FE logit.

The chapter takes its linear fixed effects from linearmodels' PanelOLS (the within
estimator), its dummies from pandas.get_dummies and its least squares from statsmodels;
these tests check what it relies on them for.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from linearmodels.panel import PanelOLS
from linearmodels.panel.utility import AbsorbingEffectError

from multilevel import MultilevelInputError, data, models, plots, simulate


def _panel(n_groups=40, per_group=6, seed=3):
    rng = np.random.default_rng(seed)
    group = np.repeat([f"g{i:02d}" for i in range(n_groups)], per_group)
    effect = np.repeat(rng.normal(size=n_groups), per_group)
    x1 = effect + rng.normal(size=group.size)
    x2 = rng.normal(size=group.size)
    y = 2 * effect + 0.5 * x1 - 0.3 * x2 + rng.normal(size=group.size)
    return pd.DataFrame({"group": group, "x1": x1, "x2": x2, "y": y})


def within(frame, response, covariates, group):
    """PanelOLS with entity effects, as the chapter fits it."""
    indexed = frame.assign(_row=frame.groupby(group).cumcount()).set_index([group, "_row"])
    return PanelOLS(indexed[response], indexed[covariates], entity_effects=True).fit()


def with_dummies(frame, response, covariates, group):
    design = frame[covariates].join(pd.get_dummies(frame[group], dtype=float))
    return sm.OLS(frame[response], design).fit()


# --- linear fixed effects -------------------------------------------------------------


@pytest.mark.parametrize("frame, response, covariates, group", [
    (data.load_csv("kansas_counties"), "rep_share", ["income"], "state"),
    (_panel(), "y", ["x1", "x2"], "group"),
])
def test_dummy_estimate_equals_within_estimate(frame, response, covariates, group):
    fe = within(frame, response, covariates, group)
    dummies = with_dummies(frame, response, covariates, group)
    np.testing.assert_allclose(fe.params, dummies.params[covariates], rtol=0, atol=1e-10)
    np.testing.assert_allclose(fe.std_errors, dummies.bse[covariates], rtol=1e-10)
    # The chapter's intercepts: alpha_i = mean(y_i) - mean(x_i)' beta.
    means = frame.groupby(group)[[response] + covariates].mean()
    intercepts = means[response] - means[covariates] @ fe.params
    np.testing.assert_allclose(intercepts, dummies.params.drop(covariates), rtol=0, atol=1e-10)
    expected_df = len(frame) - len(covariates) - frame[group].nunique()
    assert fe.df_resid == int(dummies.df_resid) == expected_df


def test_within_slope_equals_the_demeaning_formula():
    df = _panel()
    dx = df["x1"] - df.groupby("group")["x1"].transform("mean")
    dy = df["y"] - df.groupby("group")["y"].transform("mean")
    by_hand = float((dx * dy).sum() / (dx**2).sum())
    assert within(df, "y", ["x1"], "group").params["x1"] == pytest.approx(by_hand, rel=1e-12)


def test_get_dummies_gives_one_column_per_group_in_sorted_order():
    kansas = data.load_csv("kansas_counties")
    dummies = pd.get_dummies(kansas["state"], dtype=int)
    assert dummies.shape == (225, 15) and dummies.sum(axis=1).eq(1).all()
    assert list(dummies.columns) == sorted(kansas["state"].unique())
    shuffled = kansas.sample(frac=1, random_state=1)
    assert list(pd.get_dummies(shuffled["state"]).columns) == sorted(kansas["state"].unique())


def test_group_invariant_covariate_error_names_the_column():
    counties = simulate.simulate_kansas(seed=13)
    with pytest.raises(AbsorbingEffectError, match="culture"):
        within(counties, "rep_share", ["income", "culture"], "state")


def test_kansas_pooled_slope_is_negative_and_fixed_effects_recover_the_truth():
    kansas = data.load_csv("kansas_counties")
    pooled = smf.ols("rep_share ~ income", kansas).fit().params["income"]
    fe = within(kansas, "rep_share", ["income"], "state")
    assert pooled < 0 < fe.params["income"]
    assert abs(fe.params["income"] - 0.75) < 3 * fe.std_errors["income"]
    counties = simulate.simulate_kansas(seed=13)
    np.testing.assert_array_equal(counties["income"], kansas["income"])
    controlled = smf.ols("rep_share ~ income + culture", counties).fit()
    assert abs(controlled.params["income"] - 0.75) < 3 * controlled.bse["income"]
    assert abs(controlled.params["culture"] + 3) < 3 * controlled.bse["culture"]


def test_kansas_pooled_slope_matches_the_omitted_variable_formula_on_average():
    # Population pooled slope: 0.75 - 3 Var(m) / (Var(m) + 0.2^2), Var(m) = 1.4^2 / 12.
    var_m = 1.4**2 / 12
    population = 0.75 - 3 * var_m / (var_m + 0.04)
    big = simulate.simulate_kansas(n_states=3000, n_counties=15, seed=21)
    assert smf.ols("rep_share ~ income", big).fit().params["income"] == pytest.approx(
        population, abs=0.05)


def test_panelols_variance_divides_by_n_minus_k_minus_groups():
    """The Neyman-Scott exercise: PanelOLS's s2 is RSS / (n - k - G), unbiased with T = 2."""
    pairs = simulate.simulate_kansas(n_states=1000, n_counties=2, seed=48)
    fe = within(pairs, "rep_share", ["income"], "state")
    assert fe.df_resid == 2000 - 1 - 1000
    assert fe.s2 == pytest.approx(fe.resid_ss / fe.df_resid, rel=1e-12)
    assert fe.resid_ss / fe.nobs == pytest.approx(0.005, rel=0.15)  # ML: half the truth


# --- fixed-effects logit --------------------------------------------------------------


def _statsmodels_dummy_logit(df, response, covariates, group):
    design = df[covariates].join(pd.get_dummies(df[group], dtype=float)).astype(float)
    return sm.Logit(df[response].to_numpy(), design).fit(disp=0, method="newton", tol=1e-12,
                                                          maxiter=100)


def test_fe_logit_equals_statsmodels_logit_with_dummies():
    df = simulate.simulate_fe_logit(n_groups=30, group_size=8, slope=0.8, seed=3)
    df["z"] = np.random.default_rng(5).normal(size=len(df))
    fit = models.fit_fe_logit(df, "y", ["x", "z"], "group")
    sizes = df.groupby("group")["y"].agg(["sum", "size"])
    constant = sizes.index[(sizes["sum"] == 0) | (sizes["sum"] == sizes["size"])]
    assert len(constant) > 0 and list(fit.dropped_groups) == list(constant)
    kept = df[~df["group"].isin(constant)]
    reference = _statsmodels_dummy_logit(kept, "y", ["x", "z"], "group")
    np.testing.assert_allclose(fit.params, reference.params[["x", "z"]], rtol=1e-8)
    np.testing.assert_allclose(fit.bse, reference.bse[["x", "z"]], rtol=1e-7)
    np.testing.assert_allclose(fit.group_effects.to_numpy(), reference.params.to_numpy()[2:],
                               rtol=1e-7, atol=1e-8)
    assert fit.loglik == pytest.approx(reference.llf, rel=1e-10)
    assert fit.nobs == len(kept) and fit.n_groups == kept["group"].nunique()


def test_fe_logit_with_two_per_group_is_twice_conditional_logit_and_twice_the_truth():
    df = simulate.simulate_fe_logit(n_groups=20_000, group_size=2, slope=1.0, seed=4)
    fit = models.fit_fe_logit(df, "y", "x", "group")
    # Known result (Andersen 1970; Chamberlain 1980): the slope converges to 2 * beta.
    assert fit.params["x"] == pytest.approx(2.0, abs=0.1)
    # Abrevaya (1997): exactly twice the conditional-logit estimate, which with T = 2 is a
    # logit of the second outcome on the difference in x, no intercept, in mixed pairs.
    kept = df[~df["group"].isin(fit.dropped_groups)]
    first, second = kept.iloc[0::2], kept.iloc[1::2]
    diff = second["x"].to_numpy() - first["x"].to_numpy()
    conditional = sm.Logit(second["y"].to_numpy(), diff[:, None]).fit(disp=0, tol=1e-12)
    assert fit.params["x"] == pytest.approx(2 * conditional.params[0], rel=1e-8)


def test_fe_logit_bias_fades_with_larger_groups():
    df = simulate.simulate_fe_logit(n_groups=600, group_size=40, slope=1.0, seed=6)
    fit = models.fit_fe_logit(df, "y", "x", "group")
    assert fit.params["x"] == pytest.approx(1.0, abs=0.1)
    assert fit.params["x"] - 1.0 < 0.5 * (
        models.fit_fe_logit(simulate.simulate_fe_logit(600, 5, seed=6), "y", "x", "group")
        .params["x"] - 1.0)


def test_fe_logit_no_warnings_and_separation_is_reported():
    df = simulate.simulate_fe_logit(n_groups=50, group_size=6, slope=1.0, seed=7)
    df["x"] *= 50.0  # large linear predictors must not overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.fit_fe_logit(df, "y", "x", "group")
    separated = df.copy()
    median = separated.groupby("group")["x"].transform("median")
    separated["y"] = (separated["x"] > median).astype(int)
    with pytest.raises(RuntimeError, match="separate"):
        models.fit_fe_logit(separated, "y", "x", "group")


def test_fe_logit_bad_inputs_get_clear_errors():
    df = simulate.simulate_fe_logit(n_groups=20, group_size=5, seed=8)
    with pytest.raises(MultilevelInputError, match=r"column\(s\) \['nope'\] not found"):
        models.fit_fe_logit(df, "y", "nope", "group")
    with_nan = df.copy()
    with_nan.loc[3, "x"] = np.nan
    with pytest.raises(MultilevelInputError, match="missing values"):
        models.fit_fe_logit(with_nan, "y", "x", "group")
    with pytest.raises(MultilevelInputError, match="needs at least 2 groups"):
        models.fit_fe_logit(df.assign(group=1), "y", "x", "group")
    with pytest.raises(MultilevelInputError, match="must be binary"):
        models.fit_fe_logit(df.assign(y=df["y"] * 2), "y", "x", "group")
    with pytest.raises(MultilevelInputError, match="'w' does not vary within any"):
        models.fit_fe_logit(df.assign(w=df["group"] % 3), "y", ["x", "w"], "group")
    with pytest.raises(MultilevelInputError, match="only 0s or only 1s"):
        models.fit_fe_logit(df.assign(y=(df["group"] % 2)), "y", "x", "group")
    with pytest.raises(MultilevelInputError, match="collinear"):
        models.fit_fe_logit(df.assign(x2=2 * df["x"]), "y", ["x", "x2"], "group")
    with pytest.raises(MultilevelInputError, match="at least one covariate"):
        models.fit_fe_logit(df, "y", [], "group")


# --- simulators and plot used by the chapters -----------------------------------------


def test_simulate_fe_logit_is_seeded_and_validated():
    a = simulate.simulate_fe_logit(n_groups=10, group_size=3, seed=1)
    pd.testing.assert_frame_equal(a, simulate.simulate_fe_logit(n_groups=10, group_size=3, seed=1))
    assert list(a.columns) == ["group", "x", "y", "alpha"] and a.shape == (30, 4)
    assert set(a["y"]) <= {0, 1} and a.groupby("group")["alpha"].nunique().eq(1).all()
    with pytest.raises(MultilevelInputError, match="group_size"):
        simulate.simulate_fe_logit(group_size=0)
    with pytest.raises(MultilevelInputError, match="slope"):
        simulate.simulate_fe_logit(slope=np.nan)


def test_simulate_varying_intercepts_design():
    df = simulate.simulate_varying_intercepts(n_groups=300, min_size=2, max_size=40, seed=2)
    sizes = df.groupby("group").size()
    assert sizes.min() == 2 and sizes.max() == 40
    per_group = df.groupby("group")[["w", "alpha"]].first()
    # alpha = 0.8 w + u with u ~ N(0, 0.5^2)
    slope, _ = np.polyfit(per_group["w"], per_group["alpha"], 1)
    assert slope == pytest.approx(0.8, abs=0.1)
    assert np.std(per_group["alpha"] - 0.8 * per_group["w"]) == pytest.approx(0.5, abs=0.07)
    fit = within(df, "y", ["x"], "group")
    assert fit.params["x"] == pytest.approx(0.5, abs=4 * fit.std_errors["x"])
    with pytest.raises(MultilevelInputError, match="max_size"):
        simulate.simulate_varying_intercepts(min_size=5, max_size=3)


def test_group_lines_draws_one_line_per_group_and_checks_labels():
    kansas = data.load_csv("kansas_counties")
    fit = with_dummies(kansas, "rep_share", ["income"], "state")
    intercepts = fit.params.drop("income")
    ax = plots.group_lines(kansas, "income", "state", intercepts, fit.params["income"])
    assert len(ax.lines) == 15
    with pytest.raises(MultilevelInputError, match="no value for group"):
        plots.group_lines(kansas, "income", "state", intercepts.iloc[:3], 0.5)


# --- the older helper, still used by correlated-effects.md (it goes with it; issue 9) ------

