"""LLM attribution: ours vs captum 0.9.0 on transformers GPT-2 architectures (seeded, offline).

Cases (the regular table): a small GPT-2 (4 layers, 128 wide, 2,000-token vocabulary), a
16-token prompt and a 6-token target; FeatureAblation, ShapleyValueSampling and Layer IG.
Captum runs with ``use_cached_outputs=False``, its exact token-by-token scores: with
transformers 5 its default cached path scores every target token after the first differently
(README, "LLM attribution"), so only the exact path gives the same numbers.

Section: the GPT-2-small architecture (124M parameters), a 24-token prompt and a 12-token
target, one timed run per side (minutes under load), plus Captum's default cached path for
reference, and the peak memory of ours in a fresh process.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..harness import Agreement, Case, Section, run_memory_probe


class IdTokenizer:
    """Text of space-separated token ids; enough tokenizer for both libraries (offsets
    included, for Captum's readable output tokens)."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def encode(self, text: str, add_special_tokens: bool = True,
               return_tensors: Optional[str] = None) -> Any:
        ids = [int(t) for t in text.split()]
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def convert_ids_to_tokens(self, ids: Any) -> Any:
        return str(ids) if isinstance(ids, int) else [str(i) for i in ids]

    def convert_tokens_to_ids(self, tokens: Any) -> Any:
        return int(tokens) if isinstance(tokens, str) else [int(t) for t in tokens]

    def decode(self, ids: Any) -> str:
        values = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return " ".join(str(int(i)) for i in values)

    def __call__(self, text: str, add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False) -> Dict[str, Any]:
        result: Dict[str, Any] = {"input_ids": self.encode(text)}
        if return_offsets_mapping:
            spans, start = [], 0
            for piece in text.split(" "):
                spans.append((start, start + len(piece)))
                start += len(piece) + 1
            result["offset_mapping"] = spans
        return result


def gpt2(n_layer: int, n_embd: int, n_head: int, vocab: int, seed: int = 0) -> torch.nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_layer=n_layer, n_embd=n_embd, n_head=n_head,
                        bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(config).eval()


