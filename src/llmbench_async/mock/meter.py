"""The server's own state as Prometheus metrics, in vLLM's names (``GET /metrics``).

Per served model (label ``model_name``, plus ``engine="0"`` as vLLM has):

- ``vllm:num_requests_running``: responses generating now (holding a `capacity` slot, or
  any response in flight when there is no capacity);
- ``vllm:num_requests_waiting``: responses queued for a slot (only with `capacity`);
- ``vllm:kv_cache_usage_perc`` and the older ``vllm:gpu_cache_usage_perc``: running /
  capacity, in 0..1 (0 without a capacity: the mock has no cache to fill);
- ``vllm:prompt_tokens_total``: prompt tokens of the responses admitted so far (counted when
  a response starts generating, as prefill does);
- ``vllm:generation_tokens_total``: output tokens written so far, live;
- ``vllm:num_preemptions_total``: always 0 (the mock never preempts);
- ``vllm:request_success_total{finished_reason=stop|length|abort}``: finished responses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from .truth import Marks

__all__ = ["CONTENT_TYPE", "Meter"]

CONTENT_TYPE: Final = b"content-type: text/plain; version=0.0.4; charset=utf-8\r\n"
_REASONS: Final = ("stop", "length", "abort")


@dataclass(slots=True)
class _Live:
    """One response in flight."""

    model: str
    prompt_tokens: int
    marks: Marks


@dataclass(slots=True)
class _Totals:
    """What finished responses of one model added up to."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    finished: Counter[str] = field(default_factory=Counter)


class Meter:
    """Counts responses in flight and finished, per model; renders the text format."""

    def __init__(self, models: tuple[str, ...], capacity: int | None) -> None:
        self._models = models
        self._capacity = capacity
        self._entries: dict[int, _Live] = {}
        self._totals = {m: _Totals() for m in models}

    def start(self, model: str, prompt_tokens: int, marks: Marks) -> int:
        """Count a response from now on; returns its handle for `finish`."""
        handle = id(marks)
        self._entries[handle] = _Live(model, prompt_tokens, marks)
        return handle

    def finish(self, handle: int, finish_reason: str) -> None:
        """Move a response's counts into the totals (`abort` for one cut short)."""
        live = self._entries.pop(handle)
        totals = self._totals[live.model]
        if live.marks.running:
            totals.prompt_tokens += live.prompt_tokens
        totals.generation_tokens += live.marks.k
        totals.finished[finish_reason] += 1

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of the current state."""
        lines: list[str] = []
        samples = {m: self._sample(m) for m in self._models}
        for name, kind, help_text, index in _SERIES:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            for model, values in samples.items():
                lines.append(f"{name}{{{_labels(model)}}} {float(values[index])!r}")
        lines += [
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success_total counter",
        ]
        for model in self._models:
            finished = self._totals[model].finished
            for reason in _REASONS:
                labels = f'{_labels(model)},finished_reason="{reason}"'
                lines.append(f"vllm:request_success_total{{{labels}}} {float(finished[reason])!r}")
        return ("\n".join(lines) + "\n").encode()

    def _sample(self, model: str) -> tuple[float, ...]:
        """running, waiting, cache use, prompt tokens, generation tokens, preemptions."""
        live = [e for e in self._entries.values() if e.model == model]
        running = sum(1 for e in live if e.marks.running)
        totals = self._totals[model]
        prompt = totals.prompt_tokens + sum(e.prompt_tokens for e in live if e.marks.running)
        generated = totals.generation_tokens + sum(e.marks.k for e in live)
        cache = running / self._capacity if self._capacity else 0.0
        return running, len(live) - running, cache, cache, prompt, generated, 0


def _labels(model: str) -> str:
    escaped = model.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'engine="0",model_name="{escaped}"'


# name, type, help (as vLLM words it), index into `Meter._sample`
_SERIES: Final = (
    ("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", 0),
    ("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", 1),
    ("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", 2),
    (
        "vllm:gpu_cache_usage_perc",
        "gauge",
        "GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc.",
        3,
    ),
    ("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", 4),
    ("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.", 5),
    (
        "vllm:num_preemptions_total",
        "counter",
        "Cumulative number of preemption from the engine.",
        6,
    ),
)
