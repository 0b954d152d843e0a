"""Task YAML validation: every error names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from medlethe.errors import TaskConfigError
from medlethe.task import ConfigTask, load_task_config
from tests.conftest import CLINIC, run_cli

GOOD = (CLINIC / "generate.yaml").read_text()


def write(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    for split in ("forget", "retain", "holdout"):
        (tmp_path / f"{split}.jsonl").write_text((CLINIC / f"{split}.jsonl").read_text())
    return path


def test_good_file_validates() -> None:
    config = load_task_config(CLINIC / "generate.yaml")
    assert config.task == "fixture/drug-recall"
    assert config.generation.max_new_tokens == 8
    assert list(config.splits) == ["forget", "retain", "holdout"]


def test_unknown_key_is_rejected_with_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "doc_to_txt: oops\n")
    with pytest.raises(TaskConfigError) as info:
        load_task_config(path)
    msg = str(info.value)
    assert str(path) in msg and "field doc_to_txt" in msg and "doc_to_text" in msg


def test_nested_unknown_key_names_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("max_new_tokens: 8", "max_tokens: 8"))
    with pytest.raises(TaskConfigError, match=r"field generation\.max_tokens"):
        load_task_config(path)


def test_wrong_schema_version(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("schema_version: 1", "schema_version: 7"))
    with pytest.raises(TaskConfigError, match=r"field schema_version"):
        load_task_config(path)


def test_invalid_yaml_syntax_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "task: [unclosed\n")
    with pytest.raises(TaskConfigError, match=r"task\.yaml is not valid YAML"):
        load_task_config(path)


def test_multiple_choice_needs_choices(tmp_path: Path) -> None:
    text = (CLINIC / "multiple_choice.yaml").read_text().replace('doc_to_choice: "options"\n', "")
    with pytest.raises(TaskConfigError, match=r"multiple_choice needs doc_to_choice"):
        load_task_config(write(tmp_path, text))


def test_template_syntax_error_is_caught_at_load(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{{ patient }}", "{{ patient "))
    with pytest.raises(TaskConfigError, match=r"field doc_to_text: Jinja2 syntax error"):
        ConfigTask.from_file(path)


def test_undefined_variable_names_field_row_and_available_fields(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{{ patient }}", "{{ patient_name }}"))
    task = ConfigTask.from_file(path)
    with pytest.raises(TaskConfigError) as info:
        task.instances("forget")
    msg = str(info.value)
    assert "field doc_to_text (row 1)" in msg and "patient_name" in msg and "'patient'" in msg


def bad_gold_in_row_3(tmp_path: Path, extra: str = "") -> Path:
    """The multiple-choice fixture with the third forget row's gold index out of range."""
    text = (CLINIC / "multiple_choice.yaml").read_text() + extra
    path = write(tmp_path, text)
    rows = (CLINIC / "forget.jsonl").read_text().splitlines()
    rows[2] = rows[2].replace('"gold": 1', '"gold": 7')
    (tmp_path / "forget.jsonl").write_text("\n".join(rows) + "\n")
    return path


def test_row_errors_count_rows_from_one_like_the_packs(tmp_path: Path) -> None:
    task = ConfigTask.from_file(bad_gold_in_row_3(tmp_path))
    with pytest.raises(TaskConfigError, match=r"field doc_to_gold \(row 3\): index 7 is outside"):
        task.instances("forget")


def test_on_invalid_row_skip_leaves_out_counts_and_records(
    tmp_path: Path, tiny_model: Path
) -> None:
    import medlethe

    path = bad_gold_in_row_3(tmp_path, "on_invalid_row: skip\n")
    task = ConfigTask.from_file(path)
    kept = task.instances("forget")
    assert len(kept) == 5 and [i.index for i in kept] == [0, 1, 2, 3, 4]
    assert task.skipped_rows() == {"forget": [3]}
    assert ConfigTask.from_file(CLINIC / "multiple_choice.yaml").skipped_rows() == {}
    out = medlethe.evaluate(str(tiny_model), [str(path)], splits=["forget"],
                            output=tmp_path / "out", progress=False)
    record = out.results.tasks["fixture/drug-choice"]
    assert record.splits == {"forget": 5} and record.skipped_rows == {"forget": [3]}


def test_missing_data_file_is_a_dataset_error(tmp_path: Path) -> None:
    from medlethe.errors import DatasetError

    path = tmp_path / "task.yaml"
    path.write_text(GOOD)
    task = ConfigTask.from_file(path)
    with pytest.raises(DatasetError, match=r"fixture/drug-recall.*task\.yaml"):
        task.docs("forget")


def test_where_filter_and_instances() -> None:
    task = ConfigTask.from_file(CLINIC / "loglikelihood.yaml")
    train = task.instances("train")
    assert len(train) == 5  # the zentorin row is filtered out
    assert all(i.target != "zentorin" for i in train)
    mc = ConfigTask.from_file(CLINIC / "multiple_choice.yaml").instances("forget")
    assert mc[0].choices[mc[0].gold or 0] == mc[0].target == "zentorin"


def test_cli_validate(tmp_path: Path) -> None:
    ok = run_cli("validate", str(CLINIC / "generate.yaml"))
    assert ok.returncode == 0 and "ok:" in ok.stdout
    bad = write(tmp_path, GOOD + "extra: 1\n")
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 2
    assert "field extra: unknown key" in proc.stderr
