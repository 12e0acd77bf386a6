"""Tiny language models and tokenizers for the LLM attribution tests (no downloads).

* :func:`tiny_tokenizer`: a byte-level BPE tokenizer trained on :data:`CORPUS` with the
  ``tokenizers`` library, wrapped as a Hugging Face fast tokenizer that adds ``<s>``.
* :func:`tiny_gpt2` / :func:`tiny_llama`: transformers architectures from small seeded
  configs.
* :class:`CharTokenizer` / :class:`BidirectionalLM`: the small model/tokenizer interface in the
  style of Captum's tests: one character per token, and a model whose attention sees the
  whole sequence (so scores must be computed token by token).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Dict, List, Optional, Union

import torch
from torch import Tensor, nn

CORPUS = [
    "the cat sat on the mat and the dog sat on the rug",
    "a small model reads a short prompt and writes an answer",
    "paris is the capital of france and rome is the capital of italy",
    "two plus two is four and three plus three is six",
    "the sky is blue the grass is green the sun is bright",
]


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>",
                                   unk_token="<unk>", pad_token="<pad>")


def tiny_gpt2(seed: int = 0, n_positions: int = 64) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tiny_tokenizer()), n_positions=n_positions, n_embd=32,
                        n_layer=2, n_head=2, bos_token_id=1, eos_token_id=1, pad_token_id=0)
    return GPT2LMHeadModel(config).eval()


def tiny_llama(seed: int = 0) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tiny_tokenizer()), hidden_size=32,
                         intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, max_position_embeddings=64, bos_token_id=1,
                         eos_token_id=1, pad_token_id=0)
    return LlamaForCausalLM(config).eval()


class CharTokenizer:
    """Space-separated single characters -> their code points; id 0 is ``<s>``, 1 ``<unk>``."""

    vocab_size = 128
    special: ClassVar[Dict[int, str]] = {0: "<s>", 1: "<unk>"}

    def encode(self, text: str, add_special_tokens: bool = True,
               return_tensors: Optional[str] = None) -> Union[List[int], Tensor]:
        ids = [0] if add_special_tokens else []
        ids += [ord(t) if len(t) == 1 else 1 for t in text.split(" ")]
        return torch.tensor([ids]) if return_tensors == "pt" else ids

    def convert_ids_to_tokens(self, ids: Union[int, List[int]]) -> Union[str, List[str]]:
        if isinstance(ids, int):
            return self.special.get(ids, chr(ids))
        return [self.special.get(i, chr(i)) for i in ids]

    def convert_tokens_to_ids(self, tokens: Union[str, List[str]]) -> Union[int, List[int]]:
        inverse = {v: k for k, v in self.special.items()}
        if isinstance(tokens, str):
            return inverse.get(tokens, ord(tokens) if len(tokens) == 1 else 1)
        return [self.convert_tokens_to_ids(t) for t in tokens]

    def decode(self, ids: Tensor) -> str:
        return " ".join(self.convert_ids_to_tokens(ids.tolist()))

    def __call__(self, text: str, add_special_tokens: bool = True,
                 return_offsets_mapping: bool = False) -> Dict[str, Any]:
        result: Dict[str, Any] = {"input_ids": self.encode(text, add_special_tokens)}
        if return_offsets_mapping:
            spans, start = [(0, 0)] if add_special_tokens else [], 0
            for piece in text.split(" "):
                spans.append((start, start + len(piece)))
                start += len(piece) + 1
            result["offset_mapping"] = spans
        return result


class _Output:
    def __init__(self, logits: Tensor) -> None:
        self.logits = logits


class BidirectionalLM(nn.Module):
    """Embedding -> one bidirectional transformer layer -> vocabulary logits (seeded)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(CharTokenizer.vocab_size, 16)
        self.layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0,
                                                batch_first=True)
        self.head = nn.Linear(16, CharTokenizer.vocab_size)
        self.eval()

    def forward(self, input_ids: Tensor, attention_mask: Optional[Tensor] = None,
                **kwargs: Any) -> _Output:
        return _Output(self.head(self.layer(self.emb(input_ids))))

    def generate(self, input_ids: Tensor, max_new_tokens: int = 3, **kwargs: Any) -> Tensor:
        ids = input_ids
        for _ in range(max_new_tokens):
            next_id = self.forward(ids).logits[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, next_id], 1)
        return ids

    # Captum 0.9's token-by-token scoring calls these (Hugging Face GenerationMixin names).
    def prepare_inputs_for_generation(self, input_ids: Tensor, **kwargs: Any) -> Dict[str, Any]:
        return {"input_ids": input_ids, "attention_mask": kwargs.get("attention_mask")}

    def _update_model_kwargs_for_generation(self, outputs: Any, model_kwargs: Dict[str, Any],
                                            **kwargs: Any) -> Dict[str, Any]:
        return dict(model_kwargs)
