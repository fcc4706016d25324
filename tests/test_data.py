"""Data loaders return their documented columns; shipped CSVs equal their simulators."""

import pandas as pd
import pytest

from multilevel import MultilevelInputError, data


@pytest.mark.parametrize("name", sorted(data.SIMULATED))
def test_shipped_csv_equals_the_simulator(name):
    shipped = data.load_csv(name)
    regenerated = data.simulated_dataset(name)
    pd.testing.assert_frame_equal(shipped, regenerated, check_exact=False, rtol=1e-14,
                                  check_dtype=False)


def test_every_shipped_csv_is_documented_in_the_codebook():
    codebook = (data.DATA_DIR / "CODEBOOK.md").read_text()
    for path in data.DATA_DIR.glob("*.csv"):
        assert f"`{path.name}`" in codebook, f"{path.name} has no codebook entry"


def test_cces2016_columns_and_sample():
    cces = data.load_cces2016()
    expected = ["state", "vote_trump", "family_income", "race", "college", "female", "age",
                "ideology", "party_id"]
    assert list(cces.columns) == expected
    assert len(cces) == 40212 and cces["state"].nunique() == 51
    assert set(cces["vote_trump"]) == {0, 1}
    assert cces["family_income"].between(1, 12).all()
    assert len(data.load_cces2016(complete=False)) == 64600


def test_real_data_loaders_return_documented_columns():
    hsb = data.load_hsb()
    assert {"school", "ses", "mAch", "meanses", "sector", "cses"} <= set(hsb.columns)
    assert hsb.shape[0] == 7185 and hsb["school"].nunique() == 160
    assert {"id", "tch", "sch", "gr", "cltype", "math", "read"} <= set(data.load_star().columns)
    scots = data.load_scots_secondary()
    assert {"primary", "second", "attain", "verbal"} <= set(scots.columns)
    wages = data.load_wage_panel()
    assert {"nr", "year", "lwage"} <= set(wages.columns) and wages["nr"].nunique() == 545


def test_is_nested_and_describe_levels():
    frame = pd.DataFrame({"school": list("aaabbb"), "cls": [1, 1, 2, 1, 3, 3],
                          "pupil": range(6)})
    assert data.is_nested(frame, "pupil", "school")
    # Class label 1 appears in both schools: the labels alone are not nested.
    assert not data.is_nested(frame, "cls", "school")
    levels = data.describe_levels(frame, ["school", "cls", "pupil"])
    assert levels["units"].tolist() == [2, 4, 6]
    assert levels.loc["cls", "obs_per_unit_max"] == 2
    assert levels.loc["pupil", "nested_in_level_above"]


def test_scots_classifications_are_crossed():
    scots = data.load_scots_secondary()
    assert not data.is_nested(scots, "primary", "second")
    assert not data.is_nested(scots, "second", "primary")


def test_unknown_names_get_clear_errors():
    with pytest.raises(MultilevelInputError, match="no data file 'nope.csv'"):
        data.load_csv("nope")
    with pytest.raises(MultilevelInputError, match="unknown simulated data set"):
        data.simulated_dataset("nope")
    with pytest.raises(MultilevelInputError, match="at least one grouping column"):
        data.describe_levels(pd.DataFrame({"a": [1]}), [])
