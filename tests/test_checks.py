"""Bad input gets a clear error that says what is wrong and what to do."""

import numpy as np
import pandas as pd
import pytest

from multilevel import MultilevelInputError, lmer, plots, simulate
from multilevel._checks import check_model_data, require_binary


@pytest.fixture
def students():
    return simulate.simulate_students(n_students=10, n_exams=3, seed=5)


def test_missing_column_is_named(students):
    with pytest.raises(MultilevelInputError, match=r"\['effort'\] not found.*Available columns"):
        lmer("score ~ effort + (1 | student)", students)


def test_nan_is_counted_and_a_fix_suggested(students):
    students.loc[[0, 3], "hours"] = np.nan
    with pytest.raises(MultilevelInputError, match=r"missing values \(NaN\) in 'hours': 2.*dropna"):
        lmer("score ~ hours + (1 | student)", students)


def test_one_group_is_rejected(students):
    one = students[students["student"] == 1]
    with pytest.raises(MultilevelInputError, match="has 1 level.*at least two groups"):
        lmer("score ~ hours + (1 | student)", one)


def test_non_numeric_response_is_rejected(students):
    students["grade"] = np.where(students["score"] > 1, "high", "low")
    with pytest.raises(MultilevelInputError, match=r"response 'grade' must be numeric"):
        lmer("grade ~ hours + (1 | student)", students)


def test_infinite_value_is_rejected(students):
    students.loc[2, "score"] = np.inf
    with pytest.raises(MultilevelInputError, match="infinite values"):
        check_model_data(students, "score", ["hours"], "student")
    with pytest.raises(MultilevelInputError, match="infinite"):
        lmer("score ~ hours + (1 | student)", students)


def test_not_a_dataframe():
    with pytest.raises(MultilevelInputError, match="must be a pandas DataFrame, got dict"):
        lmer("y ~ x + (1 | g)", {"y": [1, 2]})


def test_binary_check_lists_offending_values():
    frame = pd.DataFrame({"vote": [0, 1, 2, 1]})
    with pytest.raises(MultilevelInputError, match=r"must be binary.*\[0.0, 1.0, 2.0\]"):
        require_binary(frame, "vote")
    require_binary(frame.replace(2, 1), "vote")


def test_collinear_covariates_are_rejected(students):
    students["hours_copy"] = 2 * students["hours"]
    with pytest.raises(MultilevelInputError, match="collinear"):
        lmer("score ~ hours + hours_copy + (1 | student)", students)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_groups": 1}, "n_groups"),
        ({"group_size": 0}, "group_size"),
        ({"icc": 1.0}, "icc"),
        ({"covariate_level": "school"}, "covariate_level"),
    ],
)
def test_simulator_arguments_are_checked(kwargs, message):
    with pytest.raises(MultilevelInputError, match=message):
        simulate.simulate_clustered(**kwargs)


def test_plot_functions_check_columns(students):
    with pytest.raises(MultilevelInputError, match="not found"):
        plots.scatter_by_group(students, "hours", "grade", "student")
    with pytest.raises(MultilevelInputError, match="level"):
        plots.caterpillar(pd.DataFrame({"estimate": [0.1], "std_error": [0.1]}), level=1.5)
