"""A small text classifier for what kind of request a message is, for messages the rules
do not place: TF-IDF over words and character n-grams with a linear model, trained on the
phrasing corpus shipped with the package (``agent/data/intent_corpus.tsv``) the first time
it is needed (well under a second). It only names a kind; the rules still read names,
versions and stages against the registry, so it can never invent an entity.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

from agent.intents import RequestKind

Kind = Literal[RequestKind, "clarify"]
#: Stand-ins for a model name in the corpus: the name itself is never the signal.
SAMPLE_NAMES = ("digits", "mnist-classifier", "fraud-detector", "churn_model", "resnet50")


@dataclass(frozen=True)
class Guess:
    kind: Kind
    confidence: float


def templates() -> list[tuple[Kind, str]]:
    """The corpus as written: (kind, text) pairs, a model's name as ``{m}``."""
    text = resources.files("agent").joinpath("data/intent_corpus.tsv").read_text("utf-8")
    pairs: list[tuple[Kind, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, phrase = line.split("\t", 1)
        pairs.append((cast(Kind, kind), phrase))
    return pairs


def corpus() -> list[tuple[Kind, str]]:
    """(kind, text) pairs, with ``{m}`` filled by each sample name."""
    pairs: list[tuple[Kind, str]] = []
    for kind, phrase in templates():
        names = SAMPLE_NAMES if "{m}" in phrase else ("",)
        pairs += [(kind, phrase.replace("{m}", name)) for name in names]
    return pairs


class IntentClassifier:
    def __init__(self, pairs: list[tuple[Kind, str]]) -> None:
        # scikit-learn is imported here, not at import time: the chat starts without it.
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import FeatureUnion, make_pipeline

        features = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
                ),
            ]
        )
        # Logistic loss by SGD: probabilities like logistic regression, trained in under a
        # second on a loaded machine (lbfgs took ten); fixed seed, same model every run.
        model = SGDClassifier(loss="log_loss", alpha=1e-4, random_state=0)
        self._pipeline: Any = make_pipeline(features, model)
        self._pipeline.fit([text for _, text in pairs], [kind for kind, _ in pairs])
        self._examples: list[tuple[Kind, str]] = []
        self._vectors: Any = None

    def guess(self, text: str) -> Guess:
        return self.ranked(text)[0]

    def ranked(self, text: str) -> list[Guess]:
        """Every kind, most likely first."""
        probabilities = self._pipeline.predict_proba([text])[0]
        order = probabilities.argsort()[::-1]
        classes = self._pipeline.classes_
        return [Guess(cast(Kind, str(classes[i])), float(probabilities[i])) for i in order]

    def index(self, examples: list[tuple[Kind, str]]) -> None:
        """The examples ``nearest`` picks from (the same features as the kinds)."""
        self._examples = examples
        self._vectors = self._pipeline[0].transform([text for _, text in examples])

    def nearest(self, text: str, k: int) -> list[tuple[Kind, str]]:
        """The ``k`` indexed examples most like ``text`` (cosine of the features), most
        alike first."""
        if self._vectors is None:
            return []
        scores = (self._vectors @ self._pipeline[0].transform([text]).T).toarray().ravel()
        return [self._examples[i] for i in scores.argsort()[::-1][:k]]


@functools.cache
def shared() -> IntentClassifier:
    """The classifier trained on the shipped corpus (once per process); its examples
    indexed once each, a model's name filled by turns."""
    classifier = IntentClassifier(corpus())
    examples = [
        (kind, phrase.replace("{m}", SAMPLE_NAMES[i % len(SAMPLE_NAMES)]))
        for i, (kind, phrase) in enumerate(templates())
    ]
    classifier.index(examples)
    return classifier
