"""A brute-force nearest-neighbour oracle in plain Python.

The contract suite compares every driver's search results with these
functions. They are written for clarity, not speed: a few thousand vectors
of a few dimensions are all the suite ever asks about.

Scores follow DESIGN §3: ``cosine`` is the cosine similarity and
``dot-product`` the dot product (both highest first), ``euclidean`` the L2
distance (smallest first).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

__all__ = ["higher_is_better", "nearest", "recall", "score"]

logger = logging.getLogger(__name__)


def score(metric: str, query: Sequence[float], stored: Sequence[float]) -> float:
    """The score ``stored`` earns against ``query`` under ``metric``."""
    if len(query) != len(stored):
        raise ValueError(f"vectors differ in length ({len(query)} and {len(stored)})")

    if metric == "dot-product":
        return math.fsum(a * b for a, b in zip(query, stored, strict=True))

    if metric == "euclidean":
        return math.sqrt(
            math.fsum((a - b) ** 2 for a, b in zip(query, stored, strict=True))
        )

    if metric == "cosine":
        dot = math.fsum(a * b for a, b in zip(query, stored, strict=True))
        norms = math.sqrt(math.fsum(a * a for a in query)) * math.sqrt(
            math.fsum(b * b for b in stored)
        )
        if norms == 0:
            raise ValueError("cosine similarity is undefined for a zero vector")
        return dot / norms

    raise ValueError(f"unknown metric {metric!r}")


def higher_is_better(metric: str) -> bool:
    """Whether a larger score means a nearer vector."""
    return metric != "euclidean"


def nearest(
    metric: str,
    query: Sequence[float],
    candidates: Iterable[tuple[str, Sequence[float]]],
    top_k: int,
) -> list[tuple[str, float]]:
    """The ``top_k`` best ``(id, score)`` pairs, best first.

    Ties break by id so the oracle itself is deterministic; drivers are not
    required to break ties the same way, which is why the suite compares
    with :func:`recall` and per-id scores rather than exact positions.
    """
    scored = [(vid, score(metric, query, values)) for vid, values in candidates]
    if higher_is_better(metric):
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
    else:
        scored.sort(key=lambda pair: (pair[1], pair[0]))
    return scored[:top_k]


def recall(expected_ids: Sequence[str], found_ids: Sequence[str]) -> float:
    """Share of ``expected_ids`` that appear in ``found_ids`` (1.0 if none)."""
    if not expected_ids:
        return 1.0
    hits = len(set(expected_ids) & set(found_ids))
    return hits / len(set(expected_ids))
