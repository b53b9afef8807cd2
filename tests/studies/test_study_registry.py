"""The studies' registry and command: each quote is on its course line, each option default is the
study's own, and `classicnets study` lists, refuses and writes as every command does."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from classicnets.errors import UserError
from classicnets.studies import STUDIES, get_study

COURSE = Path(__file__).resolve().parents[2].parent / "shared" / "course"


@pytest.mark.parametrize("name", list(STUDIES))
def test_each_quote_is_on_its_course_line(name):
    if not COURSE.is_dir():
        pytest.skip(f"the course texts are not beside this checkout ({COURSE})")
    info = STUDIES[name]
    for claim in (info.claim, *info.also):
        lines = (COURSE / claim.file).read_text(encoding="utf-8").splitlines()
        assert claim.quote in lines[claim.line - 1], (name, claim.where())


@pytest.mark.parametrize("name", list(STUDIES))
def test_options_are_the_study_class_fields_with_their_defaults(name):
    info = STUDIES[name]
    cls = info.load()
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    assert set(info.options) <= set(defaults), set(info.options) - set(defaults)
    assert {k: defaults[k] for k in info.options} == info.options
    study = cls()
    for method in ("validate", "run", "table", "finding", "plot", "to_dict"):
        assert callable(getattr(study, method)), method
    assert study.validate() is study


def test_the_old_import_still_works():
    from classicnets.studies import VanishingGradients
    from classicnets.studies.vanishing import VanishingGradients as Same
    assert VanishingGradients is Same and get_study("vanishing-gradients").load() is Same
    with pytest.raises(UserError, match="did you mean 'dropout'"):
        get_study("dropot")


def test_list_names_every_study_with_its_sentence_without_torch():
    code = ("import sys; from classicnets.cli import run_cli; assert run_cli(['study', '--list']) == 0\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    env = {"COLUMNS": "200", "PATH": ""}
    if "PYTHONPATH" in os.environ:  # a checkout run with PYTHONPATH=src imports its own package, not the installed one
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    for name, info in STUDIES.items():
        assert name in proc.stdout and info.claim.where() in proc.stdout
    assert "additional layers in a deep model lead to higher training errors" in proc.stdout


def test_an_option_of_another_study_is_refused_before_any_work(cli, tmp_path):
    code, _, err = cli("study", "shared-weights", "--depths", "20,56", "--out", tmp_path / "o")
    assert code == 2 and err.strip() == ("classicnets: error: --depths does not apply to shared-weights; "
                                         "it is an option of degradation, dense-vs-conv, highway")
    code, _, err = cli("study", "vanishing-gradients", "--lr", "0.1", "--out", tmp_path / "o")
    assert code == 2 and "it is an option of degradation, exploding-gradients, dropout" in err
    code, _, err = cli("study", "--out", tmp_path / "o")
    assert code == 2 and "name a study" in err
    code, _, err = cli("study", "dropout", "--list")
    assert code == 2 and "not both" in err
    assert not (tmp_path / "o").exists()


def test_study_writes_table_png_and_json_with_the_course_sentence(cli, tmp_path):
    code, out, err = cli("study", "shared-weights", "--length", 7, "--kernel", 3, "--out", tmp_path)
    assert code == 0, err
    assert "by hand: sum of z*delta" in out and "autograd" in out and "used 5 times per example" in out
    record = json.loads((tmp_path / "shared-weights.json").read_text())
    assert record["study"] == "shared-weights" and record["course"]["line"] == 752
    assert record["length"] == 7 and len(record["by_hand"]["weight"]) == 3
    assert (tmp_path / "shared-weights.png").stat().st_size > 10_000
