"""emodraw.files: a file or folder is either the old complete one or the new complete one, never half of one;
a write that fails for a disk reason is one line naming the path."""

import errno
import os
import stat

import pytest

from emodraw import files
from emodraw.errors import EmodrawError


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if files.is_leftover(p.name))


def test_atomic_file_replaces_the_destination_only_when_complete(tmp_path):
    dest = tmp_path / "out.jsonl"
    dest.write_text("old\n")
    with files.atomic_file(dest) as handle:
        assert os.path.dirname(handle.name) == str(tmp_path)  # beside it: the rename stays on one file system
        handle.write("new ")
        assert dest.read_text() == "old\n"  # nothing of the new file shows until it is whole
        assert leftovers(tmp_path) != []
        handle.write("and whole\n")
    assert dest.read_text() == "new and whole\n"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_write_leaves_the_old_file_and_no_temporary(tmp_path, error):
    dest = tmp_path / "out.csv"
    dest.write_text("old\n")
    with pytest.raises(type(error)), files.atomic_file(dest) as handle:
        handle.write("half")
        raise error
    assert dest.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["out.csv"]

    fresh = tmp_path / "fresh.csv"
    with pytest.raises(type(error)), files.atomic_file(fresh) as handle:
        raise error
    assert not fresh.exists() and os.listdir(tmp_path) == ["out.csv"]


def test_the_temporary_file_is_synced_before_it_is_renamed(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    with files.atomic_file(tmp_path / "out.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert calls[:2] == ["fsync", "replace"]
    assert (tmp_path / "out.bin").read_bytes() == b"\x00\x01"


def test_the_new_file_gets_ordinary_permissions(tmp_path):
    # A private temporary file (mkstemp's 0600) must not turn into a private output.
    umask = os.umask(0o022)
    try:
        with files.atomic_file(tmp_path / "out.txt") as handle:
            handle.write("x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_a_full_disk_at_the_final_sync_leaves_the_old_file(tmp_path, monkeypatch):
    dest = tmp_path / "out.jsonl"
    dest.write_text("old\n")

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(EmodrawError) as info, files.disk_errors(dest, "nothing written"):
        with files.atomic_file(dest) as handle:
            handle.write("new\n")
    assert str(info.value) == f"{dest}: no space left on device; nothing written"
    assert dest.read_text() == "old\n" and os.listdir(tmp_path) == ["out.jsonl"]


@pytest.mark.parametrize(
    "code, reason",
    [
        (errno.ENOSPC, "no space left on device"),
        (errno.EDQUOT, "disk quota exceeded"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
    ],
)
def test_disk_errors_are_one_line_naming_the_path(tmp_path, code, reason):
    with pytest.raises(EmodrawError) as info, files.disk_errors(tmp_path / "model.onnx"):
        raise OSError(code, os.strerror(code))
    assert str(info.value) == f"{tmp_path / 'model.onnx'}: {reason}"
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(EmodrawError) as info, files.disk_errors("x.csv", "the run folder is incomplete"):
        raise OSError(code, os.strerror(code))
    assert str(info.value) == f"x.csv: {reason}; the run folder is incomplete"


def test_a_rust_libraries_disk_error_is_recognised_too():
    # tokenizers' save_pretrained and safetensors raise their own types, the errno only in the text.
    with pytest.raises(EmodrawError) as info, files.disk_errors("tok", "nothing was written there"):
        raise Exception("No space left on device (os error 28)")
    assert str(info.value) == "tok: no space left on device; nothing was written there"
    with pytest.raises(Exception, match="os error 2"), files.disk_errors("tok"):
        raise Exception("No such file or directory (os error 2)")


def test_other_errors_pass_through_disk_errors():
    # Not a disk problem the user can fix by freeing space or permissions: left as it is.
    with pytest.raises(FileNotFoundError), files.disk_errors("x"):
        raise FileNotFoundError(errno.ENOENT, "gone")
    with pytest.raises(ValueError), files.disk_errors("x"):
        raise ValueError("not ours")


def test_clean_leftovers_removes_temporary_files_and_folders(tmp_path):
    with pytest.raises(RuntimeError), files.atomic_folder(tmp_path / "ckpt") as folder:
        (folder / "a").write_text("a")
        (tmp_path / ".tmp-metrics.csv-123-abcd").write_text("half")  # as a killed atomic_file leaves it
        os.mkdir(tmp_path / ".tmp-ckpt-999")  # a folder a killed atomic_folder leaves
        raise RuntimeError
    files.clean_leftovers(tmp_path)
    assert os.listdir(tmp_path) == []


def test_atomic_folder_swaps_a_whole_folder(tmp_path):
    dest = tmp_path / "ckpt"
    with files.atomic_folder(dest) as folder:
        (folder / "a").write_text("1")
    with files.atomic_folder(dest, finalize=lambda f: (f / "manifest").write_text("m")) as folder:
        (folder / "b").write_text("2")
    assert sorted(os.listdir(dest)) == ["b", "manifest"] and leftovers(tmp_path) == []
    assert files.file_sha256(dest / "b") == "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35"
