"""What a model directory holds, and the checked reading and writing of its files.

A model directory written by :func:`trifront.deploy.export_model`::

    card.json     the model card (machine-readable): privacy, test metrics,
                  caveat flags, provenance, and the sha256 of every other file
    card.md       the same card for people
    model.pt      the trained weights: a torch ``state_dict`` (tensors only),
                  read back with ``torch.load(weights_only=True)``, never an
                  unpickled object
    encoder.json  the public schema that turns raw rows into model inputs
    decision.json the decision rule: one threshold, or one per group

JSON files are strict JSON: an infinite number (epsilon of a non-private
model, an "everyone positive" group threshold) is written as the string
``"inf"`` or ``"-inf"``. Every failure to read a directory is a
:class:`ModelDirError` naming the file and what is wrong: one line, exit 2 on
the command line.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trifront.errors import DataError

__all__ = [
    "CARD_JSON",
    "CARD_MD",
    "DECISION",
    "ENCODER",
    "FORMAT",
    "FORMAT_VERSION",
    "HASHED_FILES",
    "WEIGHTS",
    "ModelDirError",
    "from_json_number",
    "read_json",
    "sha256_of",
    "to_json_number",
    "write_json",
]

FORMAT = "trifront-model"
#: Version of the directory layout; a reader refuses any other.
FORMAT_VERSION = 1
CARD_JSON = "card.json"
CARD_MD = "card.md"
WEIGHTS = "model.pt"
ENCODER = "encoder.json"
DECISION = "decision.json"
#: Files whose sha256 the card records and the loader checks.
HASHED_FILES = (WEIGHTS, ENCODER, DECISION)


class ModelDirError(DataError):
    """A model directory is missing, incomplete, tampered with, or of another format."""


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_json_number(value: float | None) -> float | str | None:
    """A float for strict JSON: ``inf`` and ``-inf`` become strings; NaN becomes None."""
    if value is None:
        return None
    v = float(value)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def from_json_number(value: object, *, where: str) -> float:
    """The float a :func:`to_json_number` value stands for.

    Raises:
        ModelDirError: If ``value`` is neither a number nor ``"inf"``/``"-inf"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ModelDirError(f"{where} must be a number, 'inf' or '-inf', but got {value!r}.")
    if isinstance(value, str) and value not in ("inf", "-inf"):
        raise ModelDirError(f"{where} must be a number, 'inf' or '-inf', but got {value!r}.")
    return float(value)


def _strict(obj: Any) -> Any:
    if isinstance(obj, float):
        return to_json_number(obj)
    if isinstance(obj, Mapping):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _strict(obj.item())
    return obj


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as indented strict JSON (infinities as strings)."""
    text = json.dumps(_strict(data), indent=2, allow_nan=False, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")


def read_json(directory: Path, name: str) -> dict[str, Any]:
    """Read one JSON object file of a model directory.

    Raises:
        ModelDirError: If the file is missing, unreadable, not JSON or not an object.
    """
    path = directory / name
    if not path.is_file():
        raise ModelDirError(
            f"model directory {str(directory)!r} has no {name}; it is not a complete "
            "`trifront export` directory (re-export the model)."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise ModelDirError(f"{name} of {str(directory)!r} is not valid JSON ({detail}).") from None
    if not isinstance(data, dict):
        raise ModelDirError(f"{name} of {str(directory)!r} must hold a JSON object, but it "
                            f"holds {type(data).__name__}.")
    return data
