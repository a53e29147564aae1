"""`python -m secgate spam-model train|evaluate` (CONTRACT §3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from secgate.cli import main
from secgate.settings import Settings
from secgate.spam_model import train
from secgate.spam_model.corpus import deduplicate, read_labelled, split, write_labelled
from secgate.spam_model.model_file import load

COLLECTION = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "sms-spam-collection"
) / "SMSSpamCollection"


def secgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SECGATE_SPAM_")}
    return subprocess.run(
        [sys.executable, "-m", "secgate", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=300,
    )


class TestEvaluate:
    def test_it_reproduces_the_cards_held_out_figures(self, tmp_path: Path) -> None:
        held_out = split(deduplicate(read_labelled(COLLECTION)).messages)[1]
        write_labelled(held_out, tmp_path / "held-out.txt")
        run = secgate("spam-model", "evaluate", "--data", str(tmp_path / "held-out.txt"))
        assert run.returncode == 0, run.stderr
        (line,) = run.stdout.splitlines()  # one JSON line
        figures = json.loads(line)
        card = load(Settings.from_env({}).spam_model_path).metadata["held_out_metrics"]
        for name in ("n", "accuracy", "spam_caught", "ham_blocked", "mcc"):
            assert figures[name] == card[name], name
        assert figures["msgs_per_s"] > 0
        assert "scoring" in run.stderr  # the progress bar

    def test_transactional_reproduces_the_cards_transactional_figures(self, tmp_path: Path) -> None:
        held_out = split(deduplicate(read_labelled(COLLECTION)).messages)[1]
        write_labelled(held_out, tmp_path / "held-out.txt")
        run = secgate(
            "spam-model", "evaluate", "--data", str(tmp_path / "held-out.txt"), "--transactional"
        )
        assert run.returncode == 0, run.stderr
        figures = json.loads(run.stdout)
        metadata = load(Settings.from_env({}).spam_model_path).metadata
        card = metadata["held_out_transactional_metrics"]
        for name in ("n", "accuracy", "spam_caught", "ham_blocked", "mcc"):
            assert figures[name] == card[name], name
        assert figures["reject_score"] == metadata["transactional_reject_score"]

    def test_the_thresholds_come_from_the_settings(self, tmp_path: Path) -> None:
        write_labelled(split(deduplicate(read_labelled(COLLECTION)).messages)[1], tmp_path / "h")
        run = secgate(
            "spam-model",
            "evaluate",
            "--data",
            str(tmp_path / "h"),
            env={"SECGATE_SPAM_REJECT_SCORE": "1", "SECGATE_SPAM_HOLD_SCORE": "1"},
        )
        figures = json.loads(run.stdout)
        assert (figures["reject_score"], figures["ham_blocked"]) == (1.0, 0.0)

    def test_a_malformed_line_is_named(self, tmp_path: Path) -> None:
        (tmp_path / "bad.txt").write_text("ham\tok\nspam without a tab\n", encoding="utf-8")
        run = secgate("spam-model", "evaluate", "--data", str(tmp_path / "bad.txt"))
        assert run.returncode == 1
        assert run.stderr.strip().splitlines() == [
            f"secgate: error: {tmp_path / 'bad.txt'}: line 2: no TAB between label and text"
        ]
        assert run.stdout == ""

    def test_a_missing_file_is_one_line_on_stderr(self, tmp_path: Path) -> None:
        run = secgate("spam-model", "evaluate", "--data", str(tmp_path / "absent.txt"))
        assert run.returncode == 1
        assert "cannot read" in run.stderr and "Traceback" not in run.stderr

    def test_an_unloadable_model_is_one_line_on_stderr(self, tmp_path: Path) -> None:
        (tmp_path / "m.skops").write_bytes(b"junk")
        write_labelled(read_labelled(COLLECTION)[:5], tmp_path / "d.txt")
        run = secgate(
            "spam-model",
            "evaluate",
            "--data",
            str(tmp_path / "d.txt"),
            env={"SECGATE_SPAM_MODEL_PATH": str(tmp_path / "m.skops")},
        )
        assert run.returncode == 1
        assert "not a readable model file" in run.stderr and "Traceback" not in run.stderr

    def test_data_is_required(self) -> None:
        assert secgate("spam-model", "evaluate").returncode == 2


class TestTrain:
    def test_it_writes_the_model_and_its_card_and_prints_the_metrics(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        # A small file and one candidate keep this quick; the shipped model's own
        # figures are checked by TestEvaluate.
        messages = read_labelled(COLLECTION)
        small = [m for m in messages if not m.is_spam][:300] + [m for m in messages if m.is_spam][
            :80
        ]
        write_labelled(small, tmp_path / "small.txt")
        monkeypatch.setattr(train, "CANDIDATES", (train.Candidate(1.0, 0.1),))
        monkeypatch.setenv("SECGATE_SPAM_MODEL_PATH", str(tmp_path / "out" / "model.skops"))

        assert main(["spam-model", "train", "--data", str(tmp_path / "small.txt")]) == 0

        out, err = capsys.readouterr()
        printed = json.loads(out)
        assert printed["model"] == str(tmp_path / "out" / "model.skops")
        assert printed["held_out"]["n"] == len(split(deduplicate(small).messages)[1])
        assert 0.0 <= printed["hold_score"] <= printed["reject_score"] <= 1.0
        assert "training" in err  # the progress bar
        model = load(tmp_path / "out" / "model.skops")
        assert model.metadata["data"] == "small.txt"
        assert model.metadata["held_out_metrics"] == printed["held_out"]
        card = (tmp_path / "out" / "model.md").read_text(encoding="utf-8")
        assert f"| `SECGATE_SPAM_HOLD_SCORE` | {printed['hold_score']} |" in card
        assert sorted(os.listdir(tmp_path / "out")) == ["model.md", "model.skops"]

    def test_a_malformed_file_is_refused_naming_the_line(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        (tmp_path / "bad.txt").write_text("ham\tok\nmaybe\tWIN\n", encoding="utf-8")
        assert main(["spam-model", "train", "--data", str(tmp_path / "bad.txt")]) == 1
        assert "line 2: label 'maybe' is neither 'ham' nor 'spam'" in capsys.readouterr().err

    def test_too_few_messages_are_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        write_labelled(read_labelled(COLLECTION)[:30], tmp_path / "few.txt")
        assert main(["spam-model", "train", "--data", str(tmp_path / "few.txt")]) == 1
        assert "too few distinct messages to train on" in capsys.readouterr().err
