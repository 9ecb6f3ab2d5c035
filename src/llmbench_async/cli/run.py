"""The `run` command: its flags, declared once (cli/options.py holds their help), handed
to the run's pipeline (cli/pipeline.py). Importing this module for `--help` loads neither
the pipeline nor the network stack."""

from __future__ import annotations

import typer

from ..config import DEFAULT_PROMPT
from . import options as o
from . import workload_options as w
from .flags import Flags


def run_command(
    base_url: o.BaseUrl = None,
    model: o.Model = None,
    mock: o.Mock = False,
    api: o.ApiChoice = "chat",
    api_key: o.ApiKey = None,
    accept_model: o.AcceptModel = None,
    api_key_file: o.ApiKeyFile = None,
    n: o.Count = None,
    concurrency: o.Concurrency = None,
    rate: o.Rate = None,
    arrival: o.ArrivalChoice = None,
    seed: o.Seed = None,
    max_concurrency: o.MaxConcurrency = None,
    duration: o.Duration = None,
    warmup: o.Warmup = None,
    ramp_up: o.RampUp = None,
    latency_from: o.LatencyFromChoice = "send",
    workers: o.Workers = "1",
    ray: o.Ray = None,
    ray_actors: o.RayActors = None,
    ray_per_node: o.RayPerNode = None,
    prompt: o.Prompt = DEFAULT_PROMPT,
    prompt_file: o.PromptFile = None,
    sample_prompts: o.SamplePrompts = False,
    input_tokens: o.InputTokens = None,
    max_tokens: o.MaxTokens = 128,
    ignore_eos: o.IgnoreEos = False,
    header: o.Header = None,
    extra_body: o.ExtraBody = None,
    stream: o.Stream = True,
    timeout: o.Timeout = "300s",
    connect_timeout: o.ConnectTimeout = "10s",
    read_timeout: o.ReadTimeout = "60s",
    retries: o.Retries = 3,
    max_backoff: o.MaxBackoff = "30s",
    insecure: o.Insecure = False,
    ca_bundle: o.CaBundle = None,
    output: o.Output = None,
    json_path: o.JsonOption = None,
    quiet: o.Quiet = False,
    grace: o.Grace = "2s",
    fail_if: o.FailIfOption = None,
    junit: o.JunitOption = None,
    markdown: o.MarkdownOption = None,
    stop_on_fail: o.StopOnFail = False,
    html: o.HtmlOption = None,
    window: o.WindowOption = "1s",
    server_metrics: o.ServerMetrics = None,
    scrape_interval: o.ScrapeInterval = "1s",
    server_metric: o.ServerMetric = None,
    # what is sent and when: arrival shape, batches, turns, datasets, prefixes, goodput
    burstiness: w.BurstinessOption = 1.0,
    batch: w.BatchOption = 1,
    turns: w.TurnsOption = None,
    think_time: w.ThinkTimeOption = None,
    replay_history: w.ReplayHistoryOption = False,
    dataset: w.DatasetOption = None,
    dataset_format: w.DatasetFormatOption = None,
    min_input_tokens: w.MinInputOption = None,
    max_input_tokens: w.MaxInputOption = None,
    min_output_tokens: w.MinOutputOption = None,
    max_output_tokens: w.MaxOutputOption = None,
    prefix_tokens: w.PrefixTokensOption = 0,
    prefix_groups: w.PrefixGroupsOption = 1,
    goodput: w.GoodputOption = None,
    tools: w.ToolsOption = None,
    tool_choice: w.ToolChoiceOption = "auto",
    response_format: w.ResponseFormatOption = None,
    images: w.ImagesOption = 0,
    image_size: w.ImageSizeOption = "256x256",
    image_dir: w.ImageDirOption = None,
    # where requests go and how they are framed
    endpoint: o.Endpoint = None,
    api_key_header: o.ApiKeyHeader = None,
    max_tokens_field: o.MaxTokensField = None,
    proxy: o.Proxy = None,
    no_proxy_env: o.NoProxyEnv = False,
    http2: o.Http2 = False,
    preconnect: o.Preconnect = True,
    lost_after: o.LostAfter = "10",
    ready_timeout: o.ReadyTimeout = None,
    min_achieved: o.MinAchieved = "90%",
) -> None:
    """Run a benchmark (the default command). The target is --base-url, --mock, or a URL
    given as an argument: `llmbench-async http://localhost:8000/v1 -n 10`."""
    flags = Flags(**locals())  # every parameter, by name
    from .pipeline import run_flags  # the whole run path: loaded only when a run starts

    raise typer.Exit(run_flags(flags))
