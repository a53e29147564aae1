"""The model file: a skops archive, loaded without running code from the file.

A pickle (joblib) file runs whatever code it names when loaded; a skops file holds the
objects' state and the names of their types, and `skops.io.load` builds only types it
is told to trust. Here it is told exactly which: skops's own defaults (scikit-learn's
public estimators, numpy, scipy), the two private scikit-learn classes a calibrated
classifier is made of, and the module-level functions of secgate.spam_model.features
the pipeline calls. A file that names any other type is refused (ModelFileError),
never loaded with `trusted=True`.

The archive holds {"format", "model", "metadata"}: the scikit-learn pipeline and a
dict of plain values (how it was trained, its thresholds, its measured figures).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import sklearn
import skops.io
from sklearn.pipeline import Pipeline

from secgate.settings import PROJECT_ROOT
from secgate.spam_model import features
from secgate.spam_model.scoring import LinearScorer, UnsupportedPipeline

log = logging.getLogger("secgate.spam_model")

FORMAT = "secgate-spam-model/1"
DEFAULT_PATH = PROJECT_ROOT / "models" / "spam-model.skops"
# The types a model file may name beyond skops's defaults (see the module's description).
TRUSTED_TYPES: tuple[str, ...] = (
    *features.TRUSTED_FUNCTIONS,
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)


class ModelFileError(Exception):
    """A model file that cannot be used; the message names the file and why."""


@dataclass(frozen=True)
class SpamModel:
    pipeline: Pipeline
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The pipeline reduced to numpy (scoring.LinearScorer); None: scikit-learn scores.
    scorer: LinearScorer | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if True not in list(getattr(self.pipeline, "classes_", [])):
            raise ModelFileError("the model does not know the class True (spam)")
        try:
            scorer: LinearScorer | None = LinearScorer.from_pipeline(self.pipeline)
        except UnsupportedPipeline as exc:
            log.warning("spam model scored by scikit-learn (slower): %s", exc)
            scorer = None
        object.__setattr__(self, "scorer", scorer)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """The probability that each text is spam, in 0..1."""
        if not texts:
            return np.empty(0, dtype=np.float64)
        if self.scorer is not None:
            return self.scorer(texts)
        return self.pipeline_scores(texts)

    def pipeline_scores(self, texts: Sequence[str]) -> np.ndarray:
        """The same through scikit-learn's predict_proba (what LinearScorer must equal)."""
        column = list(self.pipeline.classes_).index(True)
        # Our own inputs: scikit-learn's argument checks would only cost time.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            return self.pipeline.predict_proba(list(texts))[:, column]


def save(model: SpamModel, path: str | Path) -> None:
    """Write the model file atomically: a reader sees the old file or the new one,
    never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = dict(model.metadata)
    metadata.setdefault("versions", library_versions())
    archive = {"format": FORMAT, "model": model.pipeline, "metadata": metadata}
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            skops.io.dump(archive, f, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load(path: str | Path = DEFAULT_PATH) -> SpamModel:
    """Load a model file, trusting only TRUSTED_TYPES; ModelFileError otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the model file: {exc.strerror}") from exc
    try:
        untrusted = set(skops.io.get_untrusted_types(data=data)) - set(TRUSTED_TYPES)
        if untrusted:
            raise ModelFileError(
                f"{path}: the model file names types that are not trusted: "
                f"{', '.join(sorted(untrusted))}"
            )
        archive = skops.io.loads(data, trusted=list(TRUSTED_TYPES))
    except ModelFileError:
        raise
    except Exception as exc:  # a damaged or foreign archive: skops raises many kinds
        raise ModelFileError(f"{path}: not a readable model file: {exc}") from exc
    if not isinstance(archive, dict) or archive.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a SecGate spam model file ({FORMAT})")
    pipeline, metadata = archive.get("model"), archive.get("metadata")
    if not isinstance(pipeline, Pipeline) or not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: the model file lacks its model or metadata")
    trained_with = metadata.get("versions", {}).get("scikit-learn")
    if trained_with != sklearn.__version__:
        log.warning(
            "spam model %s was saved by scikit-learn %s, this is %s: retrain if scores look off",
            path,
            trained_with,
            sklearn.__version__,
        )
    return SpamModel(pipeline, metadata)


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "skops": skops.__version__,
    }
