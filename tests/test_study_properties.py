"""Property: whatever a study file holds, the loader returns a valid Study or raises one ConfigError
that starts with the file's name; never another exception."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite import study
from suite.config import ConfigError, RunConfig

NAMES = ["ep", "iep", "bp", "numpy", "jax", "torch", "mnist", "synthetic", "relax@4", "ff", "ff+relax@2",
         "zeros", "forward", "persistent", "local", "squared", "float64", "cpu", "test"]
scalars = st.one_of(st.booleans(), st.integers(-3, 800), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=6), st.sampled_from(NAMES))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(NAMES + ["x"]), inner, max_size=3), max_leaves=10)
fields = st.sampled_from(sorted(study.RUN_FIELDS) + ["zip", "exclude", "bogus"])
blocks = st.dictionaries(fields, values, max_size=5)
top_keys = sorted(study.STUDY_KEYS - {"base", "runs"}) + ["bogus"]

random_studies = st.fixed_dictionaries({"name": st.just("h") | values}, optional={
    **{key: values for key in top_keys if key != "name"}, "base": blocks | values,
    "runs": st.lists(blocks | values, max_size=3) | values})

VALID = {"name": "h", "base": {"dataset": "synthetic", "sizes": [64, 16, 10]},
         "runs": [{"algorithm": ["ep", "iep"], "seed": [0, 1]}]}


@st.composite
def one_field_wrong(draw):
    """The valid study with one value, at the top, in [base] or in [[runs]], replaced."""
    data = {"name": "h", "base": dict(VALID["base"]), "runs": [dict(VALID["runs"][0])]}
    where = draw(st.sampled_from(["top", "base", "runs"]))
    target = data if where == "top" else data["base"] if where == "base" else data["runs"][0]
    key = draw(st.sampled_from(top_keys + ["base", "runs"] if where == "top"
                               else sorted(study.BLOCK_KEYS | {"bogus"})))
    target[key] = draw(values)
    return data


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(random_studies, one_field_wrong()))
def test_the_loader_accepts_or_names_the_file(data):
    try:
        loaded = study.from_dict(data, "h.toml")
    except ConfigError as err:
        message = str(err)
        assert message.startswith("h.toml: ") and len(message) > len("h.toml: ") + 10
        assert "\n" not in message and "bad field" not in message
        return
    assert loaded.runs and all(isinstance(cfg, RunConfig) for cfg in loaded.runs)


def test_the_valid_study_loads():
    assert len(study.from_dict(VALID, "h.toml").runs) == 4
