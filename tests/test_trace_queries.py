"""Every op the two model definitions issue is a query the library takes (Python 3.11, no ttnn).

Every mode of PatchTSMixer and TTM, at batch 1 and 32, traced under its default plan: each op's query
passes the one query validation (opcast.vocabulary.validate), and a predictor of a small model folder
(models for ttnn.linear and ttnn.add only) answers it, or says it has no model for the op; nothing else.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import opcast
from conftest import constant_members, write_model
from opcast import vocabulary
from opcast.models import validate as V

KINDS = ("patchtsmixer", "ttm")
BATCHES = (1, 32)
LINEAR_NS = 20_000.0  # what the folder's ttnn.linear model answers for every query


def traced_queries(kind: str) -> list[tuple[str, dict]]:
    """(where, query) for every op of every mode of ``kind`` at every batch."""
    out = []
    for mode, spec in V.modes(kind).items():
        model = V.MODEL_CLASSES[kind](spec)
        for batch in BATCHES:
            trace = model.trace(batch, channels=spec.num_input_channels)
            out += [(f"{kind} {mode} batch {batch}: {record.name}", query)
                    for record, query in zip(trace.ops, trace.queries())]
    return out


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> opcast.Predictor:
    root = tmp_path_factory.mktemp("models")
    n = len(opcast.feature_names())
    write_model(root, "ttnn.linear", constant_members(n, [np.log(LINEAR_NS)]))
    write_model(root, "ttnn.add", constant_members(n, [np.log(2.0)]), target="ln_ratio_roofline")
    return opcast.Predictor(root)


@pytest.mark.parametrize("kind", KINDS)
def test_every_traced_op_passes_the_query_validation(kind):
    queries = traced_queries(kind)
    assert len(queries) > 1000  # every mode at both batches: thousands of ops
    refused = []
    for where, query in queries:
        try:
            vocabulary.validate(query)
        except opcast.QueryError as exc:
            refused.append(f"{where}: {exc}")
    assert not refused, f"{len(refused)} traced ops are not valid queries, e.g.\n" + "\n".join(refused[:10])


@pytest.mark.parametrize("kind", KINDS)
def test_every_traced_op_is_answered_or_has_no_model(kind, predictor):
    where, queries = zip(*traced_queries(kind))
    frame = predictor.predict_batch(list(queries), errors="collect")
    ops = [q["op"] for q in queries]
    answered = frame["error"].isna()
    wrong = []
    for i, op in enumerate(ops):
        error = frame["error"][i]
        if op in ("ttnn.linear", "ttnn.add"):
            ns = frame["predicted_ns"][i]
            if not (answered[i] and math.isfinite(ns) and ns > 0):
                wrong.append(f"{where[i]}: expected an answer, got {ns!r} / {error!r}")
            elif op == "ttnn.linear" and ns != pytest.approx(LINEAR_NS):
                wrong.append(f"{where[i]}: expected the linear model's {LINEAR_NS} ns, got {ns}")
        elif answered[i] or not error.startswith(f"no model for {op} (kind "):
            wrong.append(f"{where[i]}: expected 'no model for {op} ...', got {error!r}")
    assert not wrong, f"{len(wrong)} of {len(ops)} rows wrong, e.g.\n" + "\n".join(wrong[:10])
    assert {"ttnn.linear", "ttnn.add"} <= set(ops) and not answered.all()  # both outcomes were exercised

    # The collected error is the predictor's typed one: a ModelError when the op is asked alone.
    for op in sorted(set(ops) - {"ttnn.linear", "ttnn.add"}):
        with pytest.raises(opcast.ModelError, match=f"no model for {op} "):
            predictor.predict(queries[ops.index(op)])
