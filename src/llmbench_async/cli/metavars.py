"""The value name each option shows in `--help`: what to write, not its Python type.

DURATION takes 500ms, 30s, 2m or 1h (a bare number is in the unit the help names); SIZE
takes 4096, 64KiB or 1MiB (a bare number is bytes); PERCENT takes 90% (see units.py).
"""

from __future__ import annotations

from typing import Any

METAVARS: dict[str, str] = {
    # run: target
    "--base-url": "URL",
    "--api-key": "KEY",
    "--api-key-file": "PATH",
    "--model": "NAME[,NAME…]",
    "--model-mix": "round-robin|random|NAME=W,…",
    "--accept-model": "NAME|any",
    "--api": "API",
    "--ca-bundle": "PATH",
    "--endpoint": "URL",
    "--api-key-header": "HEADER",
    "--request-id-header": "HEADER",
    "--max-tokens-field": "FIELD",
    "--proxy": "URL",
    # run: load and scale
    "--n": "N",
    "--concurrency": "N[,N…]",
    "--rate": "RATE[,RATE…]",
    "--arrival": "poisson|constant|gamma",
    "--load-shape": "SHAPE|PATH",
    "--seed": "N",
    "--max-concurrency": "N",
    "--duration": "DURATION",
    "--until-stable": "METRIC.pNN:PCT",
    "--warmup": "DURATION|N",
    "--ramp-up": "DURATION",
    "--latency-from": "send|schedule",
    "--workers": "N|auto",
    "--ray-actors": "N",
    "--ray-per-node": "N",
    # run: workload
    "--prompt": "TEXT",
    "--prompt-file": "PATH",
    "--input-tokens": "N[:STDEV]",
    "--max-tokens": "N",
    "--header": "HEADER",
    "--extra-body": "JSON",
    "--burstiness": "B",
    "--batch": "N",
    "--turns": "N",
    "--think-time": "DURATION",
    "--dataset": "PATH",
    "--dataset-format": "NAME",
    "--min-input-tokens": "N",
    "--max-input-tokens": "N",
    "--min-output-tokens": "N",
    "--max-output-tokens": "N",
    "--prefix-tokens": "N",
    "--trace": "FILE",
    "--trace-format": "NAME",
    "--trace-speed": "X",
    "--trace-window": "START:END",
    "--trace-block-tokens": "N",
    "--max-requests": "N",
    "--session-header": "NAME",
    "--prefix-groups": "N",
    "--goodput": "EXPR",
    "--tools": "PATH",
    "--tool-choice": "auto|required|none|NAME",
    "--response-format": "json|PATH",
    "--images": "N",
    "--image-size": "WxH",
    "--image-dir": "PATH",
    # run: limits
    "--timeout": "DURATION",
    "--connect-timeout": "DURATION",
    "--read-timeout": "DURATION",
    "--retries": "N",
    "--max-backoff": "DURATION",
    "--grace": "DURATION",
    "--ready-timeout": "DURATION",
    "--lost-after": "N",
    # outputs, observe, gate (run, report and compare)
    "--output": "PATH",
    "--json": "PATH",
    "--markdown": "PATH",
    "--html": "PATH",
    "--junit": "PATH",
    "--window": "DURATION",
    "--scrape-interval": "DURATION",
    "--prometheus-port": "PORT",
    "--prometheus-host": "ADDRESS",
    "--prometheus-linger": "DURATION",
    "--fail-if": "EXPR",
    "--min-achieved": "PERCENT",
    # mock-server (and calibrate: the timing the mock answers with)
    "--host": "ADDRESS",
    "--port": "PORT",
    "--ttft-ms": "DURATION",
    "--itl-ms": "DURATION",
    "--jitter-ms": "DURATION",
    "--embedding-ms": "DURATION",
    "--stall-ms": "DURATION",
    "--tokens": "N",
    "--log": "PATH",
    "--capacity": "N",
    "--reasoning-tokens": "N",
    "--embedding-dims": "N",
    "--auth-key": "KEY",
    "--auth-status": "STATUS",
    "--fail-rate": "SHARE",
    "--fail-status": "STATUS",
    "--retry-after": "SECONDS|DATE",
    "--retry-after-header": "HEADER",
    "--disconnect-rate": "SHARE",
    "--malformed-rate": "SHARE",
    "--invalid-output-rate": "SHARE",
    "--error-event-rate": "SHARE",
    "--huge-line-bytes": "SIZE",
}


def apply_metavars(command: Any) -> None:
    """Give each option of `command` that takes a value and names none its value name."""
    for param in command.params:
        if param.param_type_name != "option" or param.is_flag or param.metavar:
            continue
        for name in param.opts:
            if name in METAVARS:
                param.metavar = METAVARS[name]
                break
