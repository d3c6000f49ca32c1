"""The augmentation mode: `data.panda` parsed once into a typed value (harness/data/augment_mode.py)
that the schema, the run-id rules, the data sources and the analysis read."""

import pytest

from harness.data.augment_mode import AugmentMode
from harness.errors import ConfigError
from harness.config.run_spec import RunSpec


@pytest.mark.parametrize("setting,copies,online,stored,rank", [
    ("none", None, False, 0, 0.0), ("1x", 1, False, 1, 1.0), ("12x", 12, False, 12, 12.0),
    ("online", None, True, 0, float("inf")),
])
def test_parse_gives_typed_fields(setting, copies, online, stored, rank):
    mode = AugmentMode.parse(setting, mix=0.25)
    assert (mode.method, mode.copies, mode.online, mode.stored_copies, mode.rank) == ("panda", copies, online,
                                                                                       stored, rank)
    assert mode.mix == (0.25 if online else None)  # the mix belongs to online only
    assert mode.enabled == (setting != "none")
    assert mode.setting == setting


@pytest.mark.parametrize("bad", ["0x", "x", "1.5x", "01x", "2", "Online", "", "-1x"])
def test_parse_refuses_other_spellings_naming_the_key(bad):
    with pytest.raises(ConfigError, match=r"data\.panda must be none or Kx"):
        AugmentMode.parse(bad)


def test_run_json_variant_reads_back_as_the_same_mode():
    for overrides, setting in (([], "none"), (["data.panda=2x"], "2x"),
                               (["data.panda=online", "data.panda_mix=0.25"], "online")):
        spec = RunSpec.from_recipe("panda-table2-mini", overrides)
        mode = spec.settings.data.mode
        assert mode.setting == setting
        assert AugmentMode.from_record(spec.identity()["panda"]) == mode


def test_from_record_of_a_damaged_variant_is_none():
    for damaged in (None, "1x", {"copies": "2"}, {"copies": True}, {"copies": 0}):
        assert AugmentMode.from_record(damaged) == AugmentMode()
