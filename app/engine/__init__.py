"""The inference core behind HTTP: lifecycle, admission, cache, batching, store, the model processes.

Nothing here imports app.api: the engine raises domain errors (app/engine/errors.py), and
app/api/errors.py alone maps them to HTTP.
"""
