"""The edges that read and write files: datasets, model files, atomic writes."""
