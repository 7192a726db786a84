"""What every ServingBackend must do, run against a real server of each kind."""

from __future__ import annotations

import numpy as np
import pytest

from serving.backend import ServingBackend
from serving.errors import ServingError, ServingErrorCode


def check_two_versions(
    backend: ServingBackend, archives: dict[int, str], name: str, rows: np.ndarray
) -> None:
    """Load two versions, answer each, switch the default, refuse bad input, unload."""
    assert isinstance(backend, ServingBackend)
    assert backend.health().healthy
    for version in (1, 2):
        loaded = backend.load(archives[version], name, version)
        assert (loaded.model, loaded.version) == (name, str(version))
    backend.set_default(name, 1)
    assert backend.default_version(name) == "1"
    described = backend.describe(name)
    assert [v.version for v in described.versions] == ["1", "2"]
    assert described.default_version == "1"
    assert [v.status for v in described.versions] == ["READY", "READY"]
    assert name in {m.name for m in backend.list_models()}

    payload = {"inputs": rows.tolist()}
    answers = {v: backend.predict(name, payload, v) for v in (1, 2)}
    for version, answer in answers.items():
        assert answer.model_version == str(version)
        assert len(answer.predictions) == len(rows)
        assert all(p.probabilities is not None for p in answer.predictions)
    # Two differently trained versions: the answers differ somewhere.
    first = np.array([p.probabilities for p in answers[1].predictions])
    second = np.array([p.probabilities for p in answers[2].predictions])
    assert not np.allclose(first, second)
    assert backend.predict(name, payload).model_version == "1"

    backend.set_default(name, "2")
    assert backend.default_version(name) == "2"
    unversioned = backend.predict(name, payload)
    assert unversioned.model_version == "2"
    np.testing.assert_allclose(
        [p.probabilities for p in unversioned.predictions], second, atol=1e-6
    )

    with pytest.raises(ServingError) as bad:
        backend.predict(name, {"inputs": [[0.0] * 63]}, 2)
    assert bad.value.code is ServingErrorCode.INVALID_REQUEST
    assert "expects 64" in bad.value.message

    backend.unload(name, 1)
    assert [v.version for v in backend.describe(name).versions] == ["2"]
    with pytest.raises(ServingError) as gone:
        backend.predict(name, payload, 1)
    assert gone.value.code is ServingErrorCode.NOT_FOUND
    assert backend.predict(name, payload, 2).model_version == "2"
    assert backend.metrics_text().strip()
    backend.unload(name, 2)
