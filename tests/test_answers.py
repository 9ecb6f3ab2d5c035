"""results/answers.py: what the answers were, counted as records come in: finish reasons
and served models by count, the requests each warning counts, and a bound on the names a
hostile server can make us keep."""

from __future__ import annotations

from llmbench_async.outcomes import Expect
from llmbench_async.records import RequestRecord
from llmbench_async.results.answers import MAX_NAMES, OTHER, AnswerAcc, by_count


def _rec(i: int, **fields: object) -> RequestRecord:
    base: dict[str, object] = {
        "index": i, "scheduled_ns": 0, "send_ns": 0, "end_ns": 1_000_000, "status": 200,
        "output_tokens": 8, "token_source": "usage", "finish_reason": "stop", "model": "m",
    }  # fmt: skip
    return RequestRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_reasons_models_and_the_warnings_counts() -> None:
    acc = AnswerAcc(Expect("m", 8, True, "chat"))
    acc.add(_rec(0))
    acc.add(_rec(1, finish_reason="length"))
    acc.add(_rec(2, output_tokens=0))  # empty, and short under --ignore-eos
    acc.add(_rec(3, error_kind="wrong_model", model="other"))
    acc.add(_rec(4, error_kind="incomplete", finish_reason=None))
    assert by_count(acc.finish) == {"stop": 3, "length": 1}
    assert by_count(acc.models) == {"m": 4, "other": 1}
    assert (acc.empty, acc.incomplete, acc.wrong, acc.short) == (1, 1, {"other": 1}, {"stop": 2})
    codes = {n.code for n in acc.notices(total=5, ok=3)}
    assert {"short_output", "empty_output"} <= codes


def test_a_server_inventing_names_is_bounded() -> None:
    acc = AnswerAcc(None)
    for i in range(MAX_NAMES + 30):
        acc.add(_rec(i, model=f"model-{i}", finish_reason=f"reason-{i}"))
    assert len(acc.models) == MAX_NAMES + 1 and acc.models[OTHER] == 30
    assert len(acc.finish) == MAX_NAMES + 1 and acc.finish[OTHER] == 30
