"""Notebook displays that need IPython or ipywidgets; imported lazily, never by the core."""
