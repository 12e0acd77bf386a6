"""RemoteLLMAttribution through VLLMProvider against a small OpenAI-compatible server that the
test starts on 127.0.0.1 (it serves a tiny GPT-2's prompt log-probabilities as vLLM does)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

import insight_widget.attr as ours

from .models import tiny_gpt2, tiny_tokenizer

pytest.importorskip("openai")


def _handler(model, tokenizer, requests):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def _reply(self, body):
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply({"object": "list", "data": [{"id": "tiny-gpt2", "object": "model",
                                                     "created": 0, "owned_by": "test"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            requests.append(body)
            ids = torch.tensor([tokenizer.encode(body["prompt"])])
            with torch.no_grad():
                logits = model(ids).logits[0]
            text = tokenizer.decode([int(logits[-1].argmax())])
            choice = {"index": 0, "text": text, "finish_reason": "length", "logprobs": None}
            if body.get("prompt_logprobs") is not None:
                log_probs = torch.log_softmax(logits, -1)
                entries = [None] + [
                    {str(int(t)): {"logprob": float(log_probs[i, t]), "rank": 1,
                                   "decoded_token": tokenizer.decode([int(t)])}}
                    for i, t in enumerate(ids[0, 1:])]
                choice["prompt_logprobs"] = entries
            self._reply({"id": "cmpl-1", "object": "text_completion", "created": 0,
                         "model": body["model"], "choices": [choice]})

    return Handler


@pytest.fixture(scope="module")
def server():
    model, tokenizer, requests = tiny_gpt2(), tiny_tokenizer(), []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(model, tokenizer, requests))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", model, requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_remote_attribution_matches_local_attribution(server):
    url, model, requests = server
    tokenizer = tiny_tokenizer()
    provider = ours.VLLMProvider(url)
    assert provider.model_name == "tiny-gpt2"
    inp = ours.TextTemplateInput("{} is the capital of {}", ["paris", "france"])
    remote = ours.RemoteLLMAttribution(
        ours.FeatureAblation(ours.RemoteLLMAttribution.placeholder_model), tokenizer, provider)
    before = len(requests)
    result = remote.attribute(inp, " and the")
    # The unperturbed prompt and one per feature (its scores give the output probabilities).
    assert len(requests) - before == 3
    assert all(r["prompt_logprobs"] == 0 and r["max_tokens"] == 1 for r in requests[before:])
    local = ours.LLMAttribution(ours.FeatureAblation(model), tokenizer).attribute(inp, " and the")
    assert result.output_tokens == local.output_tokens
    # The server scores one sequence per request, we score stacked padded rows: float32 ulps.
    torch.testing.assert_close(result.token_attr, local.token_attr, rtol=1e-4, atol=2e-5)


def test_remote_generation_and_errors(server):
    url, _model, _requests = server
    provider = ours.VLLMProvider(url, model_name="tiny-gpt2")
    text = provider.generate("the cat", max_new_tokens=1)
    assert isinstance(text, str) and text
    with pytest.raises(ValueError, match="Target string cannot be empty"):
        provider.get_logprobs("the cat", "", tiny_tokenizer())
    with pytest.raises(ValueError, match="API URL"):
        ours.VLLMProvider(" ")
    with pytest.raises(ConnectionError, match="vLLM API"):
        ours.VLLMProvider("http://127.0.0.1:9/v1", model_name="x").generate("a")
