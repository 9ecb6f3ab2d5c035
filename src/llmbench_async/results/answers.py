"""What the answers were, counted while a run's records come in: finish reasons, the
models that answered, and the requests each summary warning counts (incomplete, wrong
model, short under --ignore-eos, empty); names bounded so a hostile server cannot grow
them (docs/outcomes.md)."""

from __future__ import annotations

from collections.abc import Mapping

from ..outcomes import LENGTH_REASONS, Expect, Notice, notices
from ..records import RequestRecord


class AnswerAcc:
    """What the answers were: finish reasons, served models, and the requests each summary
    warning counts (docs/outcomes.md)."""

    __slots__ = ("empty", "expect", "finish", "incomplete", "models", "short", "wrong")

    def __init__(self, expect: Expect | None) -> None:
        self.expect = expect
        self.finish: dict[str, int] = {}
        self.models: dict[str, int] = {}
        self.wrong: dict[str, int] = {}  # served model → wrong_model requests
        self.short: dict[str, int] = {}  # finish reason → ok requests short under ignore_eos
        self.incomplete = self.empty = 0

    def add(self, r: RequestRecord) -> None:
        if r.finish_reason is not None:
            tally(self.finish, r.finish_reason)
        if r.model is not None:
            tally(self.models, r.model)
        kind = r.error_kind
        if kind == "incomplete":
            self.incomplete += 1
        elif kind == "wrong_model":
            tally(self.wrong, r.model or "?")
        elif kind is None and r.inputs is None:  # an ok answer (embeddings have no output)
            if r.output_tokens == 0:
                self.empty += 1
            if self._short(r):
                tally(self.short, r.finish_reason or "none")

    def _short(self, r: RequestRecord) -> bool:
        """Under --ignore-eos, an answer that stopped before max_tokens: its finish reason is
        not the token limit's (without one, the server's count is below max_tokens)."""
        expect = self.expect
        if expect is None or not expect.ignore_eos:
            return False
        if r.finish_reason is not None:
            return r.finish_reason not in LENGTH_REASONS
        return (
            r.token_source == "usage"
            and r.output_tokens is not None
            and expect.max_tokens is not None
            and r.output_tokens < expect.max_tokens
        )

    def notices(self, total: int, ok: int) -> tuple[Notice, ...]:
        return notices(
            total=total,
            ok=ok,
            incomplete=self.incomplete,
            wrong_models=self.wrong,
            short=self.short,
            empty=self.empty,
            expect=self.expect,
        )


MAX_NAMES = 50  # distinct finish reasons or models counted by name; the rest as OTHER
OTHER = "(other)"


def tally(counts: dict[str, int], name: str) -> None:
    """Count one more `name`; past MAX_NAMES distinct names (a server inventing a name per
    answer), under OTHER, so memory stays bounded."""
    if name not in counts and len(counts) >= MAX_NAMES:
        name = OTHER
    counts[name] = counts.get(name, 0) + 1


def by_count(counts: Mapping[str, int]) -> dict[str, int]:
    """Most frequent first, then by name."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
