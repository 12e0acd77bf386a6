"""Log-probabilities of a target continuation under a language model, for many prompts at once.

For prompt p (ids p_1..p_P) and target t_1..t_T, token j's score is

    log P(t_j | p, t_<j) = log_softmax(logits(p + t_<j)[last position])[t_j].

Captum evaluates this one prompt and one target token at a time (T forward passes per
prompt). Here:

* a **causal** language model (a Hugging Face ``*ForCausalLM`` / ``*LMHeadModel``) reads all
  T scores from one pass over ``p + t_<T`` (position P-1+j predicts t_j: the causal mask
  hides later tokens, so the value is the same), and prompts of different lengths share the
  pass, right-padded (padding after the real tokens cannot influence them under the causal
  mask). Only the T needed positions go through the output head when the model accepts
  ``logits_to_keep``.
* any other model (e.g. one whose attention sees the whole sequence) is run token by token as
  Captum does, with prompts of equal length stacked into one batch per step.

``forward_in_tokens=False`` is Captum's one-pass approximation for any model: one pass over
``p + t`` (all T tokens) per prompt.
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .._utils.validation import describe
from ..speed import model_device as parameters_device

_CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


def is_causal_lm(model: Any) -> bool:
    """True for Hugging Face decoder-only language models (their scores are position-causal)."""
    try:
        from transformers import PreTrainedModel
    except ImportError:  # the llm extra is not installed: no Hugging Face models either
        return False
    if not isinstance(model, PreTrainedModel):
        return False
    if getattr(model.config, "is_encoder_decoder", False):
        return False
    return type(model).__name__.endswith(_CAUSAL_SUFFIXES)


def model_device(model: Any) -> torch.device:
    """The device a language model runs on: its ``device`` attribute (Hugging Face models
    have one), else its parameters' (:func:`insight_widget.attr.speed.model_device`), else
    the CPU."""
    device = getattr(model, "device", None)
    if isinstance(device, (torch.device, str)):
        return torch.device(device)
    return parameters_device(model) or torch.device("cpu")


def context_length(model: Any) -> int:
    """The longest sequence the model accepts (0 when it does not say)."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 0


def logits_of(output: Any) -> Tensor:
    """The logits of a model output: ``.logits``, the first element of a tuple, or a tensor."""
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise TypeError("the model must return logits (a tensor, a tuple starting with it, or an "
                    f"object with `.logits`); got {describe(output)}.")


def _accepts(model: Any, name: str) -> bool:
    try:
        parameters = inspect.signature(model.forward if isinstance(model, nn.Module)
                                       else model).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


