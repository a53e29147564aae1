"""`python -m secgate spam-model train|evaluate` (CONTRACT §3).

- `train [--data FILE]`: retrain from a labelled file (default: the SMS Spam
  Collection beside the checkout), write the model file (SECGATE_SPAM_MODEL_PATH,
  default models/spam-model.skops) and its card (the same name, .md) atomically, print
  the held-out metrics as one JSON line. A progress bar on stderr counts the fits.
- `evaluate --data FILE [--transactional]`: score FILE with the model in use and print
  one JSON line: n, accuracy, spam_caught, ham_blocked, mcc, msgs_per_s (and the hold
  figures), at SECGATE_SPAM_REJECT_SCORE / SECGATE_SPAM_HOLD_SCORE, or with
  `--transactional` at the thresholds of transactional sender IDs
  (SECGATE_SPAM_TRANSACTIONAL_*). A progress bar counts messages.

scikit-learn is imported only when one of these runs: other commands start fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from secgate.settings import PROJECT_ROOT, Settings

DEFAULT_CORPUS = (
    PROJECT_ROOT.parent / "shared" / "data" / "sms-spam-collection" / "SMSSpamCollection"
)


class CommandError(Exception):
    """Stops a spam-model command; the message is shown as it is (one line)."""


def add_parser(commands: Any) -> None:
    """Add `spam-model` and its subcommands to the CLI's subparsers."""
    spam_model = commands.add_parser(
        "spam-model", help="train or evaluate the content spam model"
    ).add_subparsers(title="spam-model commands", metavar="COMMAND", required=True)
    train = spam_model.add_parser(
        "train",
        help="retrain the model from a labelled file, write it under models/, print its metrics",
        description="Retrain the content model: duplicates removed, a stratified 75/25 split "
        "(seed 42), hyper-parameters and thresholds chosen by 10-fold cross-validation on the "
        "75 %%, measured once on the 25 %%. Writes the model file and its card, and prints "
        "the held-out metrics as one JSON line.",
    )
    train.add_argument(
        "--data",
        help="labelled file, one `ham|spam<TAB>text` a line (default: the SMS Spam "
        "Collection at ../shared/data/sms-spam-collection/SMSSpamCollection)",
    )
    train.set_defaults(run=run_train)
    evaluate = spam_model.add_parser(
        "evaluate",
        help="print one JSON line with the metrics of the model in use on a labelled file",
    )
    evaluate.add_argument("--data", required=True, help="labelled file, `ham|spam<TAB>text`")
    evaluate.add_argument(
        "--transactional",
        action="store_true",
        help="judge at the thresholds of transactional sender IDs "
        "(SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE / _HOLD_SCORE) instead of the default ones",
    )
    evaluate.set_defaults(run=run_evaluate)


def run_train(args: argparse.Namespace, settings: Settings) -> None:
    from tqdm import tqdm

    from secgate.spam_model import card, corpus, model_file, train

    data = Path(args.data) if args.data else DEFAULT_CORPUS
    if args.data is None and not data.exists():
        raise CommandError(f"--data: no file given and the default corpus {data} is missing")
    try:
        messages = corpus.read_labelled(data)
        supplement = corpus.read_supplement()
    except corpus.CorpusError as exc:
        raise CommandError(str(exc)) from exc
    fits = len(train.CANDIDATES) * train.CV_FOLDS + 1
    with tqdm(total=fits, desc="training", unit="fit", file=sys.stderr, mininterval=0.5) as bar:
        try:
            result = train.train(messages, supplement, progress=bar.update)
        except corpus.CorpusError as exc:
            raise CommandError(f"{data}: {exc}") from exc
    path = settings.spam_model_path
    metadata = result.metadata()
    metadata["data"] = data.name
    # Recorded here, not only by save(), so that the card lists them too.
    metadata["versions"] = model_file.library_versions()
    try:
        model_file.save(model_file.SpamModel(result.model, metadata), path)
        card.write(card.render(metadata, path.name), path.with_suffix(".md"))
    except OSError as exc:
        raise CommandError(f"cannot write the model under {path.parent}: {exc.strerror}") from exc
    chosen = {
        "SECGATE_SPAM_REJECT_SCORE": result.chosen.default.thresholds.reject,
        "SECGATE_SPAM_HOLD_SCORE": result.chosen.default.thresholds.hold,
        "SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE": result.chosen.transactional.thresholds.reject,
        "SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE": result.chosen.transactional.thresholds.hold,
    }
    in_use = {
        "SECGATE_SPAM_REJECT_SCORE": settings.spam_reject_score,
        "SECGATE_SPAM_HOLD_SCORE": settings.spam_hold_score,
        "SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE": settings.spam_transactional_reject_score,
        "SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE": settings.spam_transactional_hold_score,
    }
    if chosen != in_use:
        print(
            "the new model's thresholds differ from the settings; to use them, set "
            + ", ".join(f"{name}={value}" for name, value in chosen.items()),
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "model": str(path),
                "card": str(path.with_suffix(".md")),
                "reject_score": chosen["SECGATE_SPAM_REJECT_SCORE"],
                "hold_score": chosen["SECGATE_SPAM_HOLD_SCORE"],
                "transactional_reject_score": chosen["SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE"],
                "transactional_hold_score": chosen["SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE"],
                "training_seconds": metadata["training_seconds"],
                "held_out": metadata["held_out_metrics"],
            }
        )
    )


def run_evaluate(args: argparse.Namespace, settings: Settings) -> None:
    from tqdm import tqdm

    from secgate.spam_model import corpus, model_file
    from secgate.spam_model.evaluate import evaluate

    try:
        messages = corpus.read_labelled(args.data)
    except corpus.CorpusError as exc:
        raise CommandError(str(exc)) from exc
    try:
        model = model_file.load(settings.spam_model_path)
    except model_file.ModelFileError as exc:
        raise CommandError(str(exc)) from exc
    texts, labels = corpus.texts_and_labels(messages)
    if args.transactional:
        reject, hold = (
            settings.spam_transactional_reject_score,
            settings.spam_transactional_hold_score,
        )
    else:
        reject, hold = settings.spam_reject_score, settings.spam_hold_score
    with tqdm(
        total=len(texts), desc="scoring", unit="msg", file=sys.stderr, mininterval=0.5
    ) as bar:
        result = evaluate(
            model.scores,
            texts,
            labels,
            reject,
            hold,
            progress=bar.update,
        )
    m = result.metrics
    print(
        json.dumps(
            {
                "n": m.n,
                "accuracy": m.accuracy,
                "spam_caught": m.spam_caught,
                "ham_blocked": m.ham_blocked,
                "mcc": m.mcc,
                "msgs_per_s": result.msgs_per_s,
                "precision": m.precision,
                "spam_caught_with_hold": m.spam_caught_with_hold,
                "ham_held": m.ham_held,
                "confusion": {
                    "spam_rejected": m.true_positive,
                    "spam_passed_or_held": m.false_negative,
                    "ham_rejected": m.false_positive,
                    "ham_passed_or_held": m.true_negative,
                },
                "reject_score": reject,
                "hold_score": hold,
            }
        )
    )
