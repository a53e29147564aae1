"""The model card (models/spam-model.md), written by `spam-model train` from what the
training recorded, so that the card and the model file never disagree."""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from secgate.spam_model import train

CITATION = (
    'T. A. Almeida, J. M. Gómez Hidalgo, A. Yamakami, "Contributions to the Study of SMS '
    'Spam Filtering: New Collection and Results", ACM DocEng 2011 (doi:10.1145/2034691.2034742); '
    "UCI Machine Learning Repository, dataset 228"
)


def _candidates_table(metadata: Mapping[str, Any]) -> str:
    rows = metadata.get("cv_candidates") or []
    if not rows:
        return ""
    lines = [
        "",
        "Every candidate, out of fold (collection figures at that candidate's own thresholds;",
        "the last column: the supplement's spam rejected at the transactional ones):",
        "",
        "| C | length weight | word weight | reject | spam rejected | MCC "
        "| transactional reject | transactional hold | spam rejected | MCC "
        "| supplement spam rejected |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['svm_c']:g} | {row['length_weight']:g} | {row['word_weight']:g} "
            f"| {row['reject_score']} | {_percent(row['spam_caught'])} | {row['mcc']:.3f} "
            f"| {row['transactional_reject_score']} | {row['transactional_hold_score']} "
            f"| {_percent(row['transactional_spam_caught'])} "
            f"| {row['transactional_mcc']:.3f} "
            f"| {_percent(row['supplement_spam_caught'])} |"
        )
    return "\n".join(lines) + "\n"


def _grid() -> str:
    def values(name: str) -> str:
        return ", ".join(f"{v:g}" for v in sorted({getattr(c, name) for c in train.CANDIDATES}))

    return (
        f"C in {values('svm_c')} × length weight in {values('length_weight')} × "
        f"word weight in {values('word_weight')}"
    )


