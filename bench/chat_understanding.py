"""How well the chat reads people, offline: held-out accuracy (a set written by someone who
never saw the parser), training accuracy (the project's phrasing table and the classifier's
own corpus) and answers built on a guessed entity, each printed separately.

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
    args = parser.parse_args()

    started = time.perf_counter()
    model = shared()
    trained_s = time.perf_counter() - started
    pairs = corpus()
    corpus_right = sum(model.guess(text).kind == kind for kind, text in pairs)
    table = phrasing_table.evaluate(phrasing_table.load())
    held = heldout.evaluate(heldout.load())

    rows = [
        ("held-out (chat_heldout.jsonl)", held.right, held.total),
        ("training: phrasing table (rules)", table.total - len(table.misses), table.total),
        ("training: classifier corpus", corpus_right, len(pairs)),
    ]
    print(f"{'set':40} {'right':>7} {'total':>7} {'accuracy':>9}")
    for name, right, total in rows:
        print(f"{name:40} {right:7} {total:7} {right / total:9.1%}")
    print(f"answers built on a guessed entity (held-out): {len(held.guessed)}")
    print(f"classifier trained in {trained_s:.2f} s on {len(pairs)} phrasings")
    for item, got in held.misses:
        print(f"miss {item.id}: {item.text!r} -> {got}")
    result = {
        "heldout": {"right": held.right, "total": held.total, "guessed": len(held.guessed)},
        "phrasing_table": {"right": table.total - len(table.misses), "total": table.total},
        "classifier_corpus": {"right": corpus_right, "total": len(pairs)},
        "classifier_train_s": round(trained_s, 3),
        "misses": [item.id for item, _ in held.misses],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
