"""What grouping does to least squares: the intraclass correlation and the design effect.

(Least squares itself, with naive or cluster-robust standard errors, comes from
statsmodels: ``smf.ols(...).fit(cov_type="cluster", cov_kwds={"groups": ...})``.)
"""

from __future__ import annotations

import numpy as np

from multilevel._checks import MultilevelInputError


def icc(sigma_group: float, sigma_residual: float) -> float:
    """Intraclass correlation: the share of the error *variance* that lies between groups.

    ``icc = sigma_group**2 / (sigma_group**2 + sigma_residual**2)``. It is also the
    correlation between two observations from the same group.

    Examples
    --------
    >>> round(icc(0.7, 0.2), 4)
    0.9245
    """
    for name, value in (("sigma_group", sigma_group), ("sigma_residual", sigma_residual)):
        if not np.isfinite(value) or value < 0:
            raise MultilevelInputError(f"`{name}` must be a finite standard deviation >= 0.")
    total = sigma_group**2 + sigma_residual**2
    if total == 0:
        raise MultilevelInputError("both standard deviations are 0: the ICC is undefined.")
    return float(sigma_group**2 / total)


def design_effect(group_size: float, icc_value: float) -> float:
    """Kish's design effect ``1 + (m - 1) * icc`` for groups of size ``m``.

    The factor by which clustering inflates the variance of a mean (or of the
    slope of a group-level covariate) relative to independent observations.
    Its square root is how much naive standard errors are too small.

    Examples
    --------
    >>> round(design_effect(20, 0.1), 6)
    2.9
    """
    if not np.isfinite(group_size) or group_size < 1:
        raise MultilevelInputError(f"`group_size` must be >= 1, got {group_size!r}.")
    if not 0 <= icc_value <= 1:
        raise MultilevelInputError(f"`icc_value` must lie in [0, 1], got {icc_value!r}.")
    return float(1 + (group_size - 1) * icc_value)
