"""Captum 0.9's LLM attribution API: interpretable inputs, perturbation and gradient
wrappers for language models, remote (vLLM) models, and their result object."""

from .baselines import ProductBaselines
from .interpretable_input import (
    ImageMaskInput,
    InterpretableInput,
    TextTemplateInput,
    TextTokenInput,
)
from .llm_attr import LLMAttribution, LLMGradientAttribution
from .remote import RemoteLLMAttribution, RemoteLLMProvider, VLLMProvider
from .result import LLMAttributionResult

__all__ = [
    "ImageMaskInput",
    "InterpretableInput",
    "LLMAttribution",
    "LLMAttributionResult",
    "LLMGradientAttribution",
    "ProductBaselines",
    "RemoteLLMAttribution",
    "RemoteLLMProvider",
    "TextTemplateInput",
    "TextTokenInput",
    "VLLMProvider",
]
