"""Fixtures of the LLM attribution tests: the tiny seeded transformers models."""

from __future__ import annotations

import pytest

from .models import tiny_gpt2, tiny_llama


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("transformers")
    return tiny_gpt2()


@pytest.fixture(scope="module")
def llama():
    pytest.importorskip("transformers")
    return tiny_llama()
