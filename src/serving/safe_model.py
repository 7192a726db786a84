"""Loading our safe model format and checking inputs: shared by every serving backend.

Used by the TorchServe handler (shipped next to it at the archive root as ``safe_model.py``)
and by KServe's model server (``serving.kserve``). Both load an MLflow model directory the
same way: ``load_model_dir`` refuses any model whose loading could run code (anything but
MLflow's pt2 export, see ``load_safety_problems``) unless the directory carries the trust
marker ``modelreg-trust.json``, reads the input shape and dtype from the model signature and
the task from ``modelreg-serving.json``. Request bodies (JSON)::

    {"inputs": [[x, ...], ...]}   {"instances": [[x, ...], ...]}   [[x, ...], ...]

A single row may be sent without the outer list. A row is nested exactly as the signature's
row shape, or flat. ``extract_rows`` + ``rows_to_array`` vet a body (ValueError with the
reason), ``ANSWERS[task]`` turns the model's output into one answer per row::

    {"class": 7, "probabilities": [...]}  |  {"embedding": [...]}  |  {"value": x}

Constraint: this module imports nothing from the ``serving`` package (a TorchServe worker
only has what the archive holds) and imports torch and mlflow only when a model is loaded
or run, so the safety check runs without them.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import pickletools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml  # type: ignore[import-untyped]  # no stubs installed

logger = logging.getLogger(__name__)

DEFAULT_MAX_ROWS = 1024
# Deeper rows are refused before recursing further (no signature has that many dimensions).
_MAX_NESTING = 32
# Errors a model raises on input it cannot take (pt2 guards raise AssertionError).
MODEL_INPUT_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, IndexError)


def input_spec_from_signature(signature: Any) -> tuple[tuple[int, ...] | None, np.dtype[Any]]:
    """(per-row shape or None if unknown, dtype) from an MLflow ModelSignature (or None)."""
    inputs = getattr(signature, "inputs", None)
    if inputs is None:
        return None, np.dtype(np.float32)
    if inputs.is_tensor_spec():
        specs = inputs.inputs
        if len(specs) != 1:
            raise ValueError(f"the handler supports one input tensor, the signature has {specs}")
        shape = tuple(int(d) for d in specs[0].shape)
        dtype = np.dtype(specs[0].type)
        if len(shape) < 2 or any(d < 1 for d in shape[1:]):
            return None, dtype
        return shape[1:], dtype
    # Column-based signature: one value per column, fed to the module as one float row.
    return (len(inputs.inputs),), np.dtype(np.float32)


def decode_body(request: dict[str, Any]) -> Any:
    """The JSON payload of one TorchServe request (already decoded, bytes or text)."""
    payload = request.get("body")
    if payload is None:
        payload = request.get("data")
    if isinstance(payload, bytes | bytearray):
        try:
            payload = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("body is not UTF-8 text; send JSON") from None
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not valid JSON: {exc}") from None
        except RecursionError:
            raise ValueError("body is nested too deeply") from None
    return payload


def extract_rows(payload: Any, row_shape: tuple[int, ...] | None) -> list[Any]:
    """The list of rows in ``payload``; a lone row is wrapped into a list of one."""
    if isinstance(payload, dict):
        keys = [key for key in ("inputs", "instances") if key in payload]
        if len(keys) != 1:
            raise ValueError('body must contain exactly one of "inputs" or "instances"')
        rows = payload[keys[0]]
        where = f'"{keys[0]}"'
    elif isinstance(payload, list):
        rows, where = payload, "body"
    else:
        raise ValueError(
            'body must be a JSON object with "inputs" or "instances", or a list of rows'
        )
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{where} must be a non-empty list of rows")
    if row_shape is not None and len(row_shape) == 1 and _is_number(rows[0]):
        rows = [rows]  # one flat row sent without the outer list
    return rows


def rows_to_array(
    rows: list[Any], row_shape: tuple[int, ...] | None, dtype: np.dtype[Any], max_rows: int
) -> np.ndarray[Any, Any]:
    """Validate ``rows`` against the signature and return them as one array (n, *row_shape)."""
    if len(rows) > max_rows:
        raise ValueError(f"too many rows: {len(rows)} > {max_rows}; split the request")
    flat_rows: list[list[float]] = []
    for index, row in enumerate(rows):
        values = _row_values(row, index, row_shape)
        if flat_rows and len(values) != len(flat_rows[0]):
            raise ValueError(f"row {index} has {len(values)} values, row 0 has {len(flat_rows[0])}")
        flat_rows.append(values)
    array = np.asarray(flat_rows, dtype=np.float64)
    if not np.isfinite(array).all():
        raise ValueError("inputs contain NaN or Infinity")
    if np.issubdtype(dtype, np.integer) and not np.array_equal(array, np.round(array)):
        raise ValueError(f"the model expects integers ({dtype.name}); got fractional values")
    shape = (len(rows), *(row_shape or (len(flat_rows[0]),)))
    return array.reshape(shape).astype(dtype)


def to_predictions(output: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """One ``{"class", "probabilities"}`` per row; logits are turned into probabilities."""
    if output.ndim != 2 or output.shape[1] < 2:
        raise ValueError(f"expected a (batch, classes) output, got shape {list(output.shape)}")
    probs = output.astype(np.float64)
    is_distribution = (probs >= 0).all() and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    if not is_distribution:
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
    return [{"class": int(row.argmax()), "probabilities": [float(v) for v in row]} for row in probs]


def to_embeddings(output: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """One ``{"embedding": [...]}`` per row (a feature extractor's vectors)."""
    if output.ndim != 2:
        raise ValueError(f"expected a (batch, dims) output, got shape {list(output.shape)}")
    return [{"embedding": [float(v) for v in row]} for row in output.astype(np.float64)]


def to_values(output: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    """One ``{"value": x}`` per row (``{"values": [...]}`` for a multi-output regressor)."""
    rows = output.astype(np.float64).reshape(len(output), -1)
    if rows.shape[1] == 1:
        return [{"value": float(row[0])} for row in rows]
    return [{"values": [float(v) for v in row]} for row in rows]


ANSWERS = {
    "classification": to_predictions,
    "feature-extraction": to_embeddings,
    "regression": to_values,
}


def task_of(model_dir: str | os.PathLike[str]) -> str:
    """The task the archive's serving marker names (classification without one)."""
    path = Path(model_dir) / SERVING_MARKER
    if not path.exists():
        return "classification"
    task = json.loads(path.read_text(encoding="utf-8")).get("task")
    if task not in TASKS:
        raise RuntimeError(f"{SERVING_MARKER} names an unknown task {task!r}")
    return str(task)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _row_values(row: Any, index: int, row_shape: tuple[int, ...] | None) -> list[float]:
    """The numbers of one row, nested exactly as the signature's row shape or sent flat."""
    values: list[float] = []
    shape = _nested_shape(row, values, _MAX_NESTING)
    if shape is None:
        raise ValueError(
            f"row {index} must be a list of numbers or of equal-length lists "
            "(got a non-numeric value, an empty or ragged list, or too deep a nesting)"
        )
    if row_shape is None or shape == row_shape:
        return values
    expected = math.prod(row_shape)
    if len(shape) == 1 and len(values) != expected:
        raise ValueError(
            f"row {index} has {len(values)} values; the model expects {expected} "
            f"(shape {list(row_shape)})"
        )
    if len(shape) > 1:
        flat = f" or a flat list of {expected} values" if len(row_shape) > 1 else ""
        raise ValueError(
            f"row {index} has shape {list(shape)}; the model expects rows of shape "
            f"{list(row_shape)}{flat}"
        )
    return values


def _nested_shape(value: Any, out: list[float], depth: int) -> tuple[int, ...] | None:
    """Shape of a regular nested list of numbers (appended to ``out``); None if not one."""
    if _is_number(value):
        out.append(float(value))
        return ()
    if not isinstance(value, list) or not value or depth == 0:
        return None
    inner = _nested_shape(value[0], out, depth - 1)
    for item in value[1:]:
        if inner is None or _nested_shape(item, out, depth - 1) != inner:
            return None
    return None if inner is None else (len(value), *inner)


# ----------------------------------------------------------------- load safety
#
# Only MLflow 3's pt2 export of a PyTorch module is loaded without a trust marker: every other
# layout MLflow can write runs code on load (pickle/cloudpickle, code_paths on sys.path, other
# loader modules). torch.export.load is not safe on a crafted pt2 archive either (pickled
# weights or constants, AOTInductor libraries, graph symbols it evaluates with sympy), so the
# archive's records are whitelisted too. Pure stdlib + PyYAML: archive.py runs this check
# without loading anything.

TRUST_MARKER = "modelreg-trust.json"
TRUST_MARKER_CONTENT = {"allow_code_on_load": True}
# {"task": ...} written by the archive from models.yaml: how to answer.
SERVING_MARKER = "modelreg-serving.json"
TASKS = frozenset({"classification", "regression", "feature-extraction"})
_ALLOW_PICKLE = "MLFLOW_ALLOW_PICKLE_DESERIALIZATION"
# Names the archive itself puts at its root; a model directory must not supply them.
RESERVED_NAMES = frozenset(
    {TRUST_MARKER, SERVING_MARKER, "mlflow_handler.py", "safe_model.py", "MAR-INF"}
)
# What TorchServe's extracted archive adds to the model directory (Python caches this handler).
_ARCHIVE_ROOT_NAMES = frozenset(
    {"mlflow_handler.py", "safe_model.py", "MAR-INF", "__pycache__", SERVING_MARKER}
)
# What MLflow 3 writes (and downloads) for a pt2 PyTorch model, none of it importable code.
_ROOT_FILES = frozenset(
    {
        "MLmodel",
        "conda.yaml",
        "python_env.yaml",
        "requirements.txt",
        "constraints.txt",
        "input_example.json",
        "serving_input_example.json",
        "registered_model_meta",
    }
)
_PYTORCH_KEYS = frozenset({"model_data", "pytorch_version", "code"})
_PYFUNC_KEYS = frozenset(
    {"loader_module", "python_version", "data", "pickle_module_name", "code", "env", "config"}
)
_PT2_RECORDS = re.compile(
    r"(archive_format|archive_version|byteorder|\.data/version|\.data/serialization_id"
    r"|models/\w+\.json|data/sample_inputs/\w+\.pt"
    r"|data/weights/\w+_weights_config\.json|data/weights/weight_\d+"
    r"|data/constants/\w+_constants_config\.json|data/constants/tensor_\d+)"
)
_RAW_PAYLOAD = re.compile(r"(weight|tensor)_\d+")
# Graph targets a plain module's export uses; anything else may be an arbitrary callable.
_GRAPH_TARGET = re.compile(
    r"torch\.ops\.aten\._?[a-z][a-z0-9_]*\.[a-zA-Z][A-Za-z0-9_]*|torch\.sym_[a-z]+"
    r"|_operator\.(add|sub|mul|truediv|floordiv|mod|pow|neg|eq|ne|lt|le|gt|ge|getitem)"
)
# torch parses shape expressions with sympy.sympify (an eval): allow names, not Python.
_SYMPY_TOKEN = re.compile(r"\s+|\d+(\.\d+)?|'[a-z]+\d+'|[A-Za-z]\w*|\*\*|//|[-+*/%(),<>=!]")
_SYMBOL = re.compile(r"[a-z]+\d+")
_SYMPY_NAMES = frozenset(
    {"Symbol", "Integer", "Rational", "Float", "True", "False", "oo", "positive", "integer"}
    | {"nonnegative", "real", "Max", "Min", "Abs", "Eq", "Ne", "Lt", "Le", "Gt", "Ge"}
    | {"And", "Or", "Not", "Mod", "PythonMod", "FloorDiv", "CeilDiv", "CleanDiv", "Where"}
    | {"ModularIndexing", "CeilToInt", "FloorToInt", "TruncToInt", "RoundToInt", "ToFloat"}
    | {"IntTrueDiv", "FloatTrueDiv", "PowByNatural", "FloatPow", "Identity"}
)
# The only globals torch.save writes for a tuple of plain tensors.
_PICKLE_GLOBALS = frozenset(
    {"torch._utils _rebuild_tensor_v2", "collections OrderedDict"}
    | {f"torch {kind}Storage" for kind in ("Float", "Double", "Half", "BFloat16", "Long")}
    | {f"torch {kind}Storage" for kind in ("Int", "Short", "Char", "Byte", "Bool")}
)


def is_trusted(model_dir: str | os.PathLike[str]) -> bool:
    """True if ``model_dir`` carries the marker an operator's trust decision writes."""
    try:
        content = json.loads((Path(model_dir) / TRUST_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # Strict: JSON 1 would compare equal to True.
    return isinstance(content, dict) and content.get("allow_code_on_load") is True


def load_safety_problems(
    model_dir: str | os.PathLike[str], *, archive_root: bool = False
) -> list[str]:
    """Why loading the MLflow model in ``model_dir`` could run code; empty if it cannot.

    ``archive_root``: ``model_dir`` is an extracted archive, which also holds the handler files.
    """
    root = Path(model_dir)
    allowed = _ARCHIVE_ROOT_NAMES if archive_root else frozenset()
    problems = _layout_problems(root, allowed) + _mlmodel_problems(root / "MLmodel")
    pt2 = root / "data" / "model.pt2"
    if not (root / "data").is_dir():
        problems.append("no data/ directory (where MLflow puts the pt2 export)")
    elif pt2.is_file():
        problems += _pt2_problems(pt2)
    return problems


def unsafe_model_message(model: str, version: object, problems: list[str]) -> str:
    """What is unsafe about ``model`` ``version`` and what to do about it."""
    return (
        f"refusing to serve model {model!r} version {version}: loading it could run code "
        f"from the registry ({'; '.join(problems)}). Re-log the model in MLflow's pt2 export "
        "format (mlflow.pytorch.log_model(model, name=..., input_example=<batch of >= 2>), "
        "serialization_format='pt2', the default), or have an operator mark this version "
        "trusted (its archive is then built with allow_code_on_load=True)"
    )


@contextlib.contextmanager
def _pickle_refused() -> Iterator[None]:
    """MLflow then also vets each pickled pt2 record with torch's weights_only loader."""
    previous = os.environ.get(_ALLOW_PICKLE)
    os.environ[_ALLOW_PICKLE] = "false"  # MLflow's default is true
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_ALLOW_PICKLE, None)
        else:
            os.environ[_ALLOW_PICKLE] = previous


def _layout_problems(root: Path, allowed: frozenset[str]) -> list[str]:
    problems = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name in allowed:
            continue
        if name == "code":
            problems.append("a code/ directory (code_paths, put on sys.path on load)")
        elif name in RESERVED_NAMES:
            problems.append(f"{name} (a name only the archive may use)")
        elif name == "data" and entry.is_dir() and not entry.is_symlink():
            problems += _data_dir_problems(entry)
        elif name not in _ROOT_FILES or not entry.is_file() or entry.is_symlink():
            # TorchServe puts the archive root on sys.path: an unknown file may be imported.
            problems.append(f"{name} (not part of an MLflow pt2 model directory)")
    return problems


def _data_dir_problems(data: Path) -> list[str]:
    names = sorted(p.name for p in data.iterdir())
    pt2 = data / "model.pt2"
    if names == ["model.pt2"] and pt2.is_file() and not pt2.is_symlink():
        return []
    if "model.pth" in names:
        return ["data/model.pth (a pickled PyTorch model, serialization_format='pickle')"]
    return [f"data/ holds {names}, not exactly model.pt2 (the pt2 export format)"]


def _mlmodel_problems(path: Path) -> list[str]:
    try:
        mlmodel = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        return [f"MLmodel cannot be read ({exc})"]
    flavors = mlmodel.get("flavors") if isinstance(mlmodel, dict) else None
    if not isinstance(flavors, dict) or not isinstance(flavors.get("pytorch"), dict):
        return ["MLmodel has no pytorch flavour"]
    problems = [
        f"flavour {name!r} (only pytorch and python_function are loaded)"
        for name in sorted(set(flavors) - {"pytorch", "python_function"})
    ]
    problems += _flavor_problems("pytorch", flavors["pytorch"], _PYTORCH_KEYS, "model_data")
    pyfunc = flavors.get("python_function")
    if pyfunc is not None:
        problems += _flavor_problems("python_function", pyfunc, _PYFUNC_KEYS, "data")
        if isinstance(pyfunc, dict) and pyfunc.get("loader_module") != "mlflow.pytorch":
            loader = pyfunc.get("loader_module")
            problems.append(f"python_function loader_module {loader!r} (not mlflow.pytorch)")
    return problems


def _flavor_problems(name: str, conf: Any, keys: frozenset[str], data_key: str) -> list[str]:
    if not isinstance(conf, dict):
        return [f"flavour {name} is not a mapping"]
    problems = [
        f"{name} key {key!r} (not in MLflow's pt2 layout)" for key in conf if key not in keys
    ]
    if conf.get("code") is not None:
        problems.append(f"{name} code {conf['code']!r} (code_paths, put on sys.path on load)")
    if conf.get(data_key) != "data":
        problems.append(f"{name} {data_key} {conf.get(data_key)!r} (expected 'data')")
    return problems


def _pt2_problems(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return _pt2_archive_problems(archive)
    except (OSError, zipfile.BadZipFile, ValueError, RecursionError) as exc:
        return [f"data/model.pt2 is not a readable pt2 archive ({exc})"]


def _pt2_archive_problems(archive: zipfile.ZipFile) -> list[str]:
    names = [info.filename for info in archive.infolist() if not info.is_dir()]
    prefixes = {name.split("/", 1)[0] for name in names}
    if len(prefixes) != 1 or any("/" not in name for name in names):
        return ["data/model.pt2 does not have the layout torch.export.save writes"]
    prefix = f"{prefixes.pop()}/"
    problems = []
    for name in names:
        record = name[len(prefix) :]
        if not _PT2_RECORDS.fullmatch(record):
            problems.append(f"pt2 record {record!r} (not a tensor, config or graph)")
        elif record.endswith("_config.json"):
            problems += _payload_problems(record, archive.read(name))
        elif record.startswith("models/"):
            problems += _graph_problems(record, archive.read(name))
        elif record.startswith("data/sample_inputs/"):
            problems += _checkpoint_problems(record, archive.read(name))
    if not any(name[len(prefix) :].startswith("models/") for name in names):
        problems.append("data/model.pt2 holds no exported program")
    return problems


def _payload_problems(record: str, content: bytes) -> list[str]:
    payload = json.loads(content)
    config = payload.get("config") if isinstance(payload, dict) else None
    if not isinstance(config, dict):
        return [f"pt2 record {record!r} is not a payload config"]
    # torch.export.load unpickles a payload (weights_only=False) unless it is a raw tensor.
    return [
        f"pt2 {record} entry {key!r} is pickled"
        for key, entry in config.items()
        if not isinstance(entry, dict)
        or entry.get("use_pickle") is not False
        or not _RAW_PAYLOAD.fullmatch(str(entry.get("path_name")))
    ]


def _graph_problems(record: str, content: bytes) -> list[str]:
    text = content.decode("utf-8")
    if "__enum__" in text:  # torch imports the module an enum context names
        return [f"pt2 {record} names an enum type (imported on load)"]
    problems: list[str] = []
    _walk_graph(json.loads(text), problems)
    return [f"pt2 {record}: {problem}" for problem in sorted(set(problems))]


def _walk_graph(node: Any, problems: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk_graph(item, problems)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "target" and isinstance(value, str):
                if not _GRAPH_TARGET.fullmatch(value):
                    problems.append(f"call target {value!r} is not an aten operator")
            elif key == "expr_str" and isinstance(value, str):
                if not _is_plain_sympy(value):
                    problems.append(f"shape expression {value[:80]!r} is not plain sympy")
            else:
                _walk_graph(value, problems)


def _is_plain_sympy(expression: str) -> bool:
    position = 0
    while position < len(expression):
        match = _SYMPY_TOKEN.match(expression, position)
        if match is None:
            return False
        token = match.group()
        # Bare shape symbols (s0, u1) become sympy Symbols; no builtin is named like that.
        if token[0].isalpha() and token not in _SYMPY_NAMES and not _SYMBOL.fullmatch(token):
            return False
        position = match.end()
    return True


def _checkpoint_problems(record: str, content: bytes) -> list[str]:
    """A torch.save zip whose pickle only rebuilds plain tensors (checked without loading)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as checkpoint:
            pickles = [n for n in checkpoint.namelist() if n.endswith(".pkl")]
            if len(pickles) != 1 or not pickles[0].endswith("/data.pkl"):
                return [f"pt2 {record} is not a torch.save checkpoint"]
            opcodes = list(pickletools.genops(checkpoint.read(pickles[0])))
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        return [f"pt2 {record} is not a torch.save checkpoint ({exc})"]
    problems = []
    for opcode, arg, _ in opcodes:
        if opcode.name in {"GLOBAL", "INST"} and arg not in _PICKLE_GLOBALS:
            problems.append(f"pt2 {record} unpickles {arg!r}")
        elif opcode.name in {"STACK_GLOBAL", "EXT1", "EXT2", "EXT4"}:
            problems.append(f"pt2 {record} unpickles a computed global")
    return problems


# ----------------------------------------------------------------- loading and running


@dataclass
class LoadedModel:
    """A model loaded by ``load_model_dir``: what it takes, what it answers, and the module."""

    model: Any
    version: str
    task: str
    row_shape: tuple[int, ...] | None
    dtype: np.dtype[Any]
    trusted: bool
    device: str = "cpu"

    def to_array(self, payload: Any, max_rows: int = DEFAULT_MAX_ROWS) -> np.ndarray[Any, Any]:
        """The rows of a decoded JSON body as one array; ValueError names what is wrong."""
        return rows_to_array(
            extract_rows(payload, self.row_shape), self.row_shape, self.dtype, max_rows
        )

    def forward(self, batch: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The model's output for ``batch``; MODEL_INPUT_ERRORS if it cannot take it."""
        return forward(self.model, batch, self.device)

    def answer(self, output: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
        """One answer per row of ``output``, by the model's task."""
        return ANSWERS[self.task](output)


def load_model_dir(
    model_dir: str | os.PathLike[str], *, name: str, version: str, archive_root: bool = False
) -> LoadedModel:
    """Load the MLflow model in ``model_dir`` under the rules above (RuntimeError if refused).

    ``archive_root``: ``model_dir`` is an extracted archive (it also holds the handler files).
    """
    import mlflow.pytorch  # here, so a process without mlflow fails at load with a clear error
    from mlflow.models import Model

    # Checked before MLflow reads anything: the directory may not come from build_archive.
    trusted = is_trusted(model_dir)
    if trusted:
        logger.warning("version %s is marked trusted: loading it may run code", version)
    else:
        problems = load_safety_problems(model_dir, archive_root=archive_root)
        if problems:
            raise RuntimeError(unsafe_model_message(name, version, problems))
    task = task_of(model_dir)
    row_shape, dtype = input_spec_from_signature(Model.load(str(model_dir)).signature)
    with contextlib.nullcontext() if trusted else _pickle_refused():
        # No .eval(): MLflow 3's pt2 export raises NotImplementedError on it.
        model = mlflow.pytorch.load_model(str(model_dir))
    return LoadedModel(
        model=model, version=version, task=task, row_shape=row_shape, dtype=dtype, trusted=trusted
    )


def forward(model: Any, batch: np.ndarray[Any, Any], device: str = "cpu") -> np.ndarray[Any, Any]:
    """Run ``model`` on ``batch`` without autograd; the first output as a CPU array."""
    import torch

    with torch.inference_mode():
        inputs = torch.from_numpy(np.ascontiguousarray(batch))
        result = model(inputs if device == "cpu" else inputs.to(device))
    if isinstance(result, tuple | list):
        result = result[0]
    array: np.ndarray[Any, Any] = result.detach().cpu().numpy()
    return array
