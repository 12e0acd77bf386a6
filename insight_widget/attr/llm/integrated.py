"""Layer Integrated Gradients of every target token of one or several prompts, batched.

For prompt p (P tokens), target t_1..t_T and the embeddings e of ``p + t_<T`` (baseline e'
equal to e on the target positions), target token j's attribution to prompt position i is

    A_j[i] = sum_d (e - e')[i, d] * sum_k w_k dlog P(t_j | p, t_<j)/de[i, d] at e' + a_k (e - e')

(Captum's Layer IG on the embedding layer, one run per token). The work here:

* **one forward per chunk of path steps** for all T tokens (and all prompts): under the causal
  mask position P-1+j sees exactly the prefix Captum's j-th run sees; prompts of different
  lengths are right-padded into the same rows (the pads follow the real tokens, so the causal
  mask hides them; position ids stay 0.. on the real tokens), in groups of bounded padding
  (:func:`~.scoring.padded_groups`: none on a CPU, where only equal lengths share).
* **no output-head work per token**: the T log-probabilities depend on the output head's
  input h only through their own positions (the head acts position by position), so one
  backward of their sum gives every dlog P(t_j)/dh[P-1+j] at once; each token's backward then
  starts at h with that single row as cotangent and runs through the transformer body only.
  Captum's backward also goes through the head's vocabulary-wide matrix product (and a
  zero-filled logits tensor for every other position).
* **no weight gradients**: parameters stop requiring gradients during the call (restored
  after), so autograd saves only what the input gradient needs.
* each token's gradient is reduced to (rows, L) at once (times e - e' and summed over d: the
  weighted step sum is linear, so multiplying before summing the steps gives the same value
  up to rounding), so memory holds no (T, L, d) tensor per row.

What is left is irreducible for reverse mode: T backward passes through the body (each about
one forward's cost: see docs/llm.md, "Where the time goes").
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .._utils.batching import SavedBytesMeter, get_memory_budget
from .._utils.hooks import HookSet
from .._utils.path import integrate_gradients
from .._utils.quadrature import validate_rule
from .._utils.validation import describe
from .scoring import _accepts, logits_of, pad_sequences, padded_groups


def output_head(model: Any) -> Optional[nn.Module]:
    """The module producing the logits from the last hidden states (Hugging Face
    ``get_output_embeddings``), or None."""
    getter = getattr(model, "get_output_embeddings", None)
    head = getter() if callable(getter) else None
    return head if isinstance(head, nn.Module) else None


def integrated_all_tokens(
    model: nn.Module,
    layer: nn.Module,
    multiplies_by_inputs: bool,
    prompts: Sequence[Tensor],
    baselines: Sequence[Tensor],
    targets: Sequence[Tensor],
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: Optional[int] = None,
) -> List[Tensor]:
    """Layer IG (module docstring) of N prompts at once.

    Args:
        model: a causal language model whose output head is :func:`output_head`.
        layer: its token embedding layer (ids -> (rows, L, d)).
        multiplies_by_inputs: times (e - e') (Layer IG's default) or plain gradient integrals.
        prompts: N prompt id rows, each (1, P_i).
        baselines: N baseline id rows, each (1, P_i).
        targets: N 1-d target id tensors (T_i tokens).
        n_steps, method, internal_batch_size: Captum's path arguments (``internal_batch_size``
            counts rows, i.e. steps x N).

    Returns:
        N tensors (T_i, P_i): the attributions of each prompt's tokens, summed over d.
    """
    validate_rule(method, n_steps)
    for prompt, baseline in zip(prompts, baselines):
        if baseline.shape != prompt.shape:
            raise ValueError(f"`baselines` must be prompt token ids of shape "
                             f"{tuple(prompt.shape)}; got {describe(baseline)}.")
    with HookSet() as hooks, torch.enable_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                hooks.set_attribute(parameter, "requires_grad", False)
        results: List[Tensor] = [torch.empty(0)] * len(prompts)
        lengths = [p.shape[1] + len(t) - 1 for p, t in zip(prompts, targets)]
        for group in padded_groups(lengths, prompts[0].device):
            parts = ([prompts[i] for i in group], [baselines[i] for i in group],
                     [targets[i] for i in group])
            if internal_batch_size is not None:
                path = _Path(model, layer, multiplies_by_inputs, *parts)
                values = path.integrate(n_steps, method, internal_batch_size)
            else:
                values = _within_budget(model, layer, multiplies_by_inputs, *parts, n_steps,
                                        method)
            for i, value in zip(group, values):
                results[i] = value
        return results


def _within_budget(model: nn.Module, layer: nn.Module, multiplies_by_inputs: bool,
                   prompts: Sequence[Tensor], baselines: Sequence[Tensor],
                   targets: Sequence[Tensor], n_steps: int, method: str) -> List[Tensor]:
    """Chunks sized by the memory budget: a forward of one path step of the prompts (no
    backward: a tenth of a chunk's forward at 10 steps, where a measured first chunk of one
    step costs its T small backward passes) gives the bytes autograd saves per row; prompts
    whose one step exceeds the budget together are split into groups."""
    path = _Path(model, layer, multiplies_by_inputs, prompts, baselines, targets)
    per_row = path.saved_bytes_per_row()
    rows = max(1, get_memory_budget() // per_row)
    if rows < len(prompts):
        results: List[Tensor] = []
        for start in range(0, len(prompts), rows):
            stop = start + rows
            results += _within_budget(model, layer, multiplies_by_inputs, prompts[start:stop],
                                      baselines[start:stop], targets[start:stop], n_steps,
                                      method)
        return results
    return path.integrate(n_steps, method, rows)


class _Path:
    """The padded rows of N prompts and the gradient function of their path chunks."""

    def __init__(self, model: nn.Module, layer: nn.Module, multiplies_by_inputs: bool,
                 prompts: Sequence[Tensor], baselines: Sequence[Tensor],
                 targets: Sequence[Tensor]) -> None:
        device = prompts[0].device
        head = output_head(model)
        assert head is not None, "integrated_all_tokens needs a model with an output head"
        self.model, self.layer, self.head = model, layer, head
        self.multiplies_by_inputs = multiplies_by_inputs
        self.prompt_lengths = [p.shape[1] for p in prompts]
        self.target_lengths = [len(t) for t in targets]
        P = torch.tensor(self.prompt_lengths, device=device)
        T = torch.tensor(self.target_lengths, device=device)
        rows_ids = [torch.cat([p[0], t[:-1]]) for p, t in zip(prompts, targets)]
        rows_base = [torch.cat([b[0].to(device).long(), t[:-1]])
                     for b, t in zip(baselines, targets)]
        self.ids, mask, _ = pad_sequences(rows_ids, device)
        base_ids, _, _ = pad_sequences(rows_base, device)
        width, T_max = self.ids.shape[1], int(T.max())
        self.call: Dict[str, Any] = {}
        if not bool(mask.all()):  # right padding: default position ids are right on real tokens
            self.call["attention_mask"] = mask
        first = int((P - 1).min())
        self.kept = width - first  # head positions that carry a target token's score
        if _accepts(model, "logits_to_keep"):
            self.call["logits_to_keep"] = self.kept
        # Column of target token j of prompt i among the last ``kept`` positions.
        # Beyond a shorter target the column is clamped in range and the token masked out.
        self.columns = ((P - 1 - first).unsqueeze(1) + torch.arange(T_max, device=device)
                        ).clamp(max=self.kept - 1)
        self.valid = torch.arange(T_max, device=device).unsqueeze(0) < T.unsqueeze(1)
        self.next_ids = torch.stack([torch.cat([t, t.new_zeros(T_max - len(t))])
                                     for t in targets])  # (N, T_max), 0 after a short target
        with torch.no_grad():
            self.x = layer(self.ids).detach()
            self.b = layer(base_ids).detach()
        self.diff = self.x - self.b

    def _forward(self, point: Tensor, steps: int) -> Tuple[Tensor, Tensor]:
        """Logits and the head's input (rows, K, d) with the embeddings replaced by ``point``
        (step-major rows: row k*N + i is prompt i)."""
        inputs: List[Tensor] = []
        call = {k: (v.repeat(steps, 1) if isinstance(v, Tensor) else v)
                for k, v in self.call.items()}
        with HookSet() as hooks:
            hooks.forward_hook(self.layer, lambda _m, _i, _o: point)
            hooks.forward_hook(self.head, lambda _m, args, _o: inputs.append(args[0]))
            logits = logits_of(self.model(self.ids.repeat(steps, 1), **call))
        return logits, inputs[-1]

    def saved_bytes_per_row(self) -> int:
        """Bytes autograd saves per row for one path step (a forward at alpha = 1)."""
        N = self.ids.shape[0]
        with SavedBytesMeter(N) as meter:
            self._forward(self.x.clone().requires_grad_(True), 1)
        return max(1, meter.bytes // N)

    def gradient_fn(self, points: Tuple[Tensor, ...], steps: int
                    ) -> Tuple[Tuple[Tensor], Tensor]:
        """Per token j, the gradient of log P(t_j) at each path row, times e - e' (Layer IG)
        and summed over d: (rows, T_max, L); and the (rows, T_max) log-probabilities."""
        point = points[0].detach().requires_grad_(True)
        logits, hidden = self._forward(point, steps)
        offset = hidden.shape[1] - self.kept  # 0 with logits_to_keep, else width - kept
        cols = (self.columns + offset).repeat(steps, 1)  # (rows, T_max)
        picked = torch.gather(logits, 1, cols.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))
        log_probs = torch.log_softmax(picked.float(), -1)
        chosen = torch.gather(log_probs, 2, self.next_ids.repeat(steps, 1).unsqueeze(-1))[..., 0]
        valid = self.valid.repeat(steps, 1)
        chosen = chosen * valid  # tokens after a short target: 0
        # dlog P(t_j)/dh at column j for every j at once: each row of h feeds one score.
        (at_head,) = torch.autograd.grad(chosen.sum(), hidden, retain_graph=True)
        scale = self.diff.repeat(steps, 1, 1) if self.multiplies_by_inputs else None
        rows = torch.arange(cols.shape[0], device=cols.device)
        per_token = []
        T_max = cols.shape[1]
        for j in range(T_max):
            cotangent = torch.zeros_like(at_head)
            cotangent[rows, cols[:, j]] = at_head[rows, cols[:, j]] * valid[:, j:j + 1]
            (grad,) = torch.autograd.grad(hidden, point, cotangent, retain_graph=j < T_max - 1)
            per_token.append((grad * scale).sum(-1) if scale is not None else grad.sum(-1))
        return (torch.stack(per_token, 1),), chosen.detach()

    def integrate(self, n_steps: int, method: str, internal_batch_size: int) -> List[Tensor]:
        """The N prompts' (T_i, P_i) attributions, ``internal_batch_size`` rows per chunk."""
        integral = integrate_gradients(self.gradient_fn, (self.x,), (self.b,), n_steps, method,
                                       internal_batch_size)
        sums = integral.gradient_sums[0].detach()  # (N, T_max, L)
        return [sums[i, :T, :P]
                for i, (T, P) in enumerate(zip(self.target_lengths, self.prompt_lengths))]