def render(metadata: Mapping[str, Any], model_name: str) -> str:
    stats = metadata["corpus"]
    held = metadata["held_out_metrics"]
    held_tx = metadata["held_out_transactional_metrics"]
    cv = metadata["cv_metrics"]
    cv_tx = metadata["cv_transactional_metrics"]
    supplement = metadata["supplement_cv_metrics"]
    supplement_tx = metadata["supplement_cv_transactional_metrics"]
    versions = metadata.get("versions") or {}
    trained = metadata.get("trained_at") or datetime.date.today().isoformat()
    reject, hold = metadata["reject_score"], metadata["hold_score"]
    reject_tx, hold_tx = (
        metadata["transactional_reject_score"],
        metadata["transactional_hold_score"],
    )
    held_percent = round(100 * metadata["test_fraction"])
    floor_note = (
        f"\nThe reject threshold is the floor ({train.MIN_REJECT_SCORE}): out of fold, less "
        "than the budget of ham scored above it.\n"
        if reject == train.MIN_REJECT_SCORE
        else ""
    )
    return f"""# Content spam model: `{model_name}`

Trained {trained} by `python -m secgate spam-model train` from `{metadata.get("data", "?")}`
in {metadata["training_seconds"]} s. This card is written by that command; retraining
rewrites it.

## What it does

Gives each SMS a spam score, a calibrated probability in 0..1. The pre-send check
(`secgate/checks/spam_model.py`) rejects a message scoring at or above
`SECGATE_SPAM_REJECT_SCORE` with ERR032 and holds one at or above
`SECGATE_SPAM_HOLD_SCORE` for staff review. A message from one of the account's
transactional sender IDs (registered so by staff, for one-time codes and notices:
`sender add --transactional`) is judged at `SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE` and
`SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE` instead (below: why).

## Data

- **SMS Spam Collection v.1**: {CITATION}. {stats["messages_read"]} messages read.
- **Deduplicated before the split**: two messages are twins when they are equal after
  NFKC, case folding, every run of digits written as one `0`, and every character that
  is not a letter or digit removed (so "Ok..." and "ok", or two copies of a campaign with
  different numbers, are one). The first of each group is kept; a group whose twins
  disagree on the label would be dropped whole. Removed: {stats["duplicates_removed"]}
  twins, {stats["conflicting_groups_removed"]} conflicting groups; kept:
  {stats["distinct_messages"]} ({stats["distinct_spam"]} spam, {stats["distinct_ham"]} ham).
- **Split**: stratified, {100 - held_percent}/{held_percent}, seed {metadata["split_seed"]}:
  {stats["training_messages"]} for training ({stats["training_spam"]} spam),
  {stats["held_out_messages"]} held out ({stats["held_out_spam"]} spam). No message of
  the held-out part has a twin in the training part (tests/spam_model/test_spam_corpus.py).
- **Supplement** (`secgate/spam_model/data/supplement.txt`, written for this project):
  {stats["supplement_ham"]} transactional ham (one-time codes, bank, delivery, telecom,
  government and appointment notices, many with a link as most of today's are: e-invoices,
  receipts, statements, tracking, bookings, insurance claims, e-services; English and
  Arabic) and {stats["supplement_spam"]}
  present-day scam spam (phishing links, fake parcel fees, fake bank verification, fake
  fines, prizes, loan and job scams, English and Arabic), composed from templates
  with random fills (`make_supplement.py` beside it, seeded; no template copies a message
  of the transactional test set
  tests/checks/data/transactional_en_ar.txt, which tests/spam_model/test_spam_supplement.py
  checks). The 2011 collection has
  neither, and without them the model rejected one-time codes ("Your code is 483920":
  score 1.0). It joins the fits with weight {metadata.get("supplement_weight", 1.0)}; twins of
  collection messages are dropped from it. In cross-validation it is cut into the same
  {metadata["cv_folds"]} folds as the training part, a whole template to a fold, and scored
  out of fold, so that the
  thresholds answer for transactional ham too (below); it is never part of the held-out
  figures, which are the collection's own.

## Model

1. Normalisation (`secgate/spam_model/features.py`): NFKC; invisible and bidi control
   characters removed; accents and Arabic diacritics dropped, Arabic letter variants
   folded, Arabic-Indic digits made ASCII; Cyrillic/Greek look-alikes in Latin words
   made Latin; lower case; look-alike digits and symbols inside words read as letters
   ("fr33" → free, "c4sh" → cash, "v!agra" → viagra); letters repeated 3+ times kept
   twice; links → `URLTOKEN` followed by the name of the site ("https://www.aramex.com/t/1"
   → `URLTOKEN aramex`, "bit.ly/x" → `URLTOKEN bit`: in the 2011 collection nearly
   every link is spam, and a bare placeholder made every courier's or bank's link
   spam-like; whether a link is dangerous is the link rules' work), e-mail addresses →
   `EMAILTOKEN`; currency signs and codes → `¤`; every digit → `0` (a number keeps its
   shape, not its value: no short code or phone number can be memorised).
2. Features: character 2- to 5-grams within words and word 1- and 2-grams, each hashed
   into 2^18 columns (numpy, no vocabulary) and tf-idf weighted (sublinear tf, l2 per
   block), the word block weighted {metadata.get("word_weight", 1.0)} against the character
   block; the standardised log length of the raw message, weight
   {metadata["length_weight"]}.
3. Classifier: `LinearSVC(C={metadata["svm_c"]}, class_weight="balanced")`, calibrated by
   `CalibratedClassifierCV(method="sigmoid", cv={metadata.get("calibration_folds", 5)},
   ensemble=False)`
   (Platt scaling on cross-validated decision values; one SVM).

## How it was chosen (cross-validation on the training part only)

{metadata["cv_folds"]}-fold stratified cross-validation (seed {metadata["cv_seed"]}) on the
training part gives every training message an out-of-fold score; the supplement's
templates are dealt into the same folds (each class's templates shuffled with the same
seed; all the messages of a template in one fold), and each fold's model, fitted without
that fold of either, scores it: a supplement message is scored by a model that saw no
message of its template, as a new kind of transactional message would be. For each
candidate ({_grid()}; the neighbourhood that mattered of an earlier grid of 18, C in 1, 3 ×
length weight in 0, 0.1, 0.3 × word weight in 1, 2, 3, where C = 3 scored within a
message of C = 1 and no length feature or word weight 1 cost 2 to 5 points of spam
caught) two pairs of thresholds are read off those scores:

- **default**, for any sender ID: reject = the lowest score (step 0.001) at or above
  which at most {100 * train.MAX_HAM_REJECTED:g} % of the collection's training ham lies
  (half the 0.2 % target, a margin for unseen traffic), never below
  {train.MIN_REJECT_SCORE}; hold = the same for at most
  {100 * train.MAX_HAM_HELD_OR_REJECTED:g} % of the collection's ham held or rejected;
- **transactional**, for the account's transactional sender IDs: the same, and also at
  most {100 * train.MAX_SUPPLEMENT_HAM_REJECTED:g} % of the supplement's transactional ham
  rejected and at most {100 * train.MAX_SUPPLEMENT_HAM_HELD_OR_REJECTED:g} % held or
  rejected.

Why two pairs: the collection's spam (premium-rate offers full of numbers, links and
"reply STOP") reads like today's notices. Out of fold, at the default thresholds,
{_percent(supplement["ham_blocked"])} of the supplement's transactional ham
({supplement["false_positive"]} of {supplement["ham"]}, all of templates the model had not
seen) would be rejected: order and delivery notices with a tracking link or a "Reply
STOP" footer, top-up and payment receipts. A refused one-time code or notice is lost to
its user, so a sender ID that staff registered as transactional gets thresholds that
reject none of them ({_percent(supplement_tx["ham_blocked"])} rejected,
{_percent(supplement_tx["ham_held_or_blocked"])} held or rejected), at a price in spam
caught that the figures below show. Because whole templates are held out, the
transactional reject threshold is set by the one unseen template the model finds most
spam-like, and moves with which templates share a fold.

The candidate with the best MCC of its reject decision on the collection at its
transactional thresholds (the binding ones) wins. Chosen: C = {metadata["svm_c"]},
length weight {metadata["length_weight"]}, word weight {metadata.get("word_weight", 1.0)}.
Out of fold on the collection it rejected {_percent(cv["spam_caught"])} of spam and
{_percent(cv["ham_blocked"])} of ham (MCC {cv["mcc"]:.3f}) at the default thresholds, and
{_percent(cv_tx["spam_caught"])} of spam and {_percent(cv_tx["ham_blocked"])} of ham (MCC
{cv_tx["mcc"]:.3f}) at the transactional ones. On the supplement's scam spam, out of fold,
it rejected {_percent(supplement["spam_caught"])} at the default thresholds and
{_percent(supplement_tx["spam_caught"])} at the transactional ones.
{_candidates_table(metadata)}
## Thresholds

| setting | value |
|---|---|
| `SECGATE_SPAM_REJECT_SCORE` | {reject} |
| `SECGATE_SPAM_HOLD_SCORE` | {hold} |
| `SECGATE_SPAM_TRANSACTIONAL_REJECT_SCORE` | {reject_tx} |
| `SECGATE_SPAM_TRANSACTIONAL_HOLD_SCORE` | {hold_tx} |
{floor_note}
## Held-out figures (measured once)

On the {held["n"]} held-out messages ({held["spam"]} spam, {held["ham"]} ham), at each
pair of thresholds. "Caught" and "blocked" count rejections only; the last rows count
holds too. `python -m secgate spam-model evaluate --data FILE` on the held-out part
reproduces the first column, and with `--transactional` the second
(`tests/spam_model/test_spam_model_cli.py` checks it).

{_held_out_tables(held, held_tx)}
For comparison, the collection's paper (Table 7, a 70/30 split without deduplication)
reports its best method catching 83.10 % of spam at 0.18 % ham blocked (MCC 0.893).

## Versions

{", ".join(f"{name} {version}" for name, version in versions.items()) or "not recorded"}.

## Limitations

- The collection is English (British and Singaporean) SMS from before 2011. Arabic
  text is seen only through the small supplement: Arabic spam relies on the content
  rules (bad language, links, obfuscation), not on this model.
- Present-day traffic differs: transactional messages (codes, bank and delivery
  notices) look like 2011 spam (numbers, links, money); the supplement teaches the
  difference from templates, not from real traffic. Out of fold by template, it
  rejects only part of the supplement's scam spam whose template it has not seen (the
  figure above): present-day scams of a new kind are left partly to the content rules
  and to review. Review held messages and retrain on your own labelled traffic.
- The scores are calibrated on the training mixture; on traffic with another spam
  share the same score means another probability: choose thresholds on your own data.
- The model sees text only: sender, recipients and rate are the other checks' work.
  Only which thresholds apply depends on the sender: a notice sent from a sender ID
  that staff have not registered as transactional is judged at the default thresholds,
  which would refuse {_percent(supplement["ham_blocked"])} of the supplement's unseen
  kinds of notice (above). Register the sender IDs of codes and notices as
  transactional (`sender add --transactional`).

## Retraining

```
.venv/bin/python -m secgate spam-model train --data FILE   # FILE: ham|spam<TAB>text lines
.venv/bin/python -m secgate spam-model evaluate --data OTHER_FILE
```

`train` rewrites `{model_name}` and this card, and prints the new thresholds: set
`SECGATE_SPAM_REJECT_SCORE`, `SECGATE_SPAM_HOLD_SCORE` and their `_TRANSACTIONAL_` twins to
them (or change the defaults in `secgate/settings.py`). The model file is loaded with
skops, trusting only the types listed in `secgate/spam_model/model_file.py`.
"""


