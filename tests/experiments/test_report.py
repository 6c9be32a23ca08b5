"""``divergences gradients`` end to end, and the run that never loses a user's file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from divergences.experiments import report


def test_gradients_command_writes_results(tmp_path):
    pytest.importorskip("matplotlib")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "divergences",
            "gradients",
            "--quick",
            "--device",
            "cpu",
            "--no-progress",
            "--output",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "W1, neural critic" in result.stdout  # methods named in words, not by key
    for name in report.FILES.values():
        assert (tmp_path / "out" / name).stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging left behind
    payload = json.loads((tmp_path / "out" / "gradients.json").read_text())
    assert payload["summary"]["kl_exact"]["value"][0] == "inf"
    assert payload["machine"]["packages"]["pot"]
    # the settings the networks were trained with, as the estimators recorded them
    assert payload["networks"]["sweep"]["batch_size"] == 128
    assert payload["networks"]["sweep"]["width"] == 32
    assert payload["settings"]["sweep"]["networks"]["steps"] == 200


def _fake_run(folder: Path, *args) -> dict[str, Path]:
    paths = {key: folder / name for key, name in report.FILES.items()}
    for path in paths.values():
        path.write_text("new")
    return paths


def test_a_folder_with_files_is_refused_unless_overwrite(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_write_all", _fake_run)
    output = tmp_path / "results"
    output.mkdir()
    (output / "gradients.json").write_text("the user's results")
    (output / "notes.txt").write_text("the user's notes")
    with pytest.raises(FileExistsError, match="already holds files"):
        report.run(output)
    assert (output / "gradients.json").read_text() == "the user's results"
    paths = report.run(output, overwrite=True)
    assert paths["json"].read_text() == "new"
    assert (output / "notes.txt").read_text() == "the user's notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_an_interrupted_run_leaves_the_old_results(tmp_path, monkeypatch):
    output = tmp_path / "results"
    output.mkdir()
    (output / "gradients.json").write_text("old")

    def interrupted(folder: Path, *args) -> dict[str, Path]:
        (folder / "gradients.json").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "_write_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.run(output, overwrite=True)
    assert (output / "gradients.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_a_new_folder_appears_only_when_the_run_succeeds(tmp_path, monkeypatch):
    def failing(folder: Path, *args) -> dict[str, Path]:
        raise ValueError("device must be 'auto', 'cpu', 'cuda' or a torch.device")

    monkeypatch.setattr(report, "_write_all", failing)
    with pytest.raises(ValueError, match="device must be"):
        report.run(tmp_path / "new")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(report, "_write_all", _fake_run)
    report.run(tmp_path / "new")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == sorted(report.FILES.values())
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o777 & ~mask


def test_unwritable_or_wrong_outputs_fail_before_any_work(tmp_path, monkeypatch):
    def never(folder: Path, *args) -> dict[str, Path]:
        raise AssertionError("the run started")

    monkeypatch.setattr(report, "_write_all", never)
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    with pytest.raises(FileExistsError, match="is not a folder"):
        report.run(a_file)
    assert a_file.read_text() == "keep"
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        report.run(tmp_path / "missing" / "deeper")
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(PermissionError, match="cannot write"):
                report.run(locked / "out")
        finally:
            locked.chmod(0o700)


def test_gradients_command_rejects_bad_seeds():
    result = subprocess.run(
        [sys.executable, "-m", "divergences", "gradients", "--seeds", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "argument --seeds: must be at least 1" in result.stderr


def test_gradients_command_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "gradients.json").write_text("keep")
    result = subprocess.run(
        [sys.executable, "-m", "divergences", "gradients", "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "already holds files" in result.stderr and "--overwrite" in result.stderr
    assert (tmp_path / "gradients.json").read_text() == "keep"


def test_gradients_command_without_matplotlib_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    from divergences import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    assert cli.main(["gradients", "--quick"]) == 1
    assert "pip install 'divergences[bench]'" in capsys.readouterr().err


def test_a_recorded_stop_leaves_the_output_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_write_all", _fake_run)
    output = tmp_path / "results"
    output.mkdir()
    (output / "gradients.json").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        report.run(output, overwrite=True, stop=lambda: True)
    assert (output / "gradients.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
