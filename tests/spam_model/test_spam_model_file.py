"""The model file: skops, loaded trusting an explicit list of types, written atomically."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
import skops.io

from secgate.settings import Settings
from secgate.spam_model import model_file, train
from secgate.spam_model.model_file import TRUSTED_TYPES, ModelFileError, SpamModel, load, save

SHIPPED = Settings.from_env({}).spam_model_path


@pytest.fixture(scope="module")
def shipped() -> SpamModel:
    return load(SHIPPED)


class TestShippedModel:
    def test_it_loads_trusting_only_the_listed_types(self, shipped: SpamModel) -> None:
        named = set(skops.io.get_untrusted_types(file=SHIPPED))
        assert named <= set(TRUSTED_TYPES)
        assert shipped.scorer is not None  # scored by numpy, not by scikit-learn's machinery

    def test_the_settings_default_to_the_thresholds_it_was_trained_for(
        self, shipped: SpamModel
    ) -> None:
        settings = Settings.from_env({})
        assert settings.spam_reject_score == shipped.metadata["reject_score"]
        assert settings.spam_hold_score == shipped.metadata["hold_score"]
        assert (
            settings.spam_transactional_reject_score
            == shipped.metadata["transactional_reject_score"]
        )
        assert (
            settings.spam_transactional_hold_score == shipped.metadata["transactional_hold_score"]
        )

    def test_it_records_how_it_was_made(self, shipped: SpamModel) -> None:
        metadata = shipped.metadata
        assert metadata["split_seed"] == 42 and metadata["cv_folds"] == train.CV_FOLDS
        assert metadata["versions"]["scikit-learn"]
        assert metadata["held_out_metrics"]["n"] == metadata["corpus"]["held_out_messages"]

    def test_the_card_shows_the_held_out_figures_of_the_file(self, shipped: SpamModel) -> None:
        card = SHIPPED.with_suffix(".md").read_text(encoding="utf-8")
        held = shipped.metadata["held_out_metrics"]
        held_tx = shipped.metadata["held_out_transactional_metrics"]
        assert f"| MCC | {held['mcc']:.4f} | {held_tx['mcc']:.4f} |" in card
        assert f"| `SECGATE_SPAM_REJECT_SCORE` | {shipped.metadata['reject_score']} |" in card
        assert "doi:10.1145/2034691.2034742" in card


def _swap_function(source: Path, target: Path, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Copy the archive with every reference to function `old` (module, name) made one
    to `new`, as an attacker editing schema.json would."""

    def swap(node: object) -> None:
        if isinstance(node, dict):
            if (node.get("__module__"), node.get("__class__")) == old:
                node["__module__"], node["__class__"] = new
            for value in node.values():
                swap(value)
        elif isinstance(node, list):
            for value in node:
                swap(value)

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as tampered:
        for item in original.infolist():
            data = original.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(data)
                swap(schema)
                data = json.dumps(schema).encode()
            tampered.writestr(item, data)


class TestTampering:
    def test_a_function_swapped_for_os_system_is_refused(self, tmp_path: Path) -> None:
        tampered = tmp_path / "tampered.skops"
        _swap_function(
            SHIPPED, tampered, ("secgate.spam_model.features", "normalise_all"), ("os", "system")
        )
        with pytest.raises(ModelFileError, match=r"types that are not trusted: os\.system"):
            load(tampered)

    def test_an_object_of_an_unlisted_type_is_refused(
        self, tmp_path: Path, shipped: SpamModel
    ) -> None:
        path = tmp_path / "extra.skops"
        archive = {"format": model_file.FORMAT, "model": shipped.pipeline, "metadata": {}}
        archive["metadata"] = {"note": Unlisted()}
        skops.io.dump(archive, path)
        with pytest.raises(ModelFileError, match="Unlisted"):
            load(path)

    @pytest.mark.parametrize(
        ("content", "problem"),
        [(b"not a zip", "not a readable model file"), (None, "cannot read the model file")],
    )
    def test_a_damaged_or_missing_file_is_refused(
        self, tmp_path: Path, content: bytes | None, problem: str
    ) -> None:
        path = tmp_path / "model.skops"
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError, match=problem):
            load(path)

    def test_another_skops_archive_is_not_a_model(self, tmp_path: Path) -> None:
        path = tmp_path / "other.skops"
        skops.io.dump({"format": "something else"}, path)
        with pytest.raises(ModelFileError, match="not a SecGate spam model file"):
            load(path)


class Unlisted:
    def __init__(self) -> None:
        self.value = 1


class TestSaving:
    def test_a_saved_model_loads_back_with_its_metadata(
        self, tmp_path: Path, shipped: SpamModel
    ) -> None:
        path = tmp_path / "models" / "m.skops"
        save(SpamModel(shipped.pipeline, {"note": "x", "reject_score": 0.5}), path)
        again = load(path)
        assert again.metadata["note"] == "x"
        assert again.metadata["versions"] == model_file.library_versions()
        texts = ["WIN a prize now, call 09061701461", "see you at 5"]
        assert again.scores(texts).tolist() == shipped.scores(texts).tolist()

    def test_saving_replaces_the_file_whole_and_leaves_no_temporary(
        self, tmp_path: Path, shipped: SpamModel
    ) -> None:
        path = tmp_path / "m.skops"
        path.write_bytes(b"old")
        save(SpamModel(shipped.pipeline, {}), path)
        assert os.listdir(tmp_path) == ["m.skops"]
        assert oct(path.stat().st_mode & 0o777) == "0o644"
        assert json.loads(zipfile.ZipFile(path).read("schema.json"))  # a whole archive
