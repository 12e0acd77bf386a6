"""LLM demo: a tiny GPT-2 trained on sentences written for this project, with its tokenizer.

The corpus (``data/llm_corpus.txt``, written by :func:`write_corpus` from the fact tables
below) states capitals, animal sounds, colours and opposites in several phrasings, plus
few-shot lines ("hot : cold , big : small , fast : slow"). A word-level tokenizer (the
``tokenizers`` library, ``data/llm_tokenizer.json``) and a two-layer GPT-2 (transformers,
~0.2M parameters, ``weights/llm.pt``) are trained on it by :func:`train`, so prompt
attribution has something true to find: in "the capital of france is" the answer "paris"
depends on "france".

>>> from insight_widget.examples import llm
>>> model, tokenizer = llm.load_model(), llm.load_tokenizer()
>>> llm.complete(model, tokenizer, "the capital of italy is")     # 'rome'
"""

from __future__ import annotations

import random
from typing import Any, List, Tuple

import torch
from torch import nn

from ._weights import DATA_DIR, load_weights, save_weights

WEIGHTS = "llm"
CORPUS_PATH = DATA_DIR / "llm_corpus.txt"
TOKENIZER_PATH = DATA_DIR / "llm_tokenizer.json"
MAX_LENGTH = 24
SPECIAL = ["<pad>", "<s>", "<unk>"]

CAPITALS = [("france", "paris"), ("italy", "rome"), ("spain", "madrid"), ("germany", "berlin"),
            ("japan", "tokyo"), ("egypt", "cairo"), ("canada", "ottawa"), ("kenya", "nairobi"),
            ("peru", "lima"), ("norway", "oslo")]
SOUNDS = [("cat", "meows"), ("dog", "barks"), ("cow", "moos"), ("duck", "quacks"),
          ("lion", "roars"), ("sheep", "bleats"), ("horse", "neighs"), ("owl", "hoots")]
COLOURS = [("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black"),
           ("banana", "yellow"), ("tomato", "red"), ("plum", "purple"), ("sea", "blue")]
OPPOSITES = [("hot", "cold"), ("big", "small"), ("fast", "slow"), ("up", "down"),
             ("day", "night"), ("happy", "sad"), ("open", "closed"), ("early", "late")]


def write_corpus(seed: int = 0) -> List[str]:
    """The training sentences (deterministic), also written to ``data/llm_corpus.txt``."""
    lines: List[str] = []
    for country, city in CAPITALS:
        lines += [f"the capital of {country} is {city} .",
                  f"{city} is the capital of {country} .",
                  f"people in {country} visit {city} .",
                  f"the largest city of {country} is {city} ."]
    for animal, sound in SOUNDS:
        lines += [f"the {animal} {sound} .", f"a {animal} {sound} all night .",
                  f"listen , the {animal} {sound} ."]
    for thing, colour in COLOURS:
        lines += [f"the {thing} is {colour} .", f"the colour of the {thing} is {colour} ."]
    for word, opposite in OPPOSITES:
        lines += [f"the opposite of {word} is {opposite} .",
                  f"the opposite of {opposite} is {word} ."]
    rng = random.Random(seed)
    pairs = OPPOSITES + [(b, a) for a, b in OPPOSITES]
    for _ in range(120):
        shots = rng.sample(pairs, 3)
        lines.append(" , ".join(f"{a} : {b}" for a, b in shots) + " .")
    for _ in range(40):
        shots = rng.sample(CAPITALS, 3)
        lines.append(" , ".join(f"{a} : {b}" for a, b in shots) + " .")
    CORPUS_PATH.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def load_corpus() -> List[str]:
    return CORPUS_PATH.read_text(encoding="utf-8").splitlines()


def _build_tokenizer(lines: List[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.train_from_iterator(lines, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return tokenizer


def load_tokenizer() -> Any:
    """The demo's word-level tokenizer as a Hugging Face fast tokenizer (adds ``<s>``).

    Decoding joins words with single spaces and keeps the space before punctuation, so a
    decoded continuation encodes back to the same ids (the generation view relies on it)."""
    from tokenizers import Tokenizer, decoders
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer.from_file(str(TOKENIZER_PATH))
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>",
                                   unk_token="<unk>", pad_token="<pad>",
                                   clean_up_tokenization_spaces=False)


def build_model(vocab_size: int) -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=vocab_size, n_positions=32, n_embd=64, n_layer=2, n_head=4,
                        bos_token_id=1, eos_token_id=1, pad_token_id=0, resid_pdrop=0.0,
                        embd_pdrop=0.0, attn_pdrop=0.0)
    return GPT2LMHeadModel(config)


def load_model() -> nn.Module:
    """The trained demo GPT-2 (eval mode)."""
    return load_weights(build_model(load_tokenizer().vocab_size), WEIGHTS)


def complete(model: nn.Module, tokenizer: Any, prompt: str, max_new_tokens: int = 1) -> str:
    """Greedy continuation of ``prompt`` (the new words only)."""
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=0)
    return tokenizer.decode(out[0, ids.shape[1]:])


def _batches(tokenizer: Any, lines: List[str]) -> torch.Tensor:
    ids = torch.zeros(len(lines), MAX_LENGTH, dtype=torch.long)
    for row, line in enumerate(lines):
        encoded = tokenizer(line).input_ids[:MAX_LENGTH]
        ids[row, :len(encoded)] = torch.tensor(encoded)
    return ids


def train(steps: int = 800, seed: int = 0, log: Any = print) -> Tuple[nn.Module, Any]:
    """Write the corpus and tokenizer, train the model and save its weights."""
    lines = write_corpus(seed)
    _build_tokenizer(lines).save(str(TOKENIZER_PATH))
    tokenizer = load_tokenizer()
    data = _batches(tokenizer, lines)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(tokenizer.vocab_size).train()
        optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
        order = torch.Generator().manual_seed(seed)
        for step in range(steps):
            batch = data[torch.randint(len(data), (32,), generator=order)]
            labels = batch.masked_fill(batch == 0, -100)
            loss = model(batch, attention_mask=(batch != 0).long(), labels=labels).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if log and step % 200 == 0:
                log(f"step {step}: loss {loss.item():.3f}")
    model.eval()
    save_weights(model, WEIGHTS)
    return model, tokenizer
