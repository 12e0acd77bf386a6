"""The small tokenizer interface the LLM wrappers use, checked in one place.

A tokenizer needs ``encode(text, add_special_tokens=..., return_tensors=...)`` and
``convert_ids_to_tokens(ids)``; ``convert_tokens_to_ids`` when baselines or skipped tokens
are given as strings, ``decode`` for remote models. Hugging Face tokenizers have all four.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .._utils.validation import describe


def check_tokenizer(tokenizer: Any, needed: Iterable[str] = ("encode", "convert_ids_to_tokens"),
                    argument: str = "tokenizer") -> None:
    """Raise ``TypeError`` naming the methods ``tokenizer`` lacks."""
    missing = [name for name in needed if not callable(getattr(tokenizer, name, None))]
    if missing:
        raise TypeError(
            f"`{argument}` must provide {', '.join(needed)} (like a Hugging Face tokenizer); "
            f"{describe(tokenizer)} lacks {', '.join(missing)}.")


def as_id_row(ids: Any, argument: str) -> Tensor:
    """Token ids (a list, a 1-d tensor or a (1, L) tensor) as a 1-d int64 tensor."""
    if isinstance(ids, Tensor):
        tensor = ids
    else:
        try:
            tensor = torch.as_tensor(ids)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"`{argument}` must be token ids; got {describe(ids)}.") from error
    if tensor.dim() == 2 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 1 or (tensor.numel() and tensor.is_floating_point()):
        raise ValueError(f"`{argument}` must be one sequence of integer token ids (shape (L,) or "
                         f"(1, L)); got {describe(tensor)}.")
    return tensor.long()


def encode(tokenizer: Any, text: str, add_special_tokens: bool = True) -> Tensor:
    """``text`` as a 1-d tensor of token ids."""
    ids = tokenizer.encode(text, add_special_tokens=add_special_tokens, return_tensors="pt")
    return as_id_row(ids, "the tokenizer's encode() result")


def ids_to_tokens(tokenizer: Any, ids: Sequence[int]) -> List[str]:
    """Token strings of ``ids`` (as ``convert_ids_to_tokens`` spells them)."""
    tokens = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    return [str(t) for t in tokens]


def token_to_id(tokenizer: Any, token: str, argument: str) -> int:
    """The id of the string ``token``; ``ValueError`` when the vocabulary does not know it."""
    check_tokenizer(tokenizer, ("convert_tokens_to_ids",), "tokenizer")
    token_id = tokenizer.convert_tokens_to_ids(token)
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    unknown_token = getattr(tokenizer, "unk_token", None)
    if token_id is None or (unknown_id is not None and token_id == unknown_id
                            and token != unknown_token):
        raise ValueError(f"`{argument}`: the tokenizer's vocabulary has no token {token!r}.")
    if isinstance(token_id, (list, tuple)):
        raise ValueError(f"`{argument}`: {token!r} is not a single token.")
    return int(token_id)


def token_ids(tokenizer: Any, tokens: Optional[Sequence[Any]], argument: str) -> List[int]:
    """Ids of ``tokens`` given as ids or as token strings."""
    if tokens is None:
        return []
    if isinstance(tokens, (str, int)) or not isinstance(tokens, (list, tuple, set)):
        raise TypeError(f"`{argument}` must be a list of token ids or token strings; got "
                        f"{describe(tokens)}.")
    result = []
    for token in tokens:
        if isinstance(token, str):
            result.append(token_to_id(tokenizer, token, argument))
        elif isinstance(token, int) and not isinstance(token, bool):
            result.append(int(token))
        else:
            raise TypeError(f"`{argument}` must hold token ids or token strings; got "
                            f"{describe(token)}.")
    return result


def readable_tokens(tokenizer: Any, ids: Sequence[int]) -> List[str]:
    """The text each token stands for, as a person reads it (for output tokens).

    The ids are decoded to text and encoded again with character offsets; when that gives the
    same ids, token k is its span of the text without surrounding spaces (a line break shown
    as ``\\n``; a token sharing the span of the previous one, as the bytes of one emoji do, is
    "<char> [OVERLAP]"). Otherwise each id is decoded alone.
    """
    ids = [int(i) for i in ids]
    spans = _offset_spans(tokenizer, ids)
    if spans is None:
        return [_tidy(_decode_one(tokenizer, i)) for i in ids]
    text, offsets = spans
    tokens: List[str] = []
    previous = None
    for start, end in offsets:
        piece = _tidy(text[start:end])
        if previous is not None and start < previous[1] and (start, end) == previous:
            piece = f"{tokens[-1].split(' [OVERLAP]')[0]} [OVERLAP]"
        tokens.append(piece)
        previous = (start, end)
    return tokens


def _tidy(piece: str) -> str:
    return piece.strip(" ").replace("\n", "\\n")


def _decode_one(tokenizer: Any, token_id: int) -> str:
    decode = getattr(tokenizer, "decode", None)
    if callable(decode):
        try:
            return str(decode(torch.tensor([token_id])))
        except Exception:  # a decode that wants lists, or none that works: the raw token
            pass
    return ids_to_tokens(tokenizer, [token_id])[0]


def _offset_spans(tokenizer: Any, ids: List[int]) -> Optional[Tuple[str, List[Tuple[int, int]]]]:
    """(decoded text, one character span per id), or None when offsets are unavailable."""
    if not callable(tokenizer) or not callable(getattr(tokenizer, "decode", None)):
        return None
    try:
        text = tokenizer.decode(torch.tensor(ids))
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        again = [int(i) for i in encoded["input_ids"]]
        offsets = [tuple(int(v) for v in span) for span in encoded["offset_mapping"]]
    except Exception:  # tokenizers without offsets (or decode of tensors): per-id fallback
        return None
    if again != ids or len(offsets) != len(ids):
        return None
    return str(text), offsets  # type: ignore[return-value]
