"""The exported decision rule: one probability threshold, or private per-group thresholds.

Without group thresholds a row is predicted positive iff its probability is at
least :data:`THRESHOLD` (what training scored with). With them, iff its logit
reaches its group's threshold (:meth:`GroupThresholds.predict`), which needs the
sensitive attribute at prediction time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trifront.deploy.layout import ModelDirError, from_json_number, to_json_number

if TYPE_CHECKING:  # imported when needed: trifront.fairness loads Fairlearn
    from trifront.fairness.thresholds import GroupThresholds

__all__ = ["DECISION_FORMAT", "THRESHOLD", "DecisionRule"]

DECISION_FORMAT = "trifront-decision"
_VERSION = 1
#: The probability cut of a model without group thresholds.
THRESHOLD = 0.5
_KINDS = ("threshold", "group_thresholds")


@dataclass(frozen=True)
class DecisionRule:
    """How probabilities (or logits) become decisions.

    Attributes:
        thresholds: Per-group thresholds on the logit scale, or None (one cut
            at ``THRESHOLD`` on the probability).
        sensitive: The sensitive attribute whose groups the thresholds use.
        group_names: Group ``k`` is ``group_names[k]``.
    """

    thresholds: GroupThresholds | None
    sensitive: str
    group_names: tuple[str, ...]

    @property
    def uses_sensitive(self) -> bool:
        """Whether deciding needs the sensitive attribute (per-group thresholds)."""
        return self.thresholds is not None

    def decide(
        self, logits: np.ndarray, probabilities: np.ndarray, groups: np.ndarray | None
    ) -> np.ndarray:
        """``(n,)`` int64 decisions (1 = the positive label).

        Args:
            logits: ``(n,)`` float64 logits.
            probabilities: ``(n,)`` float64 ``sigmoid(logits)``.
            groups: ``(n,)`` group indices; required with group thresholds.

        Raises:
            ValueError: If group thresholds are used and ``groups`` is None.
        """
        if self.thresholds is None:
            return (probabilities >= THRESHOLD).astype(np.int64)
        if groups is None:
            raise ValueError("per-group thresholds need the rows' groups.")
        return self.thresholds.predict(logits, groups)

    def to_dict(self) -> dict[str, Any]:
        """``decision.json``: the rule as plain data."""
        if self.thresholds is None:
            return {"format": DECISION_FORMAT, "version": _VERSION, "kind": "threshold",
                    "rule": f"predict 1 iff probability >= {THRESHOLD}",
                    "threshold": THRESHOLD}
        t = self.thresholds
        return {
            "format": DECISION_FORMAT, "version": _VERSION, "kind": "group_thresholds",
            "rule": "predict 1 iff logit >= logit_thresholds[group of the row] "
                    "(probability >= probability_thresholds[group])",
            "sensitive": self.sensitive,
            "groups": list(self.group_names),
            "logit_thresholds": [to_json_number(v) for v in t.logits],
            "probability_thresholds": list(t.probabilities),
            "target_gap": t.target_gap,
            "estimated_gap": t.estimated_gap,
            "estimated_accuracy": t.estimated_accuracy,
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, sensitive: str, group_names: tuple[str, ...]
    ) -> DecisionRule:
        """Rebuild the rule of ``decision.json`` for an encoder's sensitive attribute.

        Raises:
            ModelDirError: If the file is of another format, or its groups are
                not the encoder's.
        """
        where = "decision.json"
        if data.get("format") != DECISION_FORMAT or data.get("version") != _VERSION:
            raise ModelDirError(
                f"{where} must be format {DECISION_FORMAT!r} version {_VERSION}, but got "
                f"{data.get('format')!r} version {data.get('version')!r}."
            )
        kind = data.get("kind")
        if kind not in _KINDS:
            raise ModelDirError(f"{where}: `kind` must be one of {', '.join(_KINDS)}, but got "
                                f"{kind!r}.")
        if kind == "threshold":
            if data.get("threshold") != THRESHOLD:
                raise ModelDirError(f"{where}: `threshold` must be {THRESHOLD}, but got "
                                    f"{data.get('threshold')!r}.")
            return cls(None, sensitive, group_names)
        if data.get("sensitive") != sensitive or tuple(data.get("groups", ())) != group_names:
            raise ModelDirError(
                f"{where} thresholds groups {data.get('groups')!r} of "
                f"{data.get('sensitive')!r}, but the encoder's groups of {sensitive!r} are "
                f"{list(group_names)}."
            )
        raw = data.get("logit_thresholds")
        if not isinstance(raw, list) or len(raw) != len(group_names):
            raise ModelDirError(f"{where}: `logit_thresholds` must list one threshold per "
                                f"group ({len(group_names)}), but got {raw!r}.")
        logits = tuple(from_json_number(v, where=f"{where} logit_thresholds") for v in raw)
        stats = [from_json_number(data.get(k), where=f"{where} {k}")
                 for k in ("target_gap", "estimated_gap", "estimated_accuracy")]
        from trifront.fairness.thresholds import GroupThresholds

        return cls(GroupThresholds(logits, *stats), sensitive, group_names)
