"""`emodraw push`: a checkpoint to the Hugging Face Hub (emodraw.publish)."""

from __future__ import annotations

from emodraw.cli.commands import command
from emodraw.config import PushConfig


@command(
    "push",
    PushConfig,
    help="upload a checkpoint (model card included) to a Hugging Face Hub model repository",
    description="Verify a checkpoint against its manifest, create the Hub model repository repo_id if it does not "
    "exist yet (--private: as a private one), and upload the checkpoint's files: weights, config, tokenizer, "
    "emodraw.json, manifest.json and the README.md model card. Needs a token: `hf auth login` or HF_TOKEN.",
)
def cmd_push(cfg: PushConfig) -> int:
    from emodraw.publish import push

    url = push(cfg.checkpoint, cfg.repo_id, private=cfg.private, revision=cfg.revision)
    print(f"pushed {cfg.checkpoint} to {cfg.repo_id}: {url}")
    return 0
