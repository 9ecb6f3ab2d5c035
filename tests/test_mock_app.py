"""mock/app.py: routing and the handlers (models, errors, Azure paths, key headers, any prefix).
Each checked over real loopback sockets."""

from __future__ import annotations

import json

import httpx
import pytest
from mockwire import (
    AZURE,
    CHAT,
    USER_MESSAGES,
    origin,
    raw,
    sse_json,
)

from llmbench_async.mock import MockProcess


def test_models(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"id": "mock-model", "object": "model", "created": 0, "owned_by": "llmbench-async"},
            {"id": "other", "object": "model", "created": 0, "owned_by": "llmbench-async"},
        ],
    }


def test_errors(client: httpx.Client) -> None:
    response = client.post("/chat/completions", json={**CHAT, "model": "gpt-x"})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": "The model `gpt-x` does not exist.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    response = client.post("/chat/completions", content=b'{"model": ')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert client.post("/completions", json=[1, 2]).status_code == 400
    assert client.get("/nope").status_code == 404
    assert client.get("/chat/completions").status_code == 405
    assert client.post("/models").status_code == 405
    # the connection survived all of that
    assert client.get("/models").status_code == 200


def test_azure_deployment_path_query_and_api_key(keyed: MockProcess) -> None:
    with httpx.Client(base_url=origin(keyed), timeout=10) as client:
        ok = client.post(
            AZURE.format("gpt-4o"),
            headers={"api-key": "sekret"},
            json={"messages": USER_MESSAGES, "max_completion_tokens": 3},
        )
        streamed = client.post(
            AZURE.format("gpt-4o"),
            headers={"api-key": "sekret"},
            json={"messages": USER_MESSAGES, "stream": True},
        )
        text = client.post(
            "/openai/deployments/m/completions?api-version=2024-10-21",
            headers={"api-key": "sekret"},
            json={"prompt": "a b", "max_tokens": 2},
        )
        wrong = client.post(AZURE.format("gpt-4o"), headers={"api-key": "nope"}, json={})
        missing = client.post(
            AZURE.format("gpt-5"), headers={"api-key": "sekret"}, json={"messages": USER_MESSAGES}
        )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["model"] == "gpt-4o"  # the deployment names the model
    assert body["choices"][0]["finish_reason"] == "length"  # max_completion_tokens honoured
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}
    chunks = sse_json(streamed.text)
    assert streamed.headers["content-type"] == "text/event-stream"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) == 6
    assert text.json()["object"] == "text_completion"
    assert text.json()["usage"]["completion_tokens"] == 2
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    "header", ["Authorization: Bearer sekret", "authorization: bearer sekret", "x-api-key: sekret"]
)
def test_key_headers_beside_bearer(keyed: MockProcess, header: str) -> None:
    body = json.dumps({"model": "m", "messages": USER_MESSAGES}).encode()
    head = f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n{header}\r\n"
    head += f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    assert raw(keyed, head, body).startswith(b"HTTP/1.1 200 OK\r\n")


def test_any_prefix_and_query_string_are_tolerated(keyed: MockProcess) -> None:
    with httpx.Client(base_url=origin(keyed), timeout=10) as client:
        headers = {"authorization": "Bearer sekret"}
        models = client.get("/proxy/v1/models?x=1", headers=headers)
        chat = client.post(
            "/gateway/abc/v1/chat/completions?trace=1",
            headers=headers,
            json={"model": "m", "messages": USER_MESSAGES},
        )
        unknown = client.post("/v1/chat/complete", headers=headers, json={})
    assert [m["id"] for m in models.json()["data"]] == ["gpt-4o", "m"]
    assert chat.status_code == 200 and chat.json()["model"] == "m"
    assert unknown.status_code == 404