# The held-out table's rows: label, metric, shown as a share (else as MCC).
_HELD_OUT_ROWS = (
    ("accuracy", "accuracy", True),
    ("spam caught (rejected; recall)", "spam_caught", True),
    ("ham blocked (rejected)", "ham_blocked", True),
    ("MCC", "mcc", False),
    ("precision", "precision", True),
    ("spam rejected or held", "spam_caught_with_hold", True),
    ("ham held (not rejected)", "ham_held", True),
)


def _held_out_tables(held: Mapping[str, Any], held_tx: Mapping[str, Any]) -> str:
    def shown(metrics: Mapping[str, Any], key: str, share: bool) -> str:
        return _percent(metrics[key]) if share else f"{metrics[key]:.4f}"

    def counts(first: str, second: str) -> str:
        return f"{held[first]} ({held_tx[first]}) | {held[second]} ({held_tx[second]})"

    lines = ["| figure | default thresholds | transactional thresholds |", "|---|---|---|"]
    lines += [
        f"| {label} | {shown(held, key, share)} | {shown(held_tx, key, share)} |"
        for label, key, share in _HELD_OUT_ROWS
    ]
    lines += [
        "",
        "Confusion matrix of the reject decision at the default thresholds (transactional in",
        "brackets):",
        "",
        "| | rejected | not rejected |",
        "|---|---|---|",
        f"| spam | {counts('true_positive', 'false_negative')} |",
        f"| ham | {counts('false_positive', 'true_negative')} |",
    ]
    return "\n".join(lines) + "\n"


def _percent(share: float) -> str:
    return f"{100 * share:.2f} %"


def write(text: str, path: Path) -> None:
    """Write the card atomically."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
