"""LLMAttribution and LLMGradientAttribution: Captum 0.9's LLM wrappers, batched.

Both explain the log-probability (or probability) of a target continuation t_1..t_T of a
prompt. Results are :class:`LLMAttributionResult` with ``seq_attr`` (one value per input
feature, for the whole target) and ``token_attr`` (T x features, one row per target token).

What is batched (results are Captum's; only the work differs):

* ``LLMAttribution`` hands the wrapped perturbation method a forward function over *rows* of
  the interpretable tensor, so the engine stacks as many perturbed prompts per call as the
  memory budget allows (:mod:`insight_widget.attr._utils.perturbation`), and each call scores
  all T target tokens (:class:`~.scoring.TargetScorer`). Captum runs one prompt per call and
  one model pass per target token.
* ``LLMGradientAttribution(LayerIntegratedGradients)`` on a causal language model's input
  embedding runs each chunk of path steps forward once over prompt + target and takes the T
  per-token gradients from that one graph (:mod:`.integrated`); Captum runs a full Layer IG
  per target token.
* ``attribute_batch`` (both wrappers; not in Captum) takes several prompts per call, their
  evaluations in shared passes (:mod:`.batch`, :mod:`.integrated`), each result equal to the
  prompt's own ``attribute`` call.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .._utils.hooks import HookSet
from .._utils.sampling import draw_reference_indices, noisy_samples, path_coefficients
from .._utils.validation import check_bool, check_choice, check_int, describe
from ..base import Attribution, GradientAttribution, PerturbationAttribution
from ..layer.layer_gradient_shap import LayerGradientShap
from ..layer.layer_gradient_x_activation import LayerGradientXActivation
from ..layer.layer_integrated_gradients import LayerIntegratedGradients
from ..perturbation.feature_ablation import FeatureAblation
from ..perturbation.kernel_shap import KernelShap
from ..perturbation.lime import Lime
from ..perturbation.shapley_value_sampling import ShapleyValueSampling
from ..perturbation.shapley_values import ShapleyValues
from .batch import (
    RandomState,
    RecordingScorer,
    TableScorer,
    check_batch,
    per_prompt,
    score_shared,
)
from .integrated import integrated_all_tokens, output_head
from .interpretable_input import InterpretableInput, TextTokenInput
from .result import LLMAttributionResult
from .scoring import TargetScorer, is_causal_lm, logits_of, model_device
from .targets import check_context, prompt_ids, resolve_target
from .tokens import check_tokenizer, ids_to_tokens, readable_tokens, token_ids

SUPPORTED_PERTURBATION_METHODS = (FeatureAblation, ShapleyValueSampling, ShapleyValues, Lime,
                                  KernelShap)
SEQUENCE_ONLY_METHODS = (Lime, KernelShap)
SUPPORTED_GRADIENT_METHODS = (LayerIntegratedGradients, LayerGradientXActivation,
                              LayerGradientShap)
ATTR_TARGETS = ("log_prob", "prob")


class _BaseLLMAttribution(Attribution):
    """What both wrappers share: the model, the tokenizer, targets and validation."""

    SUPPORTED_METHODS: Tuple[type, ...] = ()

    def __init__(self, attr_method: Attribution, tokenizer: Any) -> None:
        if not isinstance(attr_method, self.SUPPORTED_METHODS):
            names = ", ".join(c.__name__ for c in self.SUPPORTED_METHODS)
            raise TypeError(f"`attr_method` must be one of {names}; got {describe(attr_method)}.")
        check_tokenizer(tokenizer)
        super().__init__(attr_method.forward_func)
        self.attr_method = attr_method
        self.tokenizer = tokenizer
        self.model = attr_method.forward_func
        self.device = model_device(self.model)

    def attribute_future(self) -> Callable[[], LLMAttributionResult]:
        """Not implemented for the LLM wrappers (as in Captum)."""
        raise NotImplementedError(f"attribute_future is not implemented for "
                                  f"{type(self).__name__}.")

    def _check_input(self, inp: Any, kind: type = InterpretableInput) -> None:
        if not isinstance(inp, kind):
            raise TypeError(f"`inp` must be a {kind.__name__}; got {describe(inp)}.")

    def _skip_ids(self, skip_tokens: Any) -> List[int]:
        return token_ids(self.tokenizer, skip_tokens, "skip_tokens")

    def _output_tokens(self, target_ids: Tensor) -> List[str]:
        return readable_tokens(self.tokenizer, target_ids.tolist())


class LLMAttribution(_BaseLLMAttribution):
    r"""Perturbation attribution of a language model's target continuation.

    Wraps FeatureAblation, ShapleyValueSampling, ShapleyValues, Lime or KernelShap. The
    features are those of the :class:`InterpretableInput` (tokens, template segments, image
    segments). With ``attr_target="log_prob"`` the explained values are the target tokens'
    log-probabilities :math:`\log P(t_j \mid x, t_{<j})` and, for the sequence, their sum
    :math:`\log P(t \mid x)`; with ``"prob"`` their exponentials (the sequence probability is
    the product). ``token_attr`` is None for Lime and KernelShap (sequence only).

    Args:
        attr_method: a perturbation method constructed on the language model
            (``model(input_ids, attention_mask=...)`` returning logits or ``.logits``).
        tokenizer: with ``encode`` and ``convert_ids_to_tokens``.
        attr_target: ``"log_prob"`` (default) or ``"prob"``.
    """

    SUPPORTED_METHODS = SUPPORTED_PERTURBATION_METHODS

    def __init__(self, attr_method: PerturbationAttribution, tokenizer: Any,
                 attr_target: str = "log_prob") -> None:
        super().__init__(attr_method, tokenizer)
        self.attr_target = check_choice("attr_target", attr_target, list(ATTR_TARGETS))
        self.include_per_token_attr = not isinstance(attr_method, SEQUENCE_ONLY_METHODS)

    def attribute(  # type: ignore[override]
        self,
        inp: InterpretableInput,
        target: Union[str, Tensor, None] = None,
        num_trials: int = 1,
        gen_args: Optional[Dict[str, Any]] = None,
        use_cached_outputs: bool = True,
        _inspect_forward: Optional[Callable[[str, str, List[float]], None]] = None,
        forward_in_tokens: bool = True,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        """Attribute the target to the input's features.

        Args:
            inp: the prompt as an interpretable input.
            target: the continuation as text or token ids; None generates it (``gen_args``).
            num_trials: runs averaged (useful with sampled baselines or methods).
            gen_args: ``model.generate`` arguments when ``target`` is None (default greedy,
                25 new tokens).
            use_cached_outputs: accepted for compatibility; scores are computed exactly
                without a KV cache (see :mod:`.scoring`).
            _inspect_forward: called per scored prompt with (prompt text, target text,
                token log-probabilities as a list).
            forward_in_tokens: True scores token by token (exact); False uses one pass over
                prompt + target (Captum's approximation for non-causal models).
            **kwargs: passed to the wrapped method's ``attribute`` (``n_samples``,
                ``perturbations_per_eval``, ...). ``skip_tokens`` (ids or strings) drops those
                tokens from the target (as newer Captum releases do).

        Returns:
            :class:`LLMAttributionResult` with ``seq_attr`` (features,) and ``token_attr``
            (T, features) on the model's device (features in the input's units, e.g. one per
            template value).
        """
        self._check_input(inp)
        num_trials = check_int("num_trials", num_trials, minimum=1)
        check_bool("use_cached_outputs", use_cached_outputs)
        check_bool("forward_in_tokens", forward_in_tokens)
        skip = self._skip_ids(kwargs.pop("skip_tokens", None))
        target_ids = self._target_ids(inp, target, gen_args, skip)
        forward, scorer = self._forward(inp, target_ids, forward_in_tokens, _inspect_forward)
        return self._run(inp, target_ids, forward, scorer, num_trials, kwargs)

    def attribute_batch(
        self,
        inps: Sequence[InterpretableInput],
        targets: Optional[Sequence[Union[str, Tensor, None]]] = None,
        num_trials: int = 1,
        gen_args: Optional[Dict[str, Any]] = None,
        use_cached_outputs: bool = True,
        _inspect_forward: Optional[Callable[[str, str, List[float]], None]] = None,
        forward_in_tokens: bool = True,
        **kwargs: Any,
    ) -> List[LLMAttributionResult]:
        """Attribute several prompts in one call; their perturbed prompts share model passes.

        Result i equals ``attribute(inps[i], targets[i], ...)`` run after results 0..i-1 (the
        same random draws: the calls consume the random generators in that order), computed
        with the N prompts' evaluations in shared, padded passes (see :mod:`.batch`; a model
        scored token by token shares passes between prompts of equal length).

        Args:
            inps: N interpretable inputs (any mix of text inputs).
            targets: None (every target generated with ``gen_args``) or one target per input
                (text, token ids, or None to generate that one).
            num_trials, gen_args, use_cached_outputs, _inspect_forward, forward_in_tokens,
                **kwargs: as in :meth:`attribute`, applied to every prompt.

        Returns:
            N :class:`LLMAttributionResult`, in the order of ``inps``.
        """
        inps, targets = check_batch(inps, targets, InterpretableInput)
        num_trials = check_int("num_trials", num_trials, minimum=1)
        check_bool("use_cached_outputs", use_cached_outputs)
        check_bool("forward_in_tokens", forward_in_tokens)
        skip = self._skip_ids(kwargs.pop("skip_tokens", None))
        target_ids = [self._target_ids(inp, target, gen_args, skip)
                      for inp, target in zip(inps, targets)]
        if not self._shares_passes:
            return [self._run(inp, ids, *self._forward(inp, ids, forward_in_tokens,
                                                        _inspect_forward), num_trials,
                              dict(kwargs)) for inp, ids in zip(inps, target_ids)]
        start = RandomState()
        wanted: Dict[Any, Tensor] = {}
        for index, (inp, ids) in enumerate(zip(inps, target_ids)):
            recorder = RecordingScorer(self.model, ids, index, wanted, forward_in_tokens)
            self._run(inp, ids, *self._forward(inp, ids, forward_in_tokens, None, recorder),
                      num_trials, dict(kwargs))
        table = score_shared(self.model, target_ids, wanted, forward_in_tokens)
        start.restore()
        results = []
        for index, (inp, ids) in enumerate(zip(inps, target_ids)):
            reader = TableScorer(self.model, ids, index, table, forward_in_tokens)
            results.append(self._run(inp, ids, *self._forward(
                inp, ids, forward_in_tokens, _inspect_forward, reader), num_trials, dict(kwargs)))
        return results

    # Perturbed prompts of several inputs can share passes (a remote model scores one by one).
    _shares_passes = True

    def _run(self, inp: InterpretableInput, target_ids: Tensor,
             forward: Callable[[Tensor], Tensor], scorer: Any, num_trials: int,
             kwargs: Dict[str, Any]) -> LLMAttributionResult:
        """The wrapped method over ``inp`` with ``forward``, averaged over the trials."""
        itp = inp.to_tensor().to(self.device)
        total: Optional[Tensor] = None
        with HookSet() as hooks:
            hooks.set_attribute(self.attr_method, "forward_func", forward)
            for _ in range(num_trials):
                attr = self.attr_method.attribute(itp, **kwargs)
                attr = attr.reshape(-1, itp.shape[1])
                total = attr if total is None else total + attr
        assert total is not None
        attr = inp.format_attr(total / num_trials)
        if scorer.unperturbed is None:  # e.g. a method that never evaluates the input itself
            with torch.no_grad():
                scorer.unperturbed = scorer.log_probs([prompt_ids(inp, self.tokenizer)])[0]
        probs = scorer.unperturbed.exp()
        return LLMAttributionResult(
            seq_attr=attr[0],
            token_attr=attr[1:] if self.include_per_token_attr else None,
            input_tokens=_input_tokens(inp),
            output_tokens=self._output_tokens(target_ids),
            output_probs=probs,
            inp=inp,
        )

    def _target_ids(self, inp: InterpretableInput, target: Any,
                    gen_args: Optional[Dict[str, Any]], skip: List[int]) -> Tensor:
        return resolve_target(self.model, self.tokenizer, inp, target, gen_args, skip)

    def _forward(self, inp: InterpretableInput, target_ids: Tensor, forward_in_tokens: bool,
                 inspect: Optional[Callable[[str, str, List[float]], None]],
                 scorer: Optional[TargetScorer] = None,
                 ) -> Tuple[Callable[[Tensor], Tensor], TargetScorer]:
        """The function of interpretable rows (k, M) -> (k, 1 + T) explained values (scores
        from ``scorer``, by default a :class:`TargetScorer` of the model)."""
        if scorer is None:
            scorer = TargetScorer(self.model, target_ids, forward_in_tokens)
        unperturbed = prompt_ids(inp, self.tokenizer)
        check_context(self.model, len(unperturbed), len(target_ids))
        target_text = None
        per_token = self.include_per_token_attr
        prob = self.attr_target == "prob"

        def forward(rows: Tensor) -> Tensor:
            nonlocal target_text
            rows = rows.reshape(-1, rows.shape[-1])
            prompts = _model_prompts(inp, self.tokenizer, rows)
            log_probs = scorer.log_probs(prompts)  # (k, T)
            unperturbed_rows = rows.ne(0).all(1).nonzero()
            if len(unperturbed_rows) and scorer.unperturbed is None:
                scorer.unperturbed = log_probs[unperturbed_rows[0, 0]].detach()
            if inspect is not None:
                target_text = target_text or _decode(self.tokenizer, target_ids)
                for prompt, values in zip(prompts, log_probs):
                    inspect(_decode(self.tokenizer, prompt), target_text, values.tolist())
            sequence = log_probs.sum(1, keepdim=True)
            values = torch.cat([sequence, log_probs], 1) if per_token else sequence
            return values.exp() if prob else values

        # The engine may stack perturbed prompts: rows never mix in a model in eval mode.
        forward.model = self.model  # type: ignore[attr-defined]
        forward.stacks_rows_safely = not _has_training_modules(self.model)  # type: ignore
        # A language model's per-row activations (logits over the vocabulary) are large; on
        # CPU its matrix products keep their speed per row at any batch size, so only the
        # memory budget bounds the prompts per call.
        forward.call_bytes_target = None  # type: ignore[attr-defined]
        return forward, scorer


def _has_training_modules(model: Any) -> bool:
    return isinstance(model, nn.Module) and any(m.training for m in model.modules()
                                                if _mixes_rows(m))


def _mixes_rows(module: nn.Module) -> bool:
    return isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd))


def _model_prompts(inp: InterpretableInput, tokenizer: Any, rows: Tensor) -> List[Tensor]:
    """Token ids (1-d, one per row) of the prompts for the interpretable rows."""
    if isinstance(inp, TextTokenInput):
        ids = inp.to_model_input(rows)
        return [ids[r] for r in range(ids.shape[0])]
    prompts = []
    for r in range(rows.shape[0]):
        prompts.append(prompt_ids(inp, tokenizer, inp.to_model_input(rows[r:r + 1])))
    return prompts


def _decode(tokenizer: Any, ids: Tensor) -> str:
    decode = getattr(tokenizer, "decode", None)
    if callable(decode):
        return decode(ids)
    return " ".join(ids_to_tokens(tokenizer, ids.tolist()))


def _input_tokens(inp: InterpretableInput) -> List[str]:
    values = getattr(inp, "values", None)
    if isinstance(values, list):
        return [str(v) for v in values]
    return [str(i) for i in range(inp.to_tensor().shape[1])]


class LLMGradientAttribution(_BaseLLMAttribution):
    r"""Gradient attribution of a language model's target continuation to the prompt tokens.

    Wraps LayerIntegratedGradients, LayerGradientXActivation or LayerGradientShap built on
    the model and its token embedding layer. For target token j the wrapped method explains
    :math:`\log P(t_j \mid x, t_{<j})` w.r.t. the embeddings of the prompt (the target prefix
    is part of the input but is not attributed: its baseline is itself); the row of
    ``token_attr`` is the attribution summed over the embedding dimension, per prompt token
    (``skip_tokens`` of the :class:`TextTokenInput` left out), and ``seq_attr`` sums the rows.
    The default baseline is the input's own baseline token (``TextTokenInput(baselines=...)``).

    Args:
        attr_method: the layer gradient method (model and embedding layer).
        tokenizer: with ``encode`` and ``convert_ids_to_tokens``.
    """

    SUPPORTED_METHODS = SUPPORTED_GRADIENT_METHODS

    def __init__(self, attr_method: GradientAttribution, tokenizer: Any) -> None:
        super().__init__(attr_method, tokenizer)

    def attribute(  # type: ignore[override]
        self,
        inp: InterpretableInput,
        target: Union[str, Tensor, None] = None,
        gen_args: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> LLMAttributionResult:
        """Attribute each target token to the prompt tokens.

        Args:
            inp: a :class:`TextTokenInput`.
            target: the continuation as text or ids; None generates it (``gen_args``).
            gen_args: ``model.generate`` arguments when ``target`` is None.
            **kwargs: passed to the wrapped method (``n_steps``, ``baselines`` as prompt ids
                of shape (1, L), ...); ``skip_tokens`` drops tokens from the target.

        Returns:
            :class:`LLMAttributionResult` (``token_attr`` (T, features), ``seq_attr``).
        """
        self._check_input(inp, TextTokenInput)
        skip = self._skip_ids(kwargs.pop("skip_tokens", None))
        baselines = kwargs.pop("baselines", None)
        prompt, baselines, target_ids = self._prepare(inp, target, gen_args, skip, baselines)
        if self._batched_path_applies(kwargs, baselines):
            (per_position,) = integrated_all_tokens(
                self.model, self.attr_method.layer, self.attr_method.multiplies_by_inputs,
                [prompt], [_single(baselines)], [target_ids], **kwargs)
        else:
            per_position = self._per_position(prompt, baselines, target_ids, kwargs)
        return self._result(inp, target_ids, per_position)

    def attribute_batch(
        self,
        inps: Sequence[TextTokenInput],
        targets: Optional[Sequence[Union[str, Tensor, None]]] = None,
        gen_args: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> List[LLMAttributionResult]:
        """Attribute several prompts in one call.

        With Layer IG on a causal language model's input embedding the path steps of all N
        prompts share their passes: rows of different lengths right-padded into one batch
        (attention mask; the pads follow the real tokens, so positions and scores are those
        of each prompt alone), one forward per chunk of steps and max_i T_i backward passes
        instead of sum_i T_i, chunks and groups of prompts sized by the memory budget. Other
        methods run prompt by prompt. Result i equals ``attribute(inps[i], targets[i], ...)``
        (up to float32 rounding of differently shaped batches).

        Args:
            inps: N :class:`TextTokenInput`.
            targets: None (all generated with ``gen_args``) or one target (text, ids or None)
                per input.
            gen_args: ``model.generate`` arguments for the generated targets.
            **kwargs: as in :meth:`attribute`, for every prompt; ``baselines``, if given, is a
                list with one entry per input (each as :meth:`attribute` takes it).

        Returns:
            N :class:`LLMAttributionResult`, in the order of ``inps``.
        """
        inps, targets = check_batch(inps, targets, TextTokenInput)
        given = per_prompt("baselines", kwargs.pop("baselines", None), len(inps))
        skip = self._skip_ids(kwargs.pop("skip_tokens", None))
        prepared = [self._prepare(inp, target, gen_args, skip, baselines)
                    for inp, target, baselines in zip(inps, targets, given)]
        if all(self._batched_path_applies(kwargs, baselines) for _, baselines, _ in prepared):
            per_positions = integrated_all_tokens(
                self.model, self.attr_method.layer, self.attr_method.multiplies_by_inputs,
                [p for p, _, _ in prepared], [_single(b) for _, b, _ in prepared],
                [t for _, _, t in prepared], **kwargs)
        else:
            per_positions = [self._per_position(prompt, baselines, ids, dict(kwargs))
                             for prompt, baselines, ids in prepared]
        return [self._result(inp, ids, per_position)
                for inp, (_, _, ids), per_position in zip(inps, prepared, per_positions)]

    def _prepare(self, inp: TextTokenInput, target: Any, gen_args: Optional[Dict[str, Any]],
                 skip: List[int], baselines: Any) -> Tuple[Tensor, Any, Tensor]:
        """The prompt ids (1, P), the baselines as prompt id rows, the target ids (T,)."""
        target_ids = resolve_target(self.model, self.tokenizer, inp, target, gen_args, skip)
        prompt = inp.to_model_input().to(self.device)  # (1, P)
        check_context(self.model, prompt.shape[1], len(target_ids))
        baselines = _prompt_shaped(baselines, inp, prompt)
        if baselines is None and not isinstance(self.attr_method, LayerGradientXActivation):
            baselines = inp.to_model_input(torch.zeros_like(inp.to_tensor())).to(self.device)
        return prompt, baselines, target_ids

    def _per_position(self, prompt: Tensor, baselines: Any, target_ids: Tensor,
                      kwargs: Dict[str, Any]) -> Tensor:
        """(T, P) attributions of one prompt by the methods that run prompt by prompt."""
        if isinstance(self.attr_method, LayerGradientShap):
            return self._gradient_shap(prompt, _single(baselines), target_ids, **kwargs)
        return self._token_by_token(prompt, baselines, target_ids, kwargs)

    def _result(self, inp: TextTokenInput, target_ids: Tensor, per_position: Tensor
                ) -> LLMAttributionResult:
        token_attr = per_position[:, inp.itp_mask[0].to(per_position.device)]
        return LLMAttributionResult(
            seq_attr=token_attr.sum(0),
            token_attr=token_attr,
            input_tokens=list(inp.values),
            output_tokens=self._output_tokens(target_ids),
            inp=inp,
        )

    def _batched_path_applies(self, kwargs: Dict[str, Any], baselines: Any) -> bool:
        method = self.attr_method
        if type(method) is not LayerIntegratedGradients or not is_causal_lm(self.model):
            return False
        embeddings = getattr(self.model, "get_input_embeddings", lambda: None)()
        if method.layer is not embeddings or output_head(self.model) is None:
            return False
        allowed = {"n_steps", "method", "internal_batch_size"}
        single = _single(baselines)
        return set(kwargs) <= allowed and isinstance(single, Tensor)

    def _token_by_token(self, prompt: Tensor, baselines: Any, target_ids: Tensor,
                        kwargs: Dict[str, Any]) -> Tensor:
        """Captum's procedure: the wrapped method once per target token; (T, P)."""
        rows = []
        P = prompt.shape[1]
        with HookSet() as hooks:
            for j in range(len(target_ids)):
                prefix = target_ids[:j].unsqueeze(0)
                ids = torch.cat([prompt, prefix], 1)
                forward = _token_log_prob(self.model, int(target_ids[j]))
                hooks.set_attribute(self.attr_method, "forward_func", forward)
                extra = dict(kwargs)
                if baselines is not None:
                    extra["baselines"] = _extend_baselines(baselines, prefix)
                attr = self.attr_method.attribute(ids, **extra)
                attr = attr[0] if isinstance(attr, (tuple, list)) else attr
                rows.append(attr.reshape(ids.shape[1], -1).sum(-1)[:P])
        return torch.stack(rows).detach()

    def _gradient_shap(self, prompt: Tensor, baselines: Tensor, target_ids: Tensor,
                       n_samples: int = 5, stdevs: float = 0.0) -> Tensor:
        """Layer GradientShap per target token, interpolating in the embedding space.

        For token j, S = ``n_samples`` rows: a reference r drawn from ``baselines`` (prompt id
        rows, followed by the target prefix) and c ~ U[0, 1) (NumPy, in Captum's order); the
        gradient of log P(t_j | ...) at the embeddings e_r + c (e - e_r), times (e - e_r),
        averaged over the rows. Token ids cannot carry Gaussian noise, so ``stdevs`` must be 0.
        Returns (T, P).
        """
        n_samples = check_int("n_samples", n_samples, minimum=1)
        if stdevs != 0:
            raise ValueError("`stdevs` must be 0 for token ids (noise cannot be added to ids); "
                             f"got {stdevs!r}.")
        if not isinstance(baselines, Tensor) or baselines.dim() != 2 \
                or baselines.shape[1] != prompt.shape[1]:
            raise ValueError("`baselines` must be prompt token ids of shape (R, "
                             f"{prompt.shape[1]}); got {describe(baselines)}.")
        layer = self.attr_method.layer
        P = prompt.shape[1]
        rows = []
        for j in range(len(target_ids)):
            prefix = target_ids[:j].unsqueeze(0)
            ids = torch.cat([prompt, prefix], 1)
            references = _extend_baselines(baselines.to(ids.device).long(), prefix)
            noisy_samples((ids.float(),), (0.0,), n_samples)  # Captum draws (unused) noise
            (index,) = draw_reference_indices((references,), n_samples)
            c = path_coefficients(n_samples, torch.zeros((), device=ids.device))
            with torch.no_grad():
                at_x = layer(ids).detach()
                at_r = layer(references[index]).detach()
            difference = at_x - at_r
            point = (at_r + c.view(-1, 1, 1) * difference).requires_grad_(True)
            with HookSet() as hooks, torch.enable_grad():
                hooks.forward_hook(layer, _replace_with(point))
                logits = logits_of(self.model(ids.expand(n_samples, -1)))[:, -1].float()
                chosen = torch.log_softmax(logits, -1)[:, target_ids[j]]
                grad = torch.autograd.grad(chosen.sum(), point)[0]
            if self.attr_method.multiplies_by_inputs:
                grad = grad * difference
            rows.append(grad.mean(0).sum(-1)[:P])
        return torch.stack(rows).detach()


