"""Tiny models built inside the tests: a 2-layer ALBERT with a SentencePiece vocabulary trained in
about a second on the bundled sentences, saved to a folder exactly as albert-base-v2 ships
(config.json + model.safetensors + spiece.model), so it loads through the same path."""

from __future__ import annotations

from pathlib import Path

SENTENCES = 3000


def training_sentences(n: int = SENTENCES) -> list[str]:
    from emodraw.data.splits import bundled_data_dir

    lines = (bundled_data_dir() / "train.txt").read_text(encoding="utf-8").splitlines()[:n]
    return [line.rsplit(";", 1)[0] for line in lines]


def make_tiny_albert(folder: Path, vocab_size: int = 800, seed: int = 0) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import AlbertConfig, AlbertModel

    folder.mkdir(parents=True, exist_ok=True)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_sentences()),
        model_prefix=str(folder / "spiece"),
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="<pad>",
        unk_piece="<unk>",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"],
        minloglevel=2,
        num_threads=1,
    )
    (folder / "spiece.vocab").unlink()
    torch.manual_seed(seed)
    config = AlbertConfig(
        vocab_size=vocab_size,
        embedding_size=32,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    AlbertModel(config).save_pretrained(folder)
    return folder


def make_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A 2-layer BERT (with its pooler, as BERT checkpoints ship) on the embedded model's WordPiece vocabulary."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from emodraw.modeling.backbones import embedded_model_path

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_path())
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    return folder
