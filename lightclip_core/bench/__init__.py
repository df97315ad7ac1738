"""The bench wing: the `bench`, `bench-app` and `bench-footage` commands and the index scale study.

``records`` measures checkpoints into the `benchmarks.json` document (``document`` reads and writes
it), ``tables`` renders its markdown tables, ``scale`` and ``store`` time indexes and vector stores,
``app`` times the running app over HTTP, ``footage`` times street-footage indexing. The core never
imports this package."""