def _replace_with(value: Tensor) -> Callable[..., Tensor]:
    """A forward hook replacing a layer's output by ``value`` (the path point)."""
    return lambda _module, _inputs, _output: value


def _prompt_shaped(baselines: Any, inp: TextTokenInput, prompt: Tensor) -> Any:
    """Baselines given as presence rows of the input's features (R, M), Captum's form, become
    token id rows (R, P) through ``inp.to_model_input`` (absent features take the input's
    baseline token; skipped tokens keep their ids)."""
    single = _single(baselines)
    if single is None:
        return None
    M = inp.n_itp_features
    if not isinstance(single, Tensor) or single.dim() != 2 or single.shape[1] != M:
        raise ValueError(f"`baselines` must be presence rows of the input's {M} features "
                         f"(a tensor of shape (R, {M}), 1 = keep the token, 0 = use the "
                         f"input's baseline token); got {describe(baselines)}.")
    return inp.to_model_input(single.to(inp.itp_tensor.device)).to(prompt.device)


def _single(baselines: Any) -> Any:
    if isinstance(baselines, (tuple, list)) and len(baselines) == 1:
        return baselines[0]
    return baselines


def _extend_baselines(baselines: Any, prefix: Tensor) -> Any:
    """Prompt-shaped id baselines followed by the target prefix (not attributed)."""
    def extend(b: Any) -> Any:
        if isinstance(b, Tensor) and b.dim() == 2:
            rows = b.shape[0]
            return torch.cat([b.to(prefix.device), prefix.expand(rows, -1).to(b.dtype)], 1)
        return b

    if isinstance(baselines, tuple):
        return tuple(extend(b) for b in baselines)
    return extend(baselines)


def _token_log_prob(model: Any, token: int) -> Callable[..., Tensor]:
    """Forward function: log P(token | ids) read at the last position, one value per row."""

    def forward(ids: Tensor, *args: Any) -> Tensor:
        logits = logits_of(model(ids, *args))[:, -1].float()
        return torch.log_softmax(logits, -1)[:, token]

    forward.model = model  # type: ignore[attr-defined]
    return forward
