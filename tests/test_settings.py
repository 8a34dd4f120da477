"""The settings model: the docs' key tables match it; every bad value is refused naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.config import check_inputs, check_run_dir, load_config
from toolkit.errors import InputFileError, ToolkitError
from toolkit.settings import SECTIONS, Config, DemoSizes, TrainSettings, section_fields

ROOT = Path(__file__).resolve().parents[1]


def test_docs_key_tables_are_generated_from_the_settings_model():
    from toolkit.settings_docs import generated_part, render

    assert generated_part(ROOT / "docs" / "reference.md") == render(), \
        "docs/reference.md is stale: run python -m toolkit.settings_docs docs/reference.md"
    text = render()
    for name, cls in SECTIONS.items():
        for f in section_fields(cls):
            assert f"`{name}.{f.name}`" in text
            assert f.metadata["doc"], f"{name}.{f.name} has no documentation"
    for f in section_fields(DemoSizes):
        assert f"| `{f.name}` |" in text and f.metadata["doc"]


def test_every_example_config_loads():
    for p in (ROOT / "examples").glob("*.yaml"):
        cfg = load_config(p)
        assert isinstance(cfg, Config) and cfg.source == str(p)


# (yaml body, key named in the error)
BAD = [
    ("training: {lr: -0.01}", "training.lr"),
    ("training: {lr: .nan}", "training.lr"),
    ("training: {epochs: 0}", "training.epochs"),
    ("training: {epochs: 2.5}", "training.epochs"),
    ("training: {epochs: true}", "training.epochs"),
    ("training: {threads: 0}", "training.threads"),
    ("training: {threads: -2}", "training.threads"),
    ("training: {device: gpu0}", "training.device"),
    ("training: {device: 'cuda:7'}", "training.device"),
    ("training: {split: [0.5, 0.2, 0.2]}", "training.split"),
    ("training: {split: [0.9, 0.1]}", "training.split"),
    ("training: {split: [1.2, -0.1, -0.1]}", "training.split"),
    ("training: {split: [0.0, 0.5, 0.5]}", "training.split"),
    ("training: {weight_decay: -1.0e-4}", "training.weight_decay"),
    ("training: {force_weight: -1}", "training.force_weight"),
    ("training: {force_weight: 1.0}", "training.force_weight"),          # no derivatives
    ("training: {batch_size: 0}", "training.batch_size"),
    ("training: {optimizer: sgd}", "training.optimizer"),
    ("training: {dtype: float16}", "training.dtype"),
    ("training: {lr_min_factor: 2}", "training.lr_min_factor"),
    ("training: {checkpoint_every: -1}", "training.checkpoint_every"),
    ("selection: {metric: forces}", "selection.metric"),                 # forces metric without force training
    ("selection: {metric: virial}", "selection.metric"),
    ("selection: {lambdas: []}", "selection.lambdas"),
    ("selection: {lambdas: [1, -2]}", "selection.lambdas"),
    ("selection: {lambdas: {min: 1, max: 0.1, num: 3}}", "selection.lambdas.max"),
    ("selection: {lambdas: {min: 1, max: 2}}", "selection.lambdas.num"),
    ("selection: {lambdas: {min: 1, max: 2, num: 3, base: 10}}", "selection.lambdas.base"),
    ("selection: {tolerance: 0.5}", "selection.tolerance"),
    ("selection: {gamma: 0}", "selection.gamma"),
    ("selection: {pearson_threshold: 1.5}", "selection.pearson_threshold"),
    ("selection: {repeats: -1}", "selection.repeats"),
    ("selection: {baselines: [cur, lasso]}", "selection.baselines"),
    ("selection: {cur_atoms: 0}", "selection.cur_atoms"),
    ("selection: {gl_epochs: 0}", "selection.gl_epochs"),
    ("model: {hidden: [5, 0]}", "model.hidden"),
    ("model: {hidden: 5}", "model.hidden"),
    ("model: {activations: [t, x, l]}", "model.activations"),
    ("model: {scaling: minmax}", "model.scaling"),
    ("model: {scale_min: 1, scale_max: 0}", "model.scale_max"),
    ("model: {atom_energy: {Al: abc}}", "model.atom_energy"),
    ("symfuncs: {rc: -2.8}", "symfuncs.rc"),
    ("symfuncs: {rc: .inf}", "symfuncs.rc"),
    ("symfuncs: {n_shifted: -1}", "symfuncs.n_shifted"),
    ("symfuncs: {r_min: soon}", "symfuncs.r_min"),
    ("symfuncs: {candidates: input.nn}", "symfuncs.input_nn"),
    ("data: {features: f.h5, store_dtype: int8}", "data.store_dtype"),
    ("data: {generate: {configs: 10}}", "data.generate.system"),
    ("data: {generate: {system: water}}", "data.generate.system"),
    ("data: {generate: {system: lj, configs: -5}}", "data.generate.configs"),
    ("data: {generate: {system: lj, temperatures: [1.0, -1.0]}}", "data.generate.temperatures"),
    ("data: {generate: {system: lj, jobs: 0}}", "data.generate.jobs"),
    ("data: {generate: {system: lj, colour: red}}", "data.generate.colour"),
    ("training: {epoch: 3}", "training.epoch"),
]


@pytest.mark.parametrize("body,key", BAD, ids=[k + ":" + b for b, k in BAD])
def test_bad_values_are_refused_naming_file_and_key(tmp_path, body, key):
    p = tmp_path / "c.yaml"
    data = "" if body.startswith("data:") else "data: {features: f.h5}\n"
    p.write_text(data + body + "\n")
    (tmp_path / "f.h5").write_text("")
    with pytest.raises(InputFileError) as err:
        load_config(p)
    msg = str(err.value)
    assert msg.startswith(str(p)) and f"'{key}" in msg, msg


def test_missing_input_files_are_refused_naming_the_key(tmp_path):
    p = tmp_path / "c.yaml"
    for body, key in [("data: {features: f.h5}", "data.features"),
                      ("data: {structures: s.data}", "data.structures"),
                      ("data: {structures: s.data}\nsymfuncs: {candidates: input.nn, input_nn: in.nn}",
                       "symfuncs.input_nn"),
                      ("data: {structures: s.data}\ntraining: {init_model: m.pt}", "training.init_model")]:
        p.write_text(body + "\n")
        with pytest.raises(InputFileError, match=f"c\\.yaml: '{key}'"):
            check_inputs(load_config(p))
        if key == "data.structures":
            (tmp_path / "s.data").write_text("")
    (tmp_path / "f.h5").write_text("")
    p.write_text("data: {features: f.h5, structures: gone.data}\nsymfuncs: {candidates: input.nn, input_nn: x}\n")
    check_inputs(load_config(p))    # the features exist: nothing else needed


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    from toolkit.cli import main

    p = tmp_path / "c.yaml"
    p.write_text("data: {features: f.h5}\ntraining: {lr: -1}\n")
    assert main(["train", str(p), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "'training.lr'" in err[0]
    assert not (tmp_path / "run").exists()


def test_valid_values_and_defaults(tmp_path):
    p = tmp_path / "c.yaml"
    (tmp_path / "s.data").write_text("")
    p.write_text("data: {structures: s.data, derivatives: true}\ntraining: {lr: 1, force_weight: 0.5, "
                 "split: [0.7, 0.2, 0.1]}\nselection: {lambdas: {min: 1, max: 100, num: 3}}\n")
    cfg = load_config(p)
    assert cfg.training.lr == 1.0 and isinstance(cfg.training.lr, float)
    assert cfg.selection.lambda_values() == pytest.approx([1.0, 10.0, 100.0])
    assert cfg.selection.resolved_metric(cfg.training.force_weight) == "forces"
    assert cfg.data.structures == str(tmp_path / "s.data")
    # one default for each key, the same in the file and in code
    assert TrainSettings().epochs == cfg.training.epochs == 300
    assert Config().selection.metric == "auto"


def test_settings_objects_validate_themselves():
    with pytest.raises(ToolkitError, match="'training.lr'"):
        TrainSettings(lr=-1.0)
    st = TrainSettings(epochs=5)
    assert st.replace(lr=None).lr is None and st.replace(seed=None).seed == 0
    with pytest.raises(ToolkitError, match="'training.epochs'"):
        st.replace(epochs=-1)
    with pytest.raises(ToolkitError, match="'sizes.configs'"):
        DemoSizes().replace(configs=0)
    assert DemoSizes().replace(cells=[3, 3, 3]).cells == (3, 3, 3)


def test_a_run_folder_refuses_other_settings(tmp_path):
    p = tmp_path / "c.yaml"
    (tmp_path / "f.h5").write_text("")
    p.write_text("data: {features: f.h5}\ntraining: {epochs: 10}\n")
    run = tmp_path / "run"
    check_run_dir(load_config(p), run)
    check_run_dir(load_config(p), run)                          # the same settings: resume
    p.write_text("data: {features: f.h5}\ntraining: {epochs: 10, progress: false, threads: 2}\n")
    check_run_dir(load_config(p), run)                          # keys that do not change results
    p.write_text("data: {features: f.h5}\ntraining: {epochs: 20}\nmodel: {hidden: [4]}\n")
    with pytest.raises(InputFileError, match=r"c\.yaml.*model\.hidden.*training\.epochs"):
        check_run_dir(load_config(p), run)


@pytest.mark.parametrize("body, weight", [
    ("data: {structures: x.data, derivatives: true}\n", 1.0),                    # derivatives: forces by default
    ("data: {structures: x.data}\ntraining: {derivatives: on_the_fly}\n", 1.0),
    ("data: {structures: x.data, derivatives: true}\ntraining: {force_weight: 0}\n", 0.0),  # the study's setting
    ("data: {structures: x.data, derivatives: true}\ntraining: {force_weight: 0.3}\n", 0.3),
    ("data: {structures: x.data}\n", 0.0),                                       # no derivatives: energies only
])
def test_force_aware_by_default_wherever_derivatives_can_be_had(tmp_path, body, weight):
    (tmp_path / "c.yaml").write_text(body)
    cfg = load_config(tmp_path / "c.yaml")
    assert cfg.training.force_weight == weight
    assert cfg.selection.resolved_metric(cfg.training.force_weight) == ("forces" if weight > 0 else "energy")
