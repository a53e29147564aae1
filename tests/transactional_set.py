"""The transactional test set: one-time codes, bank and delivery notices in English and
Arabic that every pre-send check must let through (tests/checks/data/transactional_en_ar.txt).

Read by the content-rule, spam-model and pipeline tests, and by the test that keeps the
model's training supplement from copying it (tests/spam_model/test_spam_supplement.py).
"""

from __future__ import annotations

import re
from pathlib import Path

TRANSACTIONAL = Path(__file__).parent / "checks" / "data" / "transactional_en_ar.txt"


def read_messages(path: Path = TRANSACTIONAL) -> list[str]:
    """One message a line; "#" lines are comments; "\\n" and "\\uXXXX" escapes."""
    messages = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        line = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), line)
        messages.append(line.replace("\\n", "\n"))
    return messages
