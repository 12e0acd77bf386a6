"""Small demo models and data that ship with the package (nothing is downloaded).

* :mod:`.shapes` — CNN naming the coloured shape in a 32x32 scene (image attributions).
* :mod:`.shortcut` — the same CNN trained on biased scenes (the classroom exercise).
* :mod:`.sentiment` — embedding + convolution classifier of short reviews written for the project.
* :mod:`.tabular` — MLP on generated bike-rental rows with named numeric and categorical features.
* :mod:`.vqa` — image + question -> answer ("what shape?" / "what colour?"), two modalities.
* :mod:`.llm` — a tiny GPT-2 and word-level tokenizer trained on sentences written for the project.

Each module has ``load_model()`` (bundled weights, eval mode), a deterministic data generator
and ``train()``; retrain with ``python -m insight_widget.examples.train --all``.
"""
