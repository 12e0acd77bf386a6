"""One module per algorithm family; each exposes ``cases()`` and optionally ``sections()``."""
