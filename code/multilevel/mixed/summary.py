"""The text of :meth:`MixedModelResult.summary`, laid out like lme4's ``summary(fit)``."""

from __future__ import annotations

import pandas as pd


def _table(rows: list[list[str]], right: set[int] = frozenset()) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(row, widths))]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def summary_text(fit) -> str:
    """lme4's summary: the criterion, the random effects, the fixed effects."""
    if fit.family == "gaussian":
        title = "Linear mixed model fit by " + ("REML" if fit.REML else "maximum likelihood")
    else:
        how = "Laplace Approximation" if fit.nAGQ == 1 else \
            f"Adaptive Gauss-Hermite Quadrature (nAGQ = {fit.nAGQ})"
        link = "logit" if fit.family == "binomial" else "log"
        title = f"Generalized linear mixed model fit by maximum likelihood ({how})\n" \
                f" Family: {fit.family}  ( {link} )"
    lines = [title, f"Formula: {fit.formula}", ""]
    if fit.REML:
        lines.append(f"REML criterion at convergence: {fit.deviance:.1f}")
    else:
        lines.append(_table([["AIC", "BIC", "logLik", "deviance"],
                             [f"{fit.aic:.1f}", f"{fit.bic:.1f}", f"{fit.llf:.1f}",
                              f"{fit.deviance:.1f}"]], right={0, 1, 2, 3}))
    lines += ["", "Random effects:"]
    rows = [["Groups", "Name", "Variance", "Std.Dev.", "Corr"]]
    vc = fit.varcorr
    for grp, block in vc.groupby("grp", sort=False):
        variances = block[block["var2"].map(lambda v: not isinstance(v, str))]
        corr = block[block["var2"].map(lambda v: isinstance(v, str))]
        for k, (_, row) in enumerate(variances.iterrows()):
            partners = corr[corr["var2"] == row["var1"]]["sdcor"].tolist()
            rows.append([grp if k == 0 else "", row["var1"] if isinstance(row["var1"], str) else "", f"{row['vcov']:.4g}",
                         f"{row['sdcor']:.4g}", " ".join(f"{c:5.2f}" for c in partners)])
    lines.append(_table(rows, right={2, 3}))
    groups = ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    lines += [f"Number of obs: {fit.nobs}, groups:  {groups}", "", "Fixed effects:"]
    stat = "t value" if fit.family == "gaussian" else "z value"
    table = pd.DataFrame({"Estimate": fit.params, "Std. Error": fit.bse, stat: fit.tvalues})
    if fit.family != "gaussian":
        table["Pr(>|z|)"] = fit.pvalues
    rows = [[""] + list(table.columns)]
    for name, row in table.iterrows():
        cells = [f"{v:.3e}" if c == "Pr(>|z|)" else f"{v:.4g}" for c, v in row.items()]
        rows.append([name] + cells)
    lines.append(_table(rows, right=set(range(1, len(rows[0])))))
    if fit.is_singular:
        lines += ["", "boundary (singular) fit: a variance is estimated as 0 or a correlation as "
                  "+-1 (lme4's isSingular)"]
    if not fit.converged:
        lines += ["", "the optimiser did not converge: see fit.attempts"]
    return "\n".join(lines)


