"""loadgen/build.py: a RunConfig becomes the Workload every request is built from: the
model each request asks for, the tools and response format in the API's shape, images."""

from __future__ import annotations

import json

from llmbench_async.config import RunConfig
from llmbench_async.loadgen.build import build_workload, model_mix

BASE = "http://127.0.0.1:9/v1"


def test_several_models_are_spread_by_the_mix() -> None:
    config = RunConfig(base_url=BASE, model="a", models=("a", "b"), model_mix="a=3,b=1")
    mix = model_mix(config)
    assert mix is not None
    workload = build_workload(config)
    asked = [json.loads(workload.body(i))["model"] for i in range(8)]
    assert asked.count("a") == 6 and asked.count("b") == 2
    assert model_mix(RunConfig(base_url=BASE, model="a")) is None  # one model: no mix


def test_tools_and_images_are_in_every_body() -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    config = RunConfig(
        base_url=BASE, model="m", tools=(tool,), tool_choice="required", images=2,
        image_size=(8, 4), seed=3,
    )  # fmt: skip
    body = json.loads(build_workload(config).body(0))
    assert body["tools"] == [tool] and body["tool_choice"] == "required"
    parts = body["messages"][-1]["content"]
    images = [p for p in parts if p.get("type") == "image_url"]
    assert len(images) == 2
    assert all(p["image_url"]["url"].startswith("data:image/png;base64,") for p in images)
    again = json.loads(build_workload(config).body(0))
    assert again == body  # seeded: the same images every time
