"""Attribution of a language model served elsewhere (vLLM's OpenAI-compatible API).

A model too large for one machine is served by vLLM (tensor/pipeline parallel across GPUs
and hosts); attribution needs only the log-probabilities of the target after each perturbed
prompt, which vLLM returns as ``prompt_logprobs`` of a completion request over prompt +
target. The ``openai`` client is an optional dependency (``pip install openai``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

from .._utils.validation import check_choice, describe
from ..base import PerturbationAttribution
from .interpretable_input import InterpretableInput
from .llm_attr import ATTR_TARGETS, SEQUENCE_ONLY_METHODS, LLMAttribution, _BaseLLMAttribution
from .targets import resolve_target
from .tokens import as_id_row, check_tokenizer, encode


class RemoteLLMProvider(ABC):
    """A served language model that generates text and returns token log-probabilities."""

    @abstractmethod
    def generate(self, prompt: str, **gen_args: Any) -> str:
        """The generated continuation of ``prompt``."""

    @abstractmethod
    def get_logprobs(self, input_prompt: str, target_str: str,
                     tokenizer: Optional[Any] = None) -> List[float]:
        """Log-probabilities of the tokens of ``target_str`` after ``input_prompt``: one per
        target token (as ``tokenizer`` splits it)."""


class VLLMProvider(RemoteLLMProvider):
    """A vLLM server (``vllm serve MODEL``) through its OpenAI-compatible API.

    Args:
        api_url: base URL, e.g. ``http://host:8000/v1``.
        model_name: served model; None takes the first one the server lists.
    """

    def __init__(self, api_url: str, model_name: Optional[str] = None) -> None:
        if not isinstance(api_url, str) or not api_url.strip():
            raise ValueError(f"API URL is required; got {describe(api_url)}.")
        self.api_url = api_url
        try:
            import openai
        except ImportError as error:  # pragma: no cover - the extra is installed in CI
            raise ImportError("VLLMProvider needs the `openai` client: pip install openai") \
                from error
        try:
            self.client = openai.OpenAI(base_url=api_url, api_key="EMPTY")
        except Exception as error:
            raise ConnectionError(f"Failed to connect to vLLM API at {api_url}: {error}") \
                from error
        if model_name is None:
            try:
                models = list(self.client.models.list().data)
            except Exception as error:
                raise ConnectionError(f"Failed to connect to vLLM API at {api_url}: {error}") \
                    from error
            if not models:
                raise ValueError(f"No models available at {api_url}.")
            model_name = models[0].id
        self.model_name = model_name

    def generate(self, prompt: str, **gen_args: Any) -> str:
        """Completion of ``prompt``; ``max_new_tokens`` is accepted for ``max_tokens``
        (default 25)."""
        if "max_new_tokens" in gen_args:
            gen_args["max_tokens"] = gen_args.pop("max_new_tokens")
        gen_args.setdefault("max_tokens", 25)
        try:
            response = self.client.completions.create(model=self.model_name, prompt=prompt,
                                                      **gen_args)
        except Exception as error:
            raise ConnectionError(f"Failed to connect to vLLM API: {error}") from error
        choices = getattr(response, "choices", None)
        if not choices:
            raise KeyError("API response missing expected 'choices' data.")
        return choices[0].text

    def get_logprobs(self, input_prompt: str, target_str: str,
                     tokenizer: Optional[Any] = None) -> List[float]:
        """The target tokens' log-probabilities from ``prompt_logprobs`` of one completion
        request over ``input_prompt + target_str`` (one token generated, greedy)."""
        if tokenizer is None:
            raise ValueError("Tokenizer is required to count the target's tokens.")
        if not target_str:
            raise ValueError("Target string cannot be empty.")
        n_target = len(encode(tokenizer, target_str, add_special_tokens=False))
        try:
            response = self.client.completions.create(
                model=self.model_name, prompt=input_prompt + target_str, temperature=0.0,
                max_tokens=1, extra_body={"prompt_logprobs": 0})
        except Exception as error:
            raise ConnectionError(f"Failed to connect to vLLM API when getting logprobs: "
                                  f"{error}") from error
        choices = getattr(response, "choices", None)
        if not choices:
            raise KeyError("API response missing expected 'choices' data.")
        entries = getattr(choices[0], "prompt_logprobs", None)
        if entries is None and isinstance(choices[0], dict):
            entries = choices[0].get("prompt_logprobs")
        if entries is None:
            raise KeyError("API response missing 'prompt_logprobs' data.")
        values = [_entry_logprob(entry) for entry in list(entries)[-n_target:]]
        if len(values) < n_target:
            raise ValueError(f"Not enough logprobs received: expected {n_target}, got "
                             f"{len(values)}.")
        return values


def _entry_logprob(entry: Any) -> float:
    """The log-probability in one ``prompt_logprobs`` entry ({token id: {"logprob": ...}})."""
    if not entry:
        raise ValueError("Empty probability data in the API response.")
    try:
        info = next(iter(entry.values()))
        return float(info["logprob"] if isinstance(info, dict) else info.logprob)
    except (KeyError, AttributeError, TypeError, StopIteration) as error:
        raise IndexError(f"Unexpected format in log probability data: {entry!r}") from error


class _PlaceholderModel:
    """Stands in for the model in the wrapped method (the provider does the work); carries
    ``device`` (where results are put)."""

    def __init__(self) -> None:
        self.device: Union[str, torch.device] = "cpu"

    def __call__(self, *args: Any, **kwargs: Any) -> int:
        return 0


class RemoteLLMAttribution(LLMAttribution):
    """:class:`LLMAttribution` for a model behind a :class:`RemoteLLMProvider`.

    Build the wrapped method on ``RemoteLLMAttribution.placeholder_model`` (set its
    ``device`` for where results go). Each perturbed prompt costs one provider request.

    Args:
        attr_method: FeatureAblation, ShapleyValueSampling, ShapleyValues, Lime or KernelShap.
        tokenizer: the served model's tokenizer (``encode``, ``decode``,
            ``convert_ids_to_tokens``).
        provider: the served model.
        attr_target: ``"log_prob"`` (default) or ``"prob"``.
    """

    placeholder_model = _PlaceholderModel()
    # Each prompt is one provider request: attribute_batch runs the prompts one by one.
    _shares_passes = False

    def __init__(self, attr_method: PerturbationAttribution, tokenizer: Any,
                 provider: RemoteLLMProvider, attr_target: str = "log_prob") -> None:
        if not isinstance(provider, RemoteLLMProvider):
            raise TypeError(f"`provider` must be a RemoteLLMProvider; got {describe(provider)}.")
        check_tokenizer(tokenizer, ("encode", "decode", "convert_ids_to_tokens"))
        _BaseLLMAttribution.__init__(self, attr_method, tokenizer)
        self.provider = provider
        self.attr_target = check_choice("attr_target", attr_target, list(ATTR_TARGETS))
        self.include_per_token_attr = not isinstance(attr_method, SEQUENCE_ONLY_METHODS)
        self.device = torch.device(getattr(attr_method.forward_func, "device", "cpu"))

    def _target_ids(self, inp: InterpretableInput, target: Any,
                    gen_args: Optional[Dict[str, Any]], skip: List[int]) -> Tensor:
        """A None target is generated by the provider (``gen_args`` go to it)."""
        self.device = torch.device(getattr(self.attr_method.forward_func, "device", "cpu"))
        if target is None:
            target = self.provider.generate(self._prompt_text(inp.to_model_input()),
                                            **(gen_args or {}))
            if not target:
                raise ValueError("the provider generated an empty target.")
        return resolve_target(self.model, self.tokenizer, inp, target, None, skip)

    def _prompt_text(self, model_input: Any) -> str:
        if isinstance(model_input, str):
            return model_input
        return self.tokenizer.decode(as_id_row(model_input, "the input's token ids"))

    def _forward(self, inp: InterpretableInput, target_ids: Tensor, forward_in_tokens: bool,
                 inspect: Optional[Callable[[str, str, List[float]], None]],
                 scorer: Any = None) -> Tuple[Callable[[Tensor], Tensor], Any]:
        target_text = self.tokenizer.decode(target_ids.cpu())
        per_token = self.include_per_token_attr
        prob = self.attr_target == "prob"
        T = len(target_ids)
        device = self.device

        def log_probs_of(prompt: str) -> Tensor:
            values = self.provider.get_logprobs(prompt, target_text, self.tokenizer)
            if len(values) != T:
                raise ValueError(f"the provider returned {len(values)} log-probabilities for a "
                                 f"target of {T} tokens.")
            if inspect is not None:
                inspect(prompt, target_text, list(values))
            return torch.tensor(values, dtype=torch.float32, device=device)

        def forward(rows: Tensor) -> Tensor:
            rows = rows.reshape(-1, rows.shape[-1])
            scores = torch.stack([log_probs_of(self._prompt_text(
                inp.to_model_input(rows[r:r + 1]))) for r in range(rows.shape[0])])
            unperturbed_rows = rows.ne(0).all(1).nonzero()
            if len(unperturbed_rows) and _Scorer.unperturbed is None:
                _Scorer.unperturbed = scores[unperturbed_rows[0, 0]]
            sequence = scores.sum(1, keepdim=True)
            values = torch.cat([sequence, scores], 1) if per_token else sequence
            return values.exp() if prob else values

        class _Scorer:
            unperturbed: Optional[Tensor] = None

            @staticmethod
            def log_probs(_prompts: Any) -> Tensor:
                return log_probs_of(self._prompt_text(inp.to_model_input())).unsqueeze(0)

        # One request per prompt: stacking rows gains nothing, so keep one row per call.
        forward.stacks_rows_safely = False  # type: ignore[attr-defined]
        return forward, _Scorer()
