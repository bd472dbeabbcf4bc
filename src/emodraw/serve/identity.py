"""The name under which the server shows its model to clients (/health, the page's footer, the log line, the
metrics): the model's own folder names, never the path it was loaded from, which would tell anyone who
can reach the server how its disk is laid out (user names, mount points)."""

from __future__ import annotations

from pathlib import Path

from emodraw.hub import snapshot_of

# What emodraw.training writes into a run folder: its checkpoints live in checkpoints/ beside run.json.
RUN_MARKERS = ("run.json", "config.yaml")
FALLBACK = "model"


def model_name(classifier) -> str:
    """ "<run folder>/<checkpoint folder>" for a checkpoint inside a training run's folder (what `emodraw serve
    RUN_DIR` loads), "OWNER/NAME@abc1234" (the Hub id and its commit) for a model of the Hugging Face cache,
    the folder's (or .pth file's) own name for any other checkpoint or export folder, and "model" when the
    classifier has no path."""
    path = getattr(classifier, "path", None)
    if path is None:
        return FALLBACK
    snapshot = snapshot_of(path)
    if snapshot is not None:
        return snapshot.name
    try:
        path = Path(path).resolve()  # "." and ".." have no name of their own
    except (OSError, RuntimeError):  # a symlink loop: keep the path as given
        path = Path(path)
    if not path.name:
        return FALLBACK  # the file system's root
    run = path.parent.parent
    # Only a real run folder: a checkpoint kept in some ~/checkpoints/ folder must not show its owner's name.
    if path.parent.name == "checkpoints" and run.name and any((run / marker).is_file() for marker in RUN_MARKERS):
        return f"{run.name}/{path.name}"
    return path.name
