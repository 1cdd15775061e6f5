"""A study's folder: each finished run's record is written there as it completes, so a study resumes.

Layout of a study folder (``--out``)::

    study.json                  the manifest: format, kind ("study" or "search"), the configuration,
                                the data's checksum, the 2-D data points and the data's description
                                (for the report) and every run of the study, in order: {"run_id", "key"}
    runs/<run_id>.json          one record per finished run, written atomically as it arrives
    models/<run_id>.npz, .json  the fitted model of each run that trained (``io.models``)
    results.json, index.html, summary.md, figures/
                                the report: written when the study ends, or at any time by
                                ``practicaldl report DIR`` from the records there so far

A run's **key** (``run_key``) is the SHA-256 of its full configuration (every field of its
``RunConfig`` that differs from the field's default, numbers as floats, so ``0`` and ``0.0`` are
one value and a field added later with a default leaves old keys alone) together with the data's
checksum (``studies.data``); the paths of the data files (``dataset``, a table's ``test``) are
left out: the checksum names the data, wherever it is read from.

Opening a folder that already holds a study (the same command run again, or ``--resume``):

- every recorded run must be a run of the new configuration (its key among the new keys);
  otherwise ``StudyMismatch`` names the differences (configuration fields, old -> new, and the
  data's checksum): a changed configuration is never mixed with old records. A configuration
  that only adds runs (more seeds, more trials) keeps the old records and does the new runs.
- recorded runs are skipped, except those whose worker died more than the retry count
  (``status == "lost"``): those depend on the machines, not on the configuration, and run again.
  A run that raised or diverged (``"error"``, ``"diverged"``) is a result of its configuration and
  stays recorded; delete ``runs/<run_id>.json`` to run it again.

A folder that holds none of this but some of its entries (``runs/``, ``models/``, ``index.html``,
...) was not written by practicaldl: it is refused (``check_claim``) unless the command has
``--force``. Every file is written through ``io.files.write_inside`` (it must land inside the
folder). One process works on a folder at a time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Optional

from ..io.files import finite_json, read_json_file, write_inside
from ..io.folders import REPORT_ENTRIES, check_replaceable
from ..io.limits import MAX_RUNS

FORMAT = "practicaldl-study"
FORMAT_VERSION = 1
MANIFEST, RUNS, MODELS = "study.json", "runs", "models"
FOLDER_ENTRIES = (MANIFEST, RUNS, MODELS, *REPORT_ENTRIES)  # what a study folder holds
KINDS = ("study", "search")


class StudyMismatch(ValueError):
    """A study folder that holds runs of another configuration, or is not a study folder."""


def _canonical(value):
    """JSON-ready, with every number a float (``0`` and ``0.0`` are the same setting)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if is_dataclass(value):  # table options
        return _canonical(asdict(value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    return repr(value)


def run_key(run, checksum: str) -> str:
    """SHA-256 (hex) of the run's configuration (fields that differ from their defaults, but not
    the paths of its data files: ``dataset`` and a table's ``test``) and the data's checksum: what
    a recorded run is matched by."""
    settings = {}
    for f in fields(run):
        value = _canonical(getattr(run, f.name))
        if f.name == "table" and isinstance(value, dict):
            value = {**value, "test": None}
        if f.name != "dataset" and value != _canonical(f.default):
            settings[f.name] = value
    text = json.dumps({"run": settings, "data": checksum}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def config_differences(old: dict, new: dict) -> list[str]:
    """``["max_iter: 1000 -> 2000", ...]``: the settings (nested ones dotted) that differ."""
    old, new = _flatten(old), _flatten(new)
    missing = object()
    lines = []
    for k in list(old) + [k for k in new if k not in old]:
        a, b = old.get(k, missing), new.get(k, missing)
        if _canonical(a) != _canonical(b):
            lines.append(f"{k}: {'(none)' if a is missing else json.dumps(a)} -> {'(none)' if b is missing else json.dumps(b)}")
    return lines


class StudyFolder:
    """The files of one study in ``path`` (see the module docstring)."""

    def __init__(self, path):
        self.path = Path(path)
        self.manifest_path = self.path / MANIFEST
        self.runs_dir = self.path / RUNS
        self.models_dir = self.path / MODELS

    @staticmethod
    def holds_study(path) -> bool:
        return (Path(path) / MANIFEST).is_file()

    # -- reading -----------------------------------------------------------------------------
    def manifest(self) -> Optional[dict]:
        """The manifest, None when the folder holds no study; ``StudyMismatch`` when unreadable."""
        if not self.manifest_path.is_file():
            return None
        manifest = read_json_file(self.manifest_path, "study manifest", StudyMismatch)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise StudyMismatch(f"{str(self.manifest_path)!r} is not a practicaldl study manifest "
                                f"(format must be {FORMAT!r})")
        if manifest.get("format_version") != FORMAT_VERSION or manifest.get("kind") not in KINDS:
            raise StudyMismatch(f"{str(self.manifest_path)!r} has format_version {manifest.get('format_version')!r} "
                                f"and kind {manifest.get('kind')!r}; this practicaldl reads version {FORMAT_VERSION}, "
                                f"kinds {list(KINDS)}")
        runs = manifest.get("runs")
        if not isinstance(manifest.get("config"), dict) or not isinstance(runs, list) or len(runs) > MAX_RUNS \
                or not all(isinstance(r, dict) and isinstance(r.get("key"), str) and isinstance(r.get("run_id"), str)
                           for r in runs):
            raise StudyMismatch(f"{str(self.manifest_path)!r} must have a config object and a list of at most "
                                f"{MAX_RUNS} runs, each with a run_id and a key")
        return manifest

    def records(self) -> dict:
        """``{key: record}`` of every readable, well-formed record in ``runs/`` (``well_formed``;
        another one is left out and its run done again: writes are atomic, so only an outside
        hand makes one)."""
        out = {}
        for path in sorted(self.runs_dir.glob("*.json")) if self.runs_dir.is_dir() else ():
            try:
                record = read_json_file(path, "run record", StudyMismatch)
            except (OSError, StudyMismatch):
                continue
            if well_formed(record):
                out[record["key"]] = record
        return out

    def check_claim(self, *, force: bool = False) -> None:
        """Refuse (``io.folders.FolderNotOurs``) a folder that holds entries of a study (records,
        models, a report) but no study manifest, unless ``force``: they are not practicaldl's."""
        check_replaceable(self.path, FOLDER_ENTRIES, force=force)

    def recorded_in_order(self) -> tuple[dict, list[dict]]:
        """The manifest and the records of its runs, in the study's order (missing runs left out)."""
        manifest = self.manifest()
        if manifest is None:
            raise StudyMismatch(f"{str(self.path)!r} holds no study ({MANIFEST} is missing)")
        records = self.records()
        return manifest, [records[r["key"]] for r in manifest["runs"] if r["key"] in records]

    # -- opening for a run -----------------------------------------------------------------------
    def check(self, *, kind: str, config: dict, checksum: str, keys: list[str], force: bool = False) -> dict:
        """Check the folder against this study without writing anything; return ``{key: record}``
        of the runs to keep (see the module docstring for the rules; ``force``: as ``check_claim``)."""
        if self.path.exists() and not self.path.is_dir():
            raise StudyMismatch(f"the study folder {str(self.path)!r} is a file")
        old = self.manifest()
        self.check_claim(force=force)
        recorded = self.records()
        if old is not None and old["kind"] != kind:
            raise StudyMismatch(f"the folder {str(self.path)!r} holds a {old['kind']}, not a {kind}; "
                                "use another folder")
        wanted = set(keys)
        strangers = [r for k, r in recorded.items() if k not in wanted]
        if strangers:
            raise StudyMismatch(self._mismatch_message(old, config, checksum, strangers))
        return {k: r for k, r in recorded.items() if r.get("status") != "lost"}

    def write_manifest(self, *, kind: str, config: dict, checksum: str, runs: list, keys: list[str],
                       data_points: Optional[dict] = None, dataset: Optional[dict] = None) -> Path:
        """``study.json``: what the folder holds (written when the runs start, after ``check``)."""
        manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "config": config,
                    "data_checksum": checksum, "data": data_points, "dataset": dataset,
                    "runs": [{"run_id": run.run_id, "key": key} for run, key in zip(runs, keys)]}
        text = json.dumps(manifest, indent=1, allow_nan=False) + "\n"
        return write_inside(self.path, MANIFEST, text.encode("utf-8"))

    def _mismatch_message(self, old, config, checksum, strangers) -> str:
        differences = [] if old is None else config_differences(old["config"], config)
        if old is not None and old.get("data_checksum") != checksum:
            differences.append(f"data checksum: {str(old.get('data_checksum'))[:12]}... -> {checksum[:12]}...")
        if not differences:
            differences = [f"{len(strangers)} recorded runs (such as {strangers[0].get('run_id')!r}) are not runs "
                           "of this configuration"]
        return (f"the study folder {str(self.path)!r} holds runs of a different configuration "
                f"({'; '.join(differences)}); use another folder, or delete this one to start over")

    # -- writing as runs finish ------------------------------------------------------------------
    def write_record(self, record: dict) -> Path:
        """``runs/<run_id>.json``, atomically (a reader never sees half a record)."""
        text = json.dumps(finite_json(record), indent=1, allow_nan=False) + "\n"
        return write_inside(self.path, Path(RUNS) / f"{record['run_id']}.json", text.encode("utf-8"))


def well_formed(record) -> bool:
    """True for a record with the keys and types that resuming and aggregating read (``runner``)."""
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str)
                                               for k in ("key", "run_id", "study", "configuration")):
        return False
    if not isinstance(record.get("seed"), int) or isinstance(record.get("seed"), bool) \
            or not isinstance(record.get("config"), dict) or not isinstance(record.get("error"), (str, type(None))):
        return False
    return all(record.get(k) is None or (isinstance(record[k], (int, float)) and not isinstance(record[k], bool))
               for k in ("train_accuracy", "test_accuracy", "gap", "final_cost", "time_s"))

