"""The app wing: what the Gradio app (top-level ``app.py``) needs beside the library core — the model
pool it serves from, the views behind its tabs, figures and tables, uploads, request coalescing and
Gradio tuning. The core (everything outside ``app/`` and ``bench/``) never imports this package."""
