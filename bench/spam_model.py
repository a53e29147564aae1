"""The content spam model's speed, in this process on one core (issue 4 aims: at least
20,000 messages/s in batches, p99 at most 2 ms for one message).

    .venv/bin/python bench/spam_model.py [--data FILE] [--batch 1000] [--rounds 5]

- batch: the shipped model (SECGATE_SPAM_MODEL_PATH) scores every message of FILE
  (default: the SMS Spam Collection) in batches of --batch, as
  `SpamModelCheck.score_batch` does; messages/s of the best and the median round.
- single: each message scored alone, as `SpamModelCheck.check` does on the event loop;
  p50, p99 and max of the per-message times (two passes over the first 2,000).
- hop: what handing one message to a worker thread and back costs (asyncio.to_thread
  of a no-op), p50 and p99: what `check` would add if it left the event loop.
- baseline: the same texts lower-cased and split into words, no model (the least any
  content check does), in the same batches, its rounds alternating with the model's;
  the batch figure is also printed as a ratio to it, which moves less from machine to
  machine than messages/s do.

The process is pinned to one CPU (os.sched_setaffinity) so that numpy cannot spread.
It prints one line per figure and exits 0; missing an aim is printed, not a failure
(speed depends on the machine, and other load on it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from secgate.settings import Settings
from secgate.spam_model.commands import DEFAULT_CORPUS
from secgate.spam_model.corpus import read_labelled
from secgate.spam_model.model_file import load

AIM_MSGS_PER_S = 20_000
AIM_P99_MS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_CORPUS))
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    model = load(Settings.from_env().spam_model_path)
    texts = [m.text for m in read_labelled(args.data)]
    print(f"model: {Settings.from_env().spam_model_path}; {len(texts)} messages, one CPU")

    model.scores(texts[: args.batch])  # warm up
    rates, baseline_rates = [], []
    for _ in range(args.rounds):
        rates.append(_rate(model.scores, texts, args.batch))
        baseline_rates.append(_rate(_split_words, texts, args.batch))
    best, median = max(rates), statistics.median(rates)
    baseline = statistics.median(baseline_rates)
    print(
        f"batch of {args.batch}: {best:,.0f} msgs/s best, {median:,.0f} median "
        f"(aim ≥ {AIM_MSGS_PER_S:,})"
    )
    print(
        f"baseline (lower-case and split, no model): {baseline:,.0f} msgs/s median; "
        f"the model's median is ×{median / baseline:.3f} of it"
    )

    sample = texts[:2000]
    times = []
    for _ in range(2):
        for text in sample:
            began = time.perf_counter()
            model.scores([text])
            times.append(time.perf_counter() - began)
    p50, p99 = _ms(times, 0.50), _ms(times, 0.99)
    print(
        f"single: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(times) * 1e3:.3f} ms "
        f"(aim p99 ≤ {AIM_P99_MS} ms)"
    )

    hops = asyncio.run(_thread_hops(2000))
    print(f"thread hop: p50 {_ms(hops, 0.50):.3f} ms, p99 {_ms(hops, 0.99):.3f} ms")
    return 0


def _rate(score: Callable[[list[str]], object], texts: list[str], batch: int) -> float:
    """Messages per second of one pass over `texts` in batches."""
    began = time.perf_counter()
    for start in range(0, len(texts), batch):
        score(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - began)


def _split_words(texts: list[str]) -> list[list[str]]:
    return [text.lower().split() for text in texts]


async def _thread_hops(count: int) -> list[float]:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        await asyncio.to_thread(int)
        times.append(time.perf_counter() - began)
    return times


def _ms(times: list[float], quantile: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1e3


if __name__ == "__main__":
    sys.exit(main())
