"""How well the chat reads people, offline: held-out accuracy (each set written by someone who
never saw the parser, scored on its own), training accuracy (the project's phrasing table and
the classifier's own corpus) and answers built on a guessed entity, each printed separately.
Set 2's first score, before any change made from reading it, is printed beside its score now.

    python bench/chat_understanding.py [--json bench/results/chat_understanding.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agent import heldout, phrasing_table  # noqa: E402

from agent.classifier import corpus, shared  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/chat_understanding.json")
    parser.add_argument(
        "--show-misses",
        action="store_true",
        help="print each missed message (off by default: a set kept unread stays unread)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    model = shared()
    trained_s = time.perf_counter() - started
    pairs = corpus()
    corpus_right = sum(model.guess(text).kind == kind for kind, text in pairs)
    table = phrasing_table.evaluate(phrasing_table.load())
    held = {path.name: heldout.evaluate(heldout.load(path)) for path in heldout.SETS}
    first_right, first_total = heldout.HELDOUT2_FIRST

    rows = [
        *((f"held-out ({name})", score.right, score.total) for name, score in held.items()),
        (f"held-out ({heldout.HELDOUT2.name}), first score", first_right, first_total),
        ("training: phrasing table (rules)", table.total - len(table.misses), table.total),
        ("training: classifier corpus", corpus_right, len(pairs)),
    ]
    print(f"{'set':46} {'right':>7} {'total':>7} {'accuracy':>9}")
    for name, right, total in rows:
        print(f"{name:46} {right:7} {total:7} {right / total:9.1%}")
    for name, score in held.items():
        print(
            f"answers built on a guessed entity ({name}): {len(score.guessed)} "
            f"(counting any model the label leaves out: {len(score.guessed_by_label)})"
        )
    print(f"classifier trained in {trained_s:.2f} s on {len(pairs)} phrasings")
    for name, score in held.items() if args.show_misses else ():
        for item, got in score.misses:
            print(f"miss {name} {item.id}: {item.text!r} -> {got}")
    result = {
        "heldout": {
            name: {
                "right": score.right,
                "total": score.total,
                "guessed": len(score.guessed),
                "guessed_by_label": len(score.guessed_by_label),
                "misses": [item.id for item, _ in score.misses],
            }
            for name, score in held.items()
        },
        "heldout2_first": {"right": first_right, "total": first_total},
        "phrasing_table": {"right": table.total - len(table.misses), "total": table.total},
        "classifier_corpus": {"right": corpus_right, "total": len(pairs)},
        "classifier_train_s": round(trained_s, 3),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
