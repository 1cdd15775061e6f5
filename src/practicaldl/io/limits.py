"""What a file may ask practicaldl to allocate: the limits, checked before anything is allocated.

A results document, a study's TOML, a model's metadata or a dataset's ``.npz`` is data that
anyone may have written; what it asks for (a decision grid, an array, a nesting depth, a number
of runs) is checked against these limits before memory is set aside for it, so a crafted or
corrupt file is refused in one line instead of exhausting the machine. Every limit is far above
what practicaldl itself writes (a demo's ``results.json`` nests 11 deep, a decision grid is at
most ``MAX_GRID_POINTS`` a side).

- ``MAX_JSON_BYTES``: the size of a JSON file read (results, study manifest, run record, model
  metadata): 256 MiB (parsing takes several times the file's size in memory).
- ``MAX_JSON_DEPTH``: how deep a JSON document nests: 64.
- ``MAX_CONFIG_BYTES``: the size of a study or search TOML file: 16 MiB.
- ``MAX_ARRAY_BYTES``: one array read from an ``.npz`` / ``.npy`` file, by the shape and dtype in
  its header, before it is read: 4 GiB.
- ``MAX_GRID_POINTS``: a decision grid's points per side: 400 (``StudyConfig.grid_points``).
- ``CONFIRM_RUNS``: a study or search with more runs (configurations x seeds) than this runs only
  with ``--yes`` on the command line: 1,000.
- ``MAX_RUNS``: the most runs a study or search may have: 100,000 (every run is listed in the
  study's manifest and the report).
- ``MAX_FIGURE_CONFIGURATIONS``: figures with a panel, a bar or a histogram row per configuration
  draw the first 30 configurations (the tables list them all).
"""

from __future__ import annotations

MAX_JSON_BYTES = 256 * 2**20
MAX_JSON_DEPTH = 64
MAX_CONFIG_BYTES = 16 * 2**20
MAX_ARRAY_BYTES = 4 * 2**30
MAX_GRID_POINTS = 400
CONFIRM_RUNS = 1_000
MAX_RUNS = 100_000
MAX_FIGURE_CONFIGURATIONS = 30


def size_text(n_bytes: float) -> str:
    """``3.2 GiB``, ``512 MiB``, ``12 KiB`` or ``7 bytes``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{int(n_bytes)} bytes"