def workload(n_layer: int, n_embd: int, vocab: int, prompt_length: int, target_length: int,
             seed: int) -> Tuple[torch.nn.Module, IdTokenizer, str, str]:
    """A seeded GPT-2 (at least 4 heads, at most 64 wide) with a random prompt and target."""
    model = gpt2(n_layer, n_embd, max(4, n_embd // 64), vocab)
    generator = torch.Generator().manual_seed(seed)
    prompt, target = (" ".join(str(int(i)) for i in torch.randint(2, vocab, (n,),
                                                                   generator=generator))
                      for n in (prompt_length, target_length))
    return model, IdTokenizer(vocab), prompt, target


@functools.cache
def _small() -> Tuple[torch.nn.Module, IdTokenizer, str, str]:
    return workload(4, 128, 2000, 16, 6, seed=1)


@functools.cache
def _gpt2_small() -> Tuple[torch.nn.Module, IdTokenizer, str, str]:
    return workload(12, 768, 50257, 24, 12, seed=2)


def _runner(lib_name: str, method: str, prompt_len_model: Callable[[], Tuple[Any, ...]],
            kwargs: Dict[str, Any]) -> Callable[[], Any]:
    def run() -> Any:
        model, tokenizer, prompt, target = prompt_len_model()
        lib, wrapper, extra = _wrapper(lib_name, method, model, tokenizer, kwargs)
        return wrapper.attribute(lib.TextTokenInput(prompt, tokenizer), target, **extra)

    return run


def _wrapper(lib_name: str, method: str, model: Any, tokenizer: Any, kwargs: Dict[str, Any]
             ) -> Tuple[Any, Any, Dict[str, Any]]:
    """The library, its LLM wrapper of ``method`` on ``model``, and the call's arguments
    (captum on its exact path unless told otherwise); seeds torch."""
    import captum.attr as captum_attr

    import insight_widget.attr as ours_attr

    lib = ours_attr if lib_name == "ours" else captum_attr
    extra = dict(kwargs)
    torch.manual_seed(0)
    if method == "LayerIntegratedGradients":
        wrapper = lib.LLMGradientAttribution(
            lib.LayerIntegratedGradients(model, model.get_input_embeddings()), tokenizer)
    else:
        wrapper = lib.LLMAttribution(getattr(lib, method)(model), tokenizer)
        if lib_name == "captum":
            extra.setdefault("use_cached_outputs", False)
    return lib, wrapper, extra


def compare_results(ours: Any, theirs: Any, atol: float = 5e-5) -> Agreement:
    """Same token and sequence attributions (float32 log-probabilities ~ log V ~ 8 differ by
    ulps between batched and one-row passes; attributions inherit ~1e-5)."""
    diffs = [(ours.seq_attr - theirs.seq_attr).abs().max().item()]
    if theirs.token_attr is not None:
        diffs.append((ours.token_attr - theirs.token_attr).abs().max().item())
    worst = max(diffs)
    return Agreement(worst <= atol + 1e-4 * theirs.seq_attr.abs().max().item(), worst)


CASES = [
    ("FeatureAblation", {}),
    ("ShapleyValueSampling", {"n_samples": 2}),
    ("LayerIntegratedGradients", {"n_steps": 10}),
]


def cases() -> List[Case]:
    result = batch_cases()
    for method, kwargs in CASES:
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        result.append(Case(
            name=f"LLM {method}({args}) gpt2-4x128 16+6 tok",
            family="llm",
            ours=_runner("ours", method, _small, kwargs),
            captum=_runner("captum", method, _small, kwargs),
            compare=compare_results,
            target_ratio=0.2 if method != "LayerIntegratedGradients" else 0.34,
        ))
    return result


GPT2_SMALL_CASES = [
    ("FeatureAblation", {}),
    ("ShapleyValueSampling", {"n_samples": 2}),
    ("LayerIntegratedGradients", {"n_steps": 10}),
]


def _timed(run: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def gpt2_small() -> str:
    """One run per side on GPT-2 small (124M), 24-token prompt, 12-token target."""
    model = _gpt2_small()[0]
    lines = [f"GPT-2 small architecture, {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M"
             " parameters, random seeded weights, 24-token prompt, 12-token target, "
             f"{torch.get_num_threads()} threads; one run per side"]
    for method, kwargs in GPT2_SMALL_CASES:
        ours_run = _runner("ours", method, _gpt2_small, kwargs)
        captum_run = _runner("captum", method, _gpt2_small, kwargs)
        ours_seconds, ours_out = _timed(ours_run)
        captum_seconds, captum_out = _timed(captum_run)
        agreement = compare_results(ours_out, captum_out)
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        line = (f"{method}({args}): captum (exact) {captum_seconds:.1f} s, ours "
                f"{ours_seconds:.1f} s: {captum_seconds / ours_seconds:.1f}x faster, same "
                f"outputs: {agreement.agree} (max |diff| {agreement.max_abs_diff:.1e})")
        if method != "LayerIntegratedGradients":
            cached = _runner("captum", method, _gpt2_small, {**kwargs, "use_cached_outputs": True})
            cached_seconds, cached_out = _timed(cached)
            differs = compare_results(ours_out, cached_out)
            line += (f"; captum default (KV cache) {cached_seconds:.1f} s "
                     f"({cached_seconds / ours_seconds:.1f}x ours), outputs differ from the exact "
                     f"scores by up to {differs.max_abs_diff:.1e}")
        lines.append(line)
    return "\n".join(lines)


_MEMORY_PROBE = r"""
import json, sys, torch
from benchmarks.cases.llm import probe_run
torch.set_num_threads(1)
run = probe_run(json.loads(sys.argv[1]))
peak_growth = reset_peak()
run()
print(json.dumps({"peak_growth_kib": peak_growth()}))
"""


def probe_run(kwargs: Dict[str, Any]) -> Callable[[], Any]:
    """The run a memory probe measures, its workload built: ``method`` and its arguments on
    GPT-2 small, or with ``one_call`` (True/False) the 4-prompt batch workload."""
    method = kwargs.pop("method")
    one_call = kwargs.pop("one_call", None)
    if one_call is None:
        _gpt2_small()
        return _runner("ours", method, _gpt2_small, kwargs)
    _batch_workload()
    return _batch_runner("ours", method, kwargs, one_call)


def peak_memory() -> str:
    """Peak RSS growth of ours on GPT-2 small (fresh process, default 1 GiB budget)."""
    lines = ["(fresh process per run, model built before the peak is reset, 1 thread)"]
    for method, kwargs in (("FeatureAblation", {}),
                           ("LayerIntegratedGradients", {"n_steps": 10})):
        growth = run_memory_probe(_MEMORY_PROBE, {"method": method, **kwargs})
        lines.append(f"{method}: peak growth {growth:.0f} MiB (memory budget 1024 MiB)")
    return "\n".join(lines)


def sections() -> List[Section]:
    return [Section("LLM several prompts per call (gpt2-4x128)", several_prompts),
            Section("LLM Layer IG on GPT-2 small (124M), interleaved rounds", layer_ig_rounds),
            Section("LLM attribution on GPT-2 small (124M)", gpt2_small),
            Section("LLM attribution peak memory (GPT-2 small)", peak_memory)]


# --- several prompts per call ---------------------------------------------------------------

BATCH_PROMPT_LENGTHS = (16, 18, 20, 22)
BATCH_CASES = [
    ("FeatureAblation", {}),
    ("LayerIntegratedGradients", {"n_steps": 10}),
]


@functools.cache
def _batch_workload() -> Tuple[torch.nn.Module, IdTokenizer, List[str], List[str]]:
    """The small GPT-2 with 4 prompts of different lengths (16-22 tokens), 6-token targets."""
    model, tokenizer = _small()[:2]
    generator = torch.Generator().manual_seed(3)

    def text(n: int) -> str:
        return " ".join(str(int(i)) for i in torch.randint(2, 2000, (n,), generator=generator))

    prompts = [text(n) for n in BATCH_PROMPT_LENGTHS]
    return model, tokenizer, prompts, [text(6) for _ in prompts]


def _batch_runner(lib_name: str, method: str, kwargs: Dict[str, Any],
                  one_call: bool) -> Callable[[], Any]:
    """N prompts: one ``attribute_batch`` call (ours, ``one_call``) or N ``attribute`` calls."""

    def run() -> Any:
        model, tokenizer, prompts, targets = _batch_workload()
        lib, wrapper, extra = _wrapper(lib_name, method, model, tokenizer, kwargs)
        inps = [lib.TextTokenInput(p, tokenizer) for p in prompts]
        if one_call:
            return wrapper.attribute_batch(inps, targets, **extra)
        return [wrapper.attribute(inp, target, **extra) for inp, target in zip(inps, targets)]

    return run


def compare_batches(ours: Any, theirs: Any) -> Agreement:
    """Every prompt's result agrees (:func:`compare_results`)."""
    agreements = [compare_results(a, b) for a, b in zip(ours, theirs)]
    return Agreement(len(ours) == len(theirs) and all(a.agree for a in agreements),
                     max(a.max_abs_diff for a in agreements))


def batch_cases() -> List[Case]:
    result = []
    for method, kwargs in BATCH_CASES:
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        result.append(Case(
            name=f"LLM {method}({args}) batch of 4 prompts, 16-22+6 tok",
            family="llm",
            ours=_batch_runner("ours", method, kwargs, one_call=True),
            captum=_batch_runner("captum", method, kwargs, one_call=False),
            compare=compare_batches,
            note="ours: one attribute_batch call; captum: one attribute call per prompt",
            target_ratio=0.2 if method != "LayerIntegratedGradients" else 0.34,
        ))
    return result


def several_prompts() -> str:
    """Ours, one call for 4 prompts vs 4 single calls of ours vs 4 captum calls: 3
    interleaved rounds each (process CPU time), medians, and ours' peak memory."""
    lines = [f"4 prompts of {', '.join(map(str, BATCH_PROMPT_LENGTHS))} tokens, 6-token "
             f"targets, GPT-2 4x128; process CPU time, {torch.get_num_threads()} threads, "
             "3 interleaved rounds (median)"]
    for method, kwargs in BATCH_CASES:
        runs = {"batch": _batch_runner("ours", method, kwargs, one_call=True),
                "singles": _batch_runner("ours", method, kwargs, one_call=False),
                "captum": _batch_runner("captum", method, kwargs, one_call=False)}
        outputs = {name: run() for name, run in runs.items()}  # warm-up
        times: Dict[str, List[float]] = {name: [] for name in runs}
        for _ in range(3):
            for name, run in runs.items():
                start = time.process_time()
                run()
                times[name].append(time.process_time() - start)
        median = {name: sorted(values)[1] for name, values in times.items()}
        memory = {one_call: run_memory_probe(_MEMORY_PROBE, {
            "method": method, "one_call": one_call, **kwargs}) for one_call in (True, False)}
        args = ", ".join(f"{k}={v}" for k, v in kwargs.items())
        agree = compare_batches(outputs["batch"], outputs["captum"])
        lines.append(
            f"{method}({args}): one call {median['batch']:.3f} s, 4 calls of ours "
            f"{median['singles']:.3f} s ({median['batch'] / median['singles']:.2f}x), 4 captum "
            f"calls {median['captum']:.3f} s ({median['batch'] / median['captum']:.3f}x); same "
            f"outputs as captum: {agree.agree} (max |diff| {agree.max_abs_diff:.1e}); peak "
            f"memory growth one call {memory[True]:.0f} MiB, 4 calls {memory[False]:.0f} MiB")
    return "\n".join(lines)


# --- Layer IG on GPT-2 small: repeated, interleaved, and where the time goes ----------------

def layer_ig_rounds(rounds: int = 3) -> str:
    """Ours vs captum, Layer IG (n_steps=10) on GPT-2 small, alternating, process CPU time
    (this process's work only; the load average says how shared the cores were); then the
    cost of the pieces of ours: one forward of the 10 path rows, the output head over the 12
    scored positions, one body-only backward (one is needed per target token)."""
    import os

    kwargs = {"n_steps": 10}
    ours = _runner("ours", "LayerIntegratedGradients", _gpt2_small, kwargs)
    captum = _runner("captum", "LayerIntegratedGradients", _gpt2_small, kwargs)
    ratios, lines, captum_seconds = [], [], []
    ours()  # warm-up (first-call costs: allocator, lazy initialisation)
    for r in range(rounds):
        order = [("ours", ours), ("captum", captum)][::1 if r % 2 == 0 else -1]
        seconds, outputs = {}, {}
        for name, run in order:
            start = time.process_time()
            outputs[name] = run()
            seconds[name] = time.process_time() - start
        ratios.append(seconds["captum"] / seconds["ours"])
        captum_seconds.append(seconds["captum"])
        agree = compare_results(outputs["ours"], outputs["captum"])
        lines.append(f"round {r + 1}: ours {seconds['ours']:.1f} s, captum "
                     f"{seconds['captum']:.1f} s: {ratios[-1]:.2f}x; same outputs "
                     f"{agree.agree} (max |diff| {agree.max_abs_diff:.1e}); load average "
                     f"{os.getloadavg()[0]:.1f}")
    lines.insert(0, f"{torch.get_num_threads()} threads, process CPU time; speed-up range "
                    f"{min(ratios):.2f}-{max(ratios):.2f}x over {rounds} rounds")
    model = _gpt2_small()[0]
    ids = torch.randint(2, 50000, (10, 35))
    embeddings = model.get_input_embeddings()(ids).detach().requires_grad_(True)
    with torch.enable_grad():
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        try:
            start = time.process_time()
            hidden = model.transformer(inputs_embeds=embeddings).last_hidden_state
            forward = time.process_time() - start
            start = time.process_time()
            torch.log_softmax(model.lm_head(hidden[:, -12:]), -1)
            head = time.process_time() - start
            cotangent = torch.zeros_like(hidden)
            cotangent[:, 30] = 1.0
            start = time.process_time()
            torch.autograd.grad(hidden, embeddings, cotangent, retain_graph=True)
            backward = time.process_time() - start
            # Captum's head work per token: logits at every position, and their backward.
            start = time.process_time()
            logits = torch.log_softmax(model.lm_head(hidden), -1)
            torch.autograd.grad(logits[:, -1, 0].sum(), hidden)
            head_all = time.process_time() - start
        finally:
            for parameter in model.parameters():
                parameter.requires_grad_(True)
    floor = forward + head + 12 * backward
    # Captum, token j: forward and backward of body and head over the P + j = 24 + j positions.
    captum_model = sum((24 + j) / 35 for j in range(12)) * (forward + backward + head_all)
    lines.append(f"pieces (10 path rows x 35 positions): body forward {forward:.2f} s, "
                 f"output head + log-softmax at the 12 scored positions {head:.2f} s, one "
                 f"body-only backward {backward:.2f} s, head forward + backward at all "
                 f"positions (Captum, per token) {head_all:.2f} s")
    median_captum = sorted(captum_seconds)[len(captum_seconds) // 2]
    lines.append(f"ours >= body forward + head + 12 body backward passes = {floor:.1f} s, so "
                 f"the speed-up is at most {median_captum / floor:.2f}x (median captum "
                 f"{median_captum:.1f} s); captum's pieces: sum_j (24 + j)/35 x (body forward + "
                 f"backward + full head) = {captum_model:.1f} s")
    return "\n".join(lines)
