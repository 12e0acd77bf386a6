"""``LLMAttributionVisualizer``: the generation view of a causal language model.

The user edits or picks a prompt, generates a continuation (greedy) or types one, and
attributes it with Captum 0.9's LLM wrappers (``LLMAttribution`` over a perturbation method,
``LLMGradientAttribution`` over a layer gradient method on the input embeddings). The view
shows the output-tokens x input-features matrix (``token_attr``, T x M), the sequence row
(``seq_attr``, M) and the prompt coloured by the row under the pointer.

Rows are sent as they are computed: with ``rows_per_chunk`` = k > 0 (token granularity,
``log_prob``, methods with per-token rows) the target is attributed k tokens per engine call,
each call explaining tokens a..b-1 of the target with the prompt followed by the target's first
a tokens as the model input (those a tokens are context, not features: the rows equal the
one-call rows, and the sequence row is their sum, since log P(t | x) = sum_j log P(t_j | x,
t_<j) and both wrappers' sequence attributions are linear in it). Otherwise one call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..attr import (
    LLMAttribution,
    LLMGradientAttribution,
    ProductBaselines,
    TextTemplateInput,
    TextTokenInput,
)
from ..attr.core import attribution_progress, describe
from ..attr.speed import model_device
from .hosting import WidgetHost
from .interface import Selection
from .llm_methods import (
    ATTR_TARGETS,
    BASELINES,
    GRANULARITIES,
    LLM_METHODS,
    MAX_NEW_TOKENS,
    ROWS_PER_CHUNK,
    is_gradient,
    options_schema,
)
from .registry import MethodSpec, find_method
from .wire import encode_tensor

#: called with each chunk of rows as it is computed (see :meth:`LLMAttributionVisualizer.attribute`)
OnChunk = Callable[[Dict[str, Any]], Any]
MAX_PROMPTS = 64


@dataclass(frozen=True)
class LLMRequest:
    """One attribution request of the generation view, validated."""

    prompt: str
    target: str
    method: MethodSpec
    arguments: Dict[str, Any]
    granularity: str = "tokens"
    baseline: str = "pad"
    baseline_text: str = ""
    attr_target: str = "log_prob"
    rows_per_chunk: int = 0

    def describe(self) -> Dict[str, Any]:
        return {"prompt": self.prompt, "target": self.target, "method": self.method.name,
                "arguments": self.arguments, "granularity": self.granularity,
                "baseline": self.baseline, "baseline_text": self.baseline_text,
                "attr_target": self.attr_target}


class _PrefixedTokenInput(TextTokenInput):
    """The prompt's tokens as features, followed by target tokens that are model input only
    (context for a later chunk of the target: never perturbed, never attributed)."""

    def __init__(self, prompt: TextTokenInput, prefix: Tensor) -> None:
        self.__dict__.update(prompt.__dict__)
        prefix = prefix.reshape(1, -1).to(self.inp_tensor.dtype).cpu()
        self.inp_tensor = torch.cat([prompt.inp_tensor, prefix], 1)
        self.itp_mask = torch.cat([prompt.itp_mask, torch.zeros_like(prefix, dtype=torch.bool)],
                                  1)


class LLMAttributionVisualizer(WidgetHost):
    """Interactive prompt attribution for a causal language model.

    Args:
        model: a causal LM: ``model(input_ids, attention_mask=...)`` returning logits (or
            ``.logits``), ``generate`` for the Generate button, and ``get_input_embeddings``
            for the gradient methods (any Hugging Face ``*ForCausalLM`` qualifies).
        tokenizer: with ``encode``, ``decode`` and ``convert_ids_to_tokens`` (Hugging Face).
        prompts: prompts offered in the picker (the first is shown first).
        max_new_tokens: default length of a generated continuation.
        method: the method selected first (a name of ``LLM_METHODS``).
    """

    title = "insight_widget: LLM"

    def __init__(self, model: nn.Module, tokenizer: Any, prompts: Sequence[str] = (),
                 max_new_tokens: int = 8, method: str = "Feature Ablation") -> None:
        if not callable(model):
            raise TypeError(f"`model` must be a callable language model; got {describe(model)}.")
        for name in ("encode", "decode", "convert_ids_to_tokens"):
            if not callable(getattr(tokenizer, name, None)):
                raise TypeError(f"`tokenizer` must have a `{name}` method (a Hugging Face "
                                f"tokenizer); got {describe(tokenizer)}.")
        if isinstance(prompts, str) or not all(isinstance(p, str) and p for p in prompts):
            raise TypeError("`prompts` must be a list of non-empty strings; got "
                            f"{describe(prompts)}.")
        if len(prompts) > MAX_PROMPTS:
            raise ValueError(f"`prompts` holds at most {MAX_PROMPTS} prompts; got {len(prompts)}.")
        self.model = model
        self.tokenizer = tokenizer
        self.prompts = list(prompts)
        self.max_new_tokens = MAX_NEW_TOKENS.parse(max_new_tokens)
        self.methods = [spec for spec in LLM_METHODS if spec.resolve() is not None
                        and (not is_gradient(spec) or self._embeddings() is not None)]
        spec = find_method(method, self.methods)
        self.selection = Selection(spec.name, spec.defaults())

    def widget_class(self) -> type:
        from .llm_session import LLMWidget

        return LLMWidget

    def _embeddings(self) -> Optional[nn.Module]:
        get = getattr(self.model, "get_input_embeddings", None)
        layer = get() if callable(get) else None
        return layer if isinstance(layer, nn.Module) else None

    # -- the UI ------------------------------------------------------------------------------------
    def spec(self) -> Dict[str, Any]:
        """Everything the front end needs (JSON). The classifier visualiser's keys are present
        (empty) so the shared front-end state builds the same way."""
        return {"kind": "llm", "classes": [], "models": [type(self.model).__name__],
                "features": [], "layers": [], "use_label_for_attr": False, "predictions": [],
                "max_examples": 0, "methods": [spec.schema() for spec in self.methods],
                "llm": {"prompts": list(self.prompts), "default_max_new_tokens":
                        self.max_new_tokens, **options_schema()}}

    def request(self, chosen: Mapping[str, Any]) -> LLMRequest:
        """Validate the settings of a front-end request (``ValueError``/``TypeError`` naming
        the field)."""
        spec = find_method(chosen.get("method") or self.selection.method, self.methods)
        prompt = chosen.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"`prompt` must be a non-empty string; got {describe(prompt)}.")
        target = chosen.get("target") or ""
        if not isinstance(target, str):
            raise TypeError(f"`target` must be a string; got {describe(target)}.")
        granularity = _choice(chosen, "granularity", GRANULARITIES)
        attr_target = _choice(chosen, "attr_target", ATTR_TARGETS)
        if is_gradient(spec) and granularity != "tokens":
            raise ValueError(f"{spec.name} attributes tokens (the embedding layer); choose "
                             f"granularity 'tokens' or a perturbation method (got "
                             f"{granularity!r}).")
        baseline_text = chosen.get("baseline_text") or ""
        if not isinstance(baseline_text, str):
            raise TypeError(f"`baseline_text` must be a string; got {describe(baseline_text)}.")
        return LLMRequest(prompt, target, spec, spec.parse_arguments(chosen.get("arguments")),
                          granularity, _choice(chosen, "baseline", BASELINES), baseline_text,
                          attr_target, ROWS_PER_CHUNK.parse(chosen.get("rows_per_chunk", 0)))

    # -- generation ------------------------------------------------------------------------
    def generate(self, prompt: str, max_new_tokens: Optional[int] = None) -> str:
        """The greedy continuation of ``prompt`` (``max_new_tokens`` new tokens, fewer when the
        model ends the sequence), decoded."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError(f"`prompt` must be a non-empty string; got {describe(prompt)}.")
        count = MAX_NEW_TOKENS.parse(self.max_new_tokens if max_new_tokens is None
                                     else max_new_tokens)
        generate = getattr(self.model, "generate", None)
        if not callable(generate):
            raise ValueError(f"{type(self.model).__name__} has no `generate` method: type the "
                             "target instead.")
        ids = self.tokenizer.encode(prompt, return_tensors="pt")
        ids = ids.to(model_device(self.model) or ids.device)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        eos = getattr(self.tokenizer, "eos_token_id", None)
        with torch.no_grad():
            out = generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=count,
                           do_sample=False, pad_token_id=pad if pad is not None else eos)
        sequences = getattr(out, "sequences", out)
        return self.tokenizer.decode(sequences[0, ids.shape[1]:], skip_special_tokens=True)

    # -- attribution ------------------------------------------------------------------------
    def attribute(self, request: LLMRequest, on_chunk: Optional[OnChunk] = None,
                  progress: Optional[Callable[[float], Any]] = None) -> Dict[str, Any]:
        """Attribute ``request.target`` (generated first when empty) to the prompt's features.

        ``on_chunk`` receives each chunk of rows as computed: ``{"start", "rows": wire (k, M),
        "output_tokens", "probs": wire (k,) or None, "input_tokens"}``. Returns the finished
        record: the request, ``input_tokens``, ``output_tokens``, ``chunks``, ``seq_attr``
        (wire (M,)), ``seconds``. ``progress`` is the engine's progress callback (False
        cancels)."""
        started = time.perf_counter()
        target = request.target or self.generate(request.prompt)
        if not target.strip():
            raise ValueError("the model generated an empty continuation; type a target.")
        target_ids = self.tokenizer.encode(target, add_special_tokens=False,
                                           return_tensors="pt")[0]
        inp = self._input(request)
        wrapper = self._wrapper(request)
        chunks = self._chunks(request, len(target_ids))
        record: Dict[str, Any] = {**request.describe(), "target": target, "chunks": [],
                                  "output_tokens": [], "input_tokens": []}
        seq: Optional[Tensor] = None
        sequence_only = False
        for index, (a, b) in enumerate(chunks):
            chunk_inp = inp if a == 0 else _PrefixedTokenInput(inp, target_ids[:a])
            chunk_target: Any = target if len(chunks) == 1 else target_ids[a:b]
            fraction = (lambda f, i=index: progress((i + f) / len(chunks))) if progress else None
            with attribution_progress(fraction or (lambda f: True)):
                result = wrapper.attribute(chunk_inp, target=chunk_target,
                                           **request.arguments)
            seq = result.seq_attr if seq is None else seq + result.seq_attr
            record["input_tokens"] = [str(t) for t in result.input_tokens]
            record["output_tokens"] += [str(t) for t in result.output_tokens]
            sequence_only = result.token_attr is None
            if sequence_only:
                continue
            probs = result.output_probs
            chunk = {"start": a, "rows": encode_tensor(result.token_attr.float()),
                     "output_tokens": [str(t) for t in result.output_tokens],
                     "input_tokens": record["input_tokens"],
                     "probs": None if probs is None else encode_tensor(probs.float())}
            record["chunks"].append(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
        assert seq is not None
        record["seq_attr"] = encode_tensor(seq.float())
        record["sequence_only"] = sequence_only
        record["seconds"] = round(time.perf_counter() - started, 3)
        return record

    def _chunks(self, request: LLMRequest, length: int) -> List[Tuple[int, int]]:
        k = request.rows_per_chunk
        chunked = (k > 0 and request.granularity == "tokens" and request.attr_target == "log_prob"
                   and request.method.class_name not in ("Lime", "KernelShap"))
        if not chunked:
            return [(0, length)]
        return [(a, min(a + k, length)) for a in range(0, length, k)]

    def _wrapper(self, request: LLMRequest) -> Any:
        engine = request.method.engine()
        if is_gradient(request.method):
            return LLMGradientAttribution(engine(self.model, self._embeddings()), self.tokenizer)
        return LLMAttribution(engine(self.model), self.tokenizer,
                              attr_target=request.attr_target)

    def _baseline_token(self, request: LLMRequest) -> Tuple[int, str]:
        """The replacement of an absent feature as (token id, text)."""
        tokenizer = self.tokenizer
        if request.baseline == "text":
            text = request.baseline_text
            if request.granularity != "tokens":  # replacement text (see _template_baselines)
                return -1, text
            ids = tokenizer.encode(text, add_special_tokens=False) if text else []
            if len(ids) != 1:
                raise ValueError(f"`baseline_text` {text!r} must be one token for granularity "
                                 f"'tokens'; it has {len(ids)}.")
            return int(ids[0]), text
        name = f"{request.baseline}_token"
        token_id = getattr(tokenizer, f"{name}_id", None)
        token = getattr(tokenizer, name, None)
        if token_id is None:  # GPT-2 has no pad token: its end-of-text token stands in
            token_id, token = tokenizer.eos_token_id, tokenizer.eos_token
        if token_id is None:
            raise ValueError(f"the tokenizer has no {name} (nor an end-of-sequence token); "
                             "choose baseline 'text'.")
        return int(token_id), str(token)

    def _input(self, request: LLMRequest) -> Any:
        token_id, text = self._baseline_token(request)
        if request.granularity == "tokens":
            bos = getattr(self.tokenizer, "bos_token_id", None)
            skip = [bos] if bos is not None and bos != token_id else None
            try:
                return TextTokenInput(request.prompt, self.tokenizer, baselines=token_id,
                                      skip_tokens=skip)
            except ValueError:  # the prompt is the start token alone
                return TextTokenInput(request.prompt, self.tokenizer, baselines=token_id)
        if request.granularity == "words":
            values = request.prompt.split()
            template = " ".join("{}" for _ in values)
        else:  # segments: the prompt cut at "|"
            values = [v for v in request.prompt.split("|") if v]
            template = "{}" * len(values)
        if not values:
            raise ValueError(f"`prompt` {request.prompt!r} has no {request.granularity}.")
        if request.baseline != "text":
            return TextTemplateInput(template, values, baselines=[text] * len(values))
        return TextTemplateInput(template, values,
                                 baselines=_template_baselines(request.baseline_text, values))


def _template_baselines(text: str, values: List[str]) -> Any:
    """The baselines of a words/segments input from the typed text: one entry for every
    feature, or one per feature separated by "|"; an entry with alternatives separated by "/"
    makes the baselines a :class:`ProductBaselines` (one alternative drawn per feature and
    evaluation, as in Captum's template tutorial)."""
    entries = text.split("|") if "|" in text else [text] * len(values)
    if len(entries) != len(values):
        raise ValueError(f"`baseline_text` has {len(entries)} entries separated by '|' but the "
                         f"prompt has {len(values)} features; give one, or one per feature.")
    choices = [[a for a in entry.split("/") if a.strip()] or [""] for entry in entries]
    if all(len(c) == 1 for c in choices):
        return [c[0] for c in choices]
    return ProductBaselines(choices)


def _choice(chosen: Mapping[str, Any], name: str, options: Sequence[str]) -> str:
    value = chosen.get(name) or options[0]
    if value not in options:
        raise ValueError(f"`{name}` must be one of {list(options)}; got {value!r}.")
    return value
