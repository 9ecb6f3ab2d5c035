"""What a request's answer must be to count as ok, defined once (docs/outcomes.md).

A 2xx is a success only when the answer ended with a finish reason (chat and completions
`finish_reason`, Responses `status`, Messages `stop_reason`) from the model asked for.
This module holds the rules the client applies to each answer (`answer_problem`) and the
warning lines a `Summary` carries (`Notice`, `notices`): pure functions of plain values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FAILED_REASONS",
    "LENGTH_REASONS",
    "Expect",
    "Notice",
    "answer_problem",
    "model_matches",
    "names_deployment",
    "notices",
]

# finish reasons that mean "stopped at the token limit", per API
LENGTH_REASONS = frozenset({"length", "max_tokens", "incomplete:max_output_tokens"})
# finish reasons that say the server gave up on the answer: not a success (vLLM, SGLang)
# finish reasons that say the server gave up on the answer (compared ignoring case)
FAILED_REASONS = frozenset({"abort", "error", "failed", "cancelled", "canceled"})
# `--accept-model any`: any served model is accepted
ANY_MODEL = "any"

# a dated snapshot or alias of the same model: gpt-4o-2024-08-06, gpt-4-0613,
# claude-3-5-sonnet-20240620, claude-3-5-sonnet@20240620, llama3:latest, x-latest
_SNAPSHOT = re.compile(r"[-@:](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{6}|\d{4}|latest)$")


def _base_name(name: str) -> str:
    """A model name without provider prefix (`openai/`), snapshot suffix, or case."""
    base = name.strip().lower().rsplit("/", 1)[-1]
    return _SNAPSHOT.sub("", base) or base


def model_matches(asked: str | None, served: str | None, accept: Iterable[str] = ()) -> bool:
    """Whether `served` answers for `asked`: the same name up to case, a provider prefix and
    a snapshot suffix, or a name in `accept` (`any` accepts every name). A response that
    names no model, or a run that asked for none, is not a mismatch."""
    if served is None or asked is None:
        return True
    wanted = {_base_name(asked)}
    for name in accept:
        if name.strip().lower() == ANY_MODEL:
            return True
        wanted.add(_base_name(name))
    return _base_name(served) in wanted


def names_deployment(url: str) -> bool:
    """Whether a request URL names an Azure OpenAI deployment (`/openai/deployments/D/...`):
    the deployment, not the body's model, picks the model, and the answer names the model
    behind it (`gpt-4o-2024-08-06` for deployment `prod`), so it is not compared."""
    return "/deployments/" in urlsplit(url).path


def answer_problem(
    finish_reason: str | None,
    served: str | None,
    asked: str | None,
    accept: Iterable[str] = (),
) -> tuple[str, str] | None:
    """Why a complete 2xx answer is not a success: (`incomplete` or `wrong_model`, a
    message), or None when it is one. Not for embeddings, which have no finish reason."""
    if finish_reason is None:
        return "incomplete", "the answer ended without a finish reason"
    if finish_reason.lower() in FAILED_REASONS:
        return "incomplete", f"the answer ended with finish reason {finish_reason!r}"
    if not model_matches(asked, served, accept):
        return "wrong_model", f"answered by model {served!r}, asked for {asked!r}"
    return None


@dataclass(frozen=True, slots=True)
class Expect:
    """What the run asked for, as far as the summary's warnings need it."""

    model: str | None = None
    max_tokens: int | None = None
    ignore_eos: bool = False
    api: str = "chat"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Expect:
        """From a public config dict (a run's, or a results file header's)."""
        # several models (--model a,b): no one model the answers must name
        model = None if config.get("models") else config.get("model")
        # a trace replay's max_tokens is each row's own: none to compare against
        max_tokens = None if config.get("trace") else config.get("max_tokens")
        return cls(
            model=model if isinstance(model, str) else None,
            max_tokens=max_tokens if type(max_tokens) is int else None,
            ignore_eos=config.get("ignore_eos") is True,
            api=str(config.get("api") or "chat"),
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """One warning line of a summary: a stable code, the requests it counts, its text."""

    code: str  # incomplete, wrong_model, short_output, empty_output
    count: int
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "count": self.count, "text": self.text}


def _counts(counts: Mapping[str, int]) -> str:
    """`tiny-llama 4, other 1`: most frequent first, then by name."""
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def notices(
    *,
    total: int,
    ok: int,
    incomplete: int,
    wrong_models: Mapping[str, int],
    short: Mapping[str, int],
    empty: int,
    expect: Expect | None,
) -> tuple[Notice, ...]:
    """The summary's warning lines, in a fixed order; only those with a count."""
    out: list[Notice] = []
    if incomplete:
        out.append(
            Notice(
                "incomplete",
                incomplete,
                f"{incomplete} of {total} requests ended without a finish reason (incomplete: "
                "cut short by the server); not counted as ok",
            )
        )
    wrong = sum(wrong_models.values())
    if wrong:
        asked = f" {expect.model!r}" if expect is not None and expect.model else ""
        out.append(
            Notice(
                "wrong_model",
                wrong,
                f"{wrong} of {total} requests answered by another model than{asked}: "
                f"{_counts(wrong_models)}; not counted as ok (--accept-model NAME accepts one)",
            )
        )
    shorts = sum(short.values())
    if shorts:
        limit = f" ({expect.max_tokens})" if expect is not None and expect.max_tokens else ""
        out.append(
            Notice(
                "short_output",
                shorts,
                f"{shorts} of {ok} ok requests stopped before max_tokens{limit} despite "
                f"--ignore-eos (finish reason {_counts(short)})",
            )
        )
    if empty:
        out.append(
            Notice("empty_output", empty, f"{empty} of {ok} ok requests returned no output tokens")
        )
    return tuple(out)


# names from a server, kept bounded and printable wherever they are read (live or saved)
_MODEL_CHARS = 200  # a served model name longer than this is cut
_REASON_CHARS = 64  # a finish reason longer than this is cut


def served_model(value: Any) -> str | None:
    """A model name from a response, bounded and printable; None when absent or not text."""
    return _bounded(value, _MODEL_CHARS)


def response_id_text(value: Any) -> str | None:
    """A response id from a response, bounded and printable (no lone surrogate, which no
    strict JSON reader takes back); None when absent or not text."""
    return _bounded(value, _MODEL_CHARS)


def finish_text(value: Any) -> str | None:
    """A finish reason from a response, bounded and printable; None when absent or not text."""
    return _bounded(value, _REASON_CHARS)


def _bounded(value: Any, limit: int) -> str | None:
    """A name from outside kept as at most `limit` printable characters (others as `?`)."""
    if type(value) is not str or not value:
        return None
    if len(value) <= limit and value.isprintable():
        return value
    text = "".join(c if c.isprintable() else "?" for c in value[:limit])
    return text + ("…" if len(value) > limit else "")
