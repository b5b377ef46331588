"""How the local completion rules do on the labelled spoken answers, and how fast they are.

For each pause (ConversationRelay's ~1 s end of speech, Gather's 3 s, a whole silent
turn) prints the confusion matrix of "moves on" (complete with confidence above
COMPLETE_THRESHOLD) against the label, lists the trailing-off answers it would cut
off, then the per-call time of ``LocalCompletionChecker.judge`` (median and p95 over
several runs of the whole set).

    .venv/bin/python bench/completion_local.py [--runs 30] [--pauses 0.8 1.5 3 9]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.completion import should_advance  # noqa: E402
from services.completion.local import LocalCompletionChecker  # noqa: E402
from tests.services.spoken_answers import SpokenAnswer, load  # noqa: E402


def confusion(rules: LocalCompletionChecker, items: list[SpokenAnswer], pause: float) -> None:
    """Print the matrix for one pause and the answers it gets wrong."""
    cells = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    cut_off, kept_waiting = [], []
    for item in items:
        moves_on = should_advance(
            rules.judge(question=item.question, answer=item.answer, pause_seconds=pause)
        )
        cells[(item.complete, moves_on)] += 1
        if moves_on and not item.complete:
            cut_off.append(item.answer)
        elif item.complete and not moves_on:
            kept_waiting.append(item.answer)
    done = cells[(True, True)] + cells[(True, False)]
    trailing = cells[(False, True)] + cells[(False, False)]
    print(f"\npause {pause:.1f} s            moves on   keeps listening")
    print(f"  complete   ({done:3d})   {cells[(True, True)]:8d}   {cells[(True, False)]:15d}")
    print(f"  trailing   ({trailing:3d})   {cells[(False, True)]:8d}   {cells[(False, False)]:15d}")
    print(
        f"  complete recognised: {cells[(True, True)] / max(done, 1):.0%}; cut off: {len(cut_off)}"
    )
    for answer in cut_off:
        print(f"    CUT OFF: {answer!r}")
    if kept_waiting and pause >= 3.0:
        print(f"    kept waiting ({len(kept_waiting)}): " + ", ".join(map(repr, kept_waiting)))


def timing(rules: LocalCompletionChecker, items: list[SpokenAnswer], runs: int) -> None:
    """Per-call time over `runs` passes of the whole set."""
    per_call = []
    for _ in range(runs):
        start = time.perf_counter()
        for item in items:
            rules.judge(question=item.question, answer=item.answer, pause_seconds=item.pause)
        per_call.append((time.perf_counter() - start) / len(items))
    per_call.sort()
    p95 = per_call[min(len(per_call) - 1, round(0.95 * (len(per_call) - 1)))]
    print(
        f"\nper call over {runs} runs of {len(items)} answers: "
        f"median {statistics.median(per_call) * 1e6:.1f} us, p95 {p95 * 1e6:.1f} us"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.8, 1.5, 3.0, 9.0])
    args = parser.parse_args()
    items = load()
    rules = LocalCompletionChecker()
    complete = sum(i.complete for i in items)
    print(
        f"{len(items)} labelled answers: {complete} complete, {len(items) - complete} trailing off"
    )
    for pause in args.pauses:
        confusion(rules, items, pause)
    timing(rules, items, args.runs)


if __name__ == "__main__":
    main()
