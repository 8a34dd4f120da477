"""The one resume mechanism: a step is finished only with its key, its marker and all its outputs."""

from __future__ import annotations

import pytest

from toolkit.errors import ToolkitError
from toolkit.steps import Step, settings_key


def test_settings_key_depends_on_values_not_order():
    assert settings_key({"a": 1, "b": [1, 2]}) == settings_key({"b": [1, 2], "a": 1})
    assert settings_key({"a": 1}) != settings_key({"a": 2})
    assert len(settings_key([1, "x"])) == 16


def test_step_lifecycle(tmp_path):
    folder = tmp_path / "s"
    st = Step(folder, {"n": 1})
    assert st.record() is None
    assert st.start({"n": 1}) == "new"
    out = folder / "result.txt"
    with pytest.raises(ToolkitError, match="outputs missing"):
        st.finish([out])
    assert st.record() is None                      # no marker without the outputs
    out.write_text("42")
    rec = st.finish([out], value=42)
    assert rec["outputs"] == ["result.txt"] and rec["value"] == 42
    assert Step(folder, {"n": 1}).record()["value"] == 42
    # other settings: not finished; starting empties the folder
    other = Step(folder, {"n": 2})
    assert other.record() is None
    assert other.start({"n": 2}) == "changed" and not out.exists()
    # an interrupted attempt with the same key resumes (the folder is kept)
    (folder / "partial").write_text("x")
    assert Step(folder, {"n": 2}).start() == "resume" and (folder / "partial").exists()


def test_a_missing_output_or_corrupt_marker_means_unfinished(tmp_path):
    st = Step(tmp_path / "s", "k")
    st.start()
    f = st.dir / "a.dat"
    f.write_text("1")
    st.finish([f])
    f.unlink()
    assert st.record() is None
    st.marker.write_text("{not json")
    assert st.record() is None
    st.marker.write_text("[1, 2]")
    assert st.record() is None


def test_check_resume_names_every_changed_key(tmp_path):
    from toolkit.fileio import write_json
    from toolkit.steps import check_resume

    rec = tmp_path / "run.json"
    check_resume(rec, {"a": 1}, "a run")                         # no record: a new run
    write_json(rec, {"settings": {"a": 1, "b": [1, 2], "c": "x"}})
    check_resume(rec, {"a": 1, "b": [1, 2], "c": "x"}, "a run")
    with pytest.raises(ToolkitError, match=r"holds a run made with other settings \(a: 1 -> 2; c: 'x' -> 'y'\)"):
        check_resume(rec, {"a": 2, "b": [1, 2], "c": "y"}, "a run")
    write_json(rec, {"protocol": {"t": 1.0}, "seed": 0})        # an older record without 'settings'
    check_resume(rec, {"t": 1.0, "seed": 0}, "a quench", legacy=lambda r: {**r["protocol"], "seed": r["seed"]})
    rec.write_text("{truncated")
    with pytest.raises(ToolkitError, match=r"run\.json, line 1: not valid JSON"):
        check_resume(rec, {"a": 1}, "a run")