class TargetScorer:
    """Scores target continuations after many prompts (see the module docstring).

    Args:
        model: the language model; called as ``model(input_ids, attention_mask=...)`` (plus
            ``position_ids`` when rows are padded on the left).
        target: 1-d int64 tensor of the T target ids (the default target of every prompt).
        forward_in_tokens: Captum's switch (True: exact token-by-token scores).
        padding_side: where a shared causal pass pads shorter rows. "right" (default): the
            pads follow the real tokens, which the causal mask hides from them; "left": the
            pads come first, masked out, with position ids counted from each row's first
            real token. Both give each row the scores it gets alone.
    """

    def __init__(self, model: Any, target: Tensor, forward_in_tokens: bool = True,
                 padding_side: str = "right") -> None:
        self.model = model
        self.device = model_device(model)
        self.target = target.to(self.device)
        self.forward_in_tokens = forward_in_tokens
        self.padding_side = padding_side
        self.causal = is_causal_lm(model)
        self._logits_to_keep = self.causal and _accepts(model, "logits_to_keep")
        # Scores after the unperturbed prompt, kept by the caller when it computes them.
        self.unperturbed: Optional[Tensor] = None

    def log_probs(self, prompts: Sequence[Tensor]) -> Tensor:
        """(k, T) float32 log-probabilities of the target tokens after each of k prompts
        (1-d id tensors)."""
        if not len(prompts):
            return torch.empty(0, len(self.target), device=self.device)
        return torch.stack(self.score(prompts, [self.target] * len(prompts)))

    def score(self, prompts: Sequence[Tensor], targets: Sequence[Tensor]) -> List[Tensor]:
        """Row r: the (T_r,) float32 log-probabilities of ``targets[r]`` after ``prompts[r]``.

        Rows with different prompts and targets share the passes: one right-padded pass for a
        causal model; otherwise one pass per target position and prompt length.
        """
        targets = [t.to(self.device) for t in targets]
        if self.causal:
            return self._one_pass(prompts, targets, include_last=not self.forward_in_tokens)
        groups: Dict[int, List[int]] = {}
        for index, prompt in enumerate(prompts):
            groups.setdefault(len(prompt), []).append(index)
        result: List[Tensor] = [torch.empty(0)] * len(prompts)
        for indices in groups.values():
            batch = [prompts[i].to(self.device) for i in indices]
            rows = [targets[i] for i in indices]
            scores = (self._token_by_token(batch, rows) if self.forward_in_tokens
                      else self._one_pass(batch, rows, include_last=True))
            for i, values in zip(indices, scores):
                result[i] = values
        return result

    def _call(self, ids: Tensor, mask: Tensor, keep: int = 0,
              positions: Optional[Tensor] = None) -> Tensor:
        kwargs: Dict[str, Any] = {"attention_mask": mask}
        if keep and self._logits_to_keep:
            kwargs["logits_to_keep"] = keep
        if positions is not None:
            kwargs["position_ids"] = positions
        return logits_of(self.model(ids, **kwargs))

    def _token_by_token(self, prompts: Sequence[Tensor], targets: Sequence[Tensor]
                        ) -> List[Tensor]:
        """Captum's exact procedure for prompts of equal length: at step j, the rows whose
        target has a token j form one batch ``prompt + t_<j`` scored at its last position."""
        k = len(prompts)
        scores: List[List[Tensor]] = [[] for _ in range(k)]
        for j in range(max(len(t) for t in targets)):
            rows = [r for r in range(k) if len(targets[r]) > j]
            ids = torch.stack([torch.cat([prompts[r], targets[r][:j]]) for r in rows])
            logits = self._call(ids, torch.ones_like(ids))[:, -1].float()
            next_ids = torch.stack([targets[r][j] for r in rows])
            chosen = torch.log_softmax(logits, -1).gather(1, next_ids.view(-1, 1))[:, 0]
            for value, r in zip(chosen, rows):
                scores[r].append(value)
        return [torch.stack(s) for s in scores]

    def _one_pass(self, prompts: Sequence[Tensor], targets: Sequence[Tensor],
                  include_last: bool) -> List[Tensor]:
        """All scores from one pass over the padded rows ``prompt + target``."""
        rows = [torch.cat([p.to(self.device), t if include_last else t[:-1]])
                for p, t in zip(prompts, targets)]
        ids, mask, starts = pad_sequences(rows, self.device, self.padding_side)
        left = self.padding_side == "left" and bool((starts > 0).any())
        width = ids.shape[1]
        # Row r's score j is read at column start_r + P_r - 1 + j.
        first = starts + torch.tensor([len(p) for p in prompts], device=self.device) - 1
        keep = width - int(first.min())
        logits = self._call(ids, mask, keep, position_ids(mask) if left else None)
        offset = width - logits.shape[1]
        T = max(len(t) for t in targets)
        columns = (first.unsqueeze(1) - offset + torch.arange(T, device=self.device).unsqueeze(0))
        columns = columns.clamp(max=logits.shape[1] - 1)  # the pads of shorter targets
        picked = torch.gather(logits, 1, columns.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        log_probs = torch.log_softmax(picked.float(), dim=-1)
        next_ids = torch.stack([torch.cat([t, t.new_zeros(T - len(t))]) for t in targets])
        chosen = torch.gather(log_probs, 2, next_ids.unsqueeze(-1)).squeeze(-1)  # (k, T)
        return [chosen[r, :len(t)] for r, t in enumerate(targets)]


def pad_sequences(seqs: Sequence[Tensor], device: torch.device, side: str = "right",
                  pad_id: int = 0) -> Tuple[Tensor, Tensor, Tensor]:
    """Stack 1-d id tensors of different lengths into one batch.

    Returns ``ids`` (k, W) with ``pad_id`` in the padding, the ``attention_mask`` (1 on real
    tokens) and ``starts`` (k,): the column of each row's first real token (0 when padding on
    the right, ``W - len`` on the left). Position ids for the real tokens are
    ``column - start`` (see :func:`position_ids`).
    """
    if side not in ("right", "left"):
        raise ValueError(f"`padding_side` must be 'right' or 'left'; got {side!r}.")
    lengths = [len(s) for s in seqs]
    width = max(lengths)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    starts = torch.tensor([0 if side == "right" else width - n for n in lengths], device=device)
    for r, seq in enumerate(seqs):
        start = int(starts[r])
        ids[r, start:start + lengths[r]] = seq.to(device)
        mask[r, start:start + lengths[r]] = 1
    return ids, mask, starts


def position_ids(mask: Tensor) -> Tensor:
    """0, 1, ... on each row's real tokens (what the model sees without padding); 0 on pads."""
    return (mask.cumsum(1) - 1).clamp(min=0)


# The share of a shared pass's token positions that may be padding. On a CPU a transformer
# pass costs about the same per position at any batch size (and more once its activations
# leave the caches), so padding is pure waste there and only rows of equal length share a
# pass (4 prompts of 16-22 tokens on GPT-2 4x128, one thread: one call for all 4 with 1/8
# padding took 1.04-1.3x the time of 4 calls, without padding 0.96-1.06x). An accelerator has
# a fixed cost per pass to amortise, so there rows of similar length share a padded pass.
PADDING_SHARE_CPU = 0.0
PADDING_SHARE = 0.125


def padded_groups(lengths: Sequence[int], device: torch.device,
                  max_rows: Optional[int] = None) -> List[List[int]]:
    """Indices of ``lengths`` in groups that share a padded pass on ``device``, longest first.

    A group grows while its padding (sum of width - length) stays within the device's share
    (:data:`PADDING_SHARE_CPU`, :data:`PADDING_SHARE`) of its rows x width and it has at most
    ``max_rows`` rows.
    """
    share = PADDING_SHARE_CPU if torch.device(device).type == "cpu" else PADDING_SHARE
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: List[List[int]] = []
    group: List[int] = []
    padding = 0
    for i in order:
        width = lengths[group[0]] if group else lengths[i]
        extra = padding + width - lengths[i]
        full = max_rows is not None and len(group) >= max_rows
        if group and (full or extra > share * width * (len(group) + 1)):
            groups.append(group)
            group, extra = [], 0
        group.append(i)
        padding = extra
    if group:
        groups.append(group)
    return groups
