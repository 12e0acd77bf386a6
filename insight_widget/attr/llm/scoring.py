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
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from .._utils.validation import describe

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
    device = getattr(model, "device", None)
    if isinstance(device, (torch.device, str)):
        return torch.device(device)
    if isinstance(model, nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return torch.device("cpu")


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
    """Scores a fixed target after many prompts (see the module docstring).

    Args:
        model: the language model; called as ``model(input_ids=..., attention_mask=...)``.
        target: 1-d int64 tensor of the T target ids.
        forward_in_tokens: Captum's switch (True: exact token-by-token scores).
    """

    def __init__(self, model: Any, target: Tensor, forward_in_tokens: bool = True) -> None:
        self.model = model
        self.device = model_device(model)
        self.target = target.to(self.device)
        self.forward_in_tokens = forward_in_tokens
        self.causal = is_causal_lm(model)
        self._logits_to_keep = self.causal and _accepts(model, "logits_to_keep")
        # Scores after the unperturbed prompt, kept by the caller when it computes them.
        self.unperturbed: Optional[Tensor] = None

    def log_probs(self, prompts: Sequence[Tensor]) -> Tensor:
        """(k, T) float32 log-probabilities of the target tokens after each of k prompts
        (1-d id tensors)."""
        if self.causal:
            return self._one_pass(prompts, include_last=not self.forward_in_tokens)
        groups: Dict[int, List[int]] = {}
        for index, prompt in enumerate(prompts):
            groups.setdefault(len(prompt), []).append(index)
        result = torch.empty(len(prompts), len(self.target), device=self.device)
        for indices in groups.values():
            batch = torch.stack([prompts[i].to(self.device) for i in indices])
            if self.forward_in_tokens:
                result[indices] = self._token_by_token(batch)
            else:
                result[indices] = self._one_pass([batch[r] for r in range(len(indices))],
                                                 include_last=True)
        return result

    def _call(self, ids: Tensor, mask: Tensor, keep: int = 0) -> Tensor:
        kwargs: Dict[str, Any] = {"attention_mask": mask}
        if keep and self._logits_to_keep:
            kwargs["logits_to_keep"] = keep
        return logits_of(self.model(ids, **kwargs))

    def _token_by_token(self, prompts: Tensor) -> Tensor:
        """Captum's exact procedure, all prompts (equal length) of a step in one batch."""
        k = prompts.shape[0]
        scores = []
        for j in range(len(self.target)):
            ids = torch.cat([prompts, self.target[:j].expand(k, -1)], dim=1)
            logits = self._call(ids, torch.ones_like(ids))[:, -1].float()
            scores.append(torch.log_softmax(logits, -1)[:, self.target[j]])
        return torch.stack(scores, dim=1)

    def _one_pass(self, prompts: Sequence[Tensor], include_last: bool) -> Tensor:
        """All T scores from one pass per batch of right-padded rows ``prompt + target``."""
        target = self.target if include_last else self.target[:-1]
        lengths = [len(p) for p in prompts]
        width = max(lengths) + len(target)
        ids = torch.zeros(len(prompts), width, dtype=torch.long, device=self.device)
        mask = torch.zeros_like(ids)
        for r, prompt in enumerate(prompts):
            row = torch.cat([prompt.to(self.device), target])
            ids[r, :len(row)] = row
            mask[r, :len(row)] = 1
        # Row r's score j is read at position len_r - 1 + j; keep just enough trailing logits.
        keep = width - (min(lengths) - 1)
        logits = self._call(ids, mask, keep)
        offset = width - logits.shape[1]
        T = len(self.target)
        positions = (torch.tensor(lengths, device=self.device).unsqueeze(1) - 1 - offset
                     + torch.arange(T, device=self.device).unsqueeze(0))  # (k, T)
        picked = torch.gather(logits, 1, positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        log_probs = torch.log_softmax(picked.float(), dim=-1)
        return torch.gather(log_probs, 2, self.target.view(1, T, 1).expand(len(prompts), -1, -1)
                            ).squeeze(-1)
