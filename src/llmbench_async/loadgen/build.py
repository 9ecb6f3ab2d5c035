"""From a RunConfig to the `Workload`: what every request of a run sends (prompts or a
dataset, synthetic inputs, prefixes, several models, tools and response formats, images).
The runner, workers and Ray actors build it the same way."""

from __future__ import annotations

from ..config import RunConfig
from ..wire.structured import check_settings, request_fields
from .images import Image, image_pool
from .models import ModelMix, parse_model_mix
from .workload import Conversation, PromptItem, SyntheticInput, Workload, load_prompts


def build_workload(config: RunConfig, prompts: tuple[PromptItem, ...] | None = None) -> Workload:
    """What every request of the run sends (the model must be resolved)."""
    assert config.model is not None
    conversations: tuple[Conversation, ...] = ()
    if config.dataset is not None:
        from .datasets import dataset_spec, load_dataset

        prompts, conversations = load_dataset(dataset_spec(config))
    elif prompts is None:
        prompts = load_prompts(config)
    synthetic = None if config.input_tokens is None else SyntheticInput(*config.input_tokens)
    check_settings(config.api, config.tools, config.tool_choice, config.response_format)
    return Workload(
        api=config.api,
        model=config.model,
        prompts=() if synthetic or conversations else prompts,
        max_tokens=config.max_tokens,
        stream=config.stream,
        synthetic=synthetic,
        sample=config.sample_prompts,
        seed=config.seed or 0,
        ignore_eos=config.ignore_eos,
        extra_body=config.extra_body,
        max_tokens_field=config.max_tokens_field,
        batch=config.batch,
        prefix_tokens=config.prefix_tokens,
        prefix_groups=config.prefix_groups,
        conversations=conversations,
        mix=model_mix(config),
        turns=config.turns,
        request_fields=request_fields(
            config.api, config.tools, config.tool_choice, config.response_format
        ),
        images=_image_pool(config),
        images_per_request=config.images or (1 if config.image_dir else 0),
    )


def _image_pool(config: RunConfig) -> tuple[Image, ...]:
    """The images the run's requests carry (none without --images or --image-dir)."""
    if not config.images and config.image_dir is None:
        return ()
    seed = config.seed or 0
    return image_pool(config.images or 1, config.image_size, seed, config.image_dir)


def model_mix(config: RunConfig) -> ModelMix | None:
    """How requests spread over several models (None: one model)."""
    if len(config.models) < 2:
        return None
    return parse_model_mix(config.model_mix or "round-robin", config.models, config.seed)
