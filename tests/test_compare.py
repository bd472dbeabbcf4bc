import json
import subprocess
import sys


def test_compare_tiny_model_and_tfidf_svm(tiny_albert, small_data, tmp_path):
    out = tmp_path / "D"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "emodraw.cli",
            "compare",
            "--models",
            f"{tiny_albert},tfidf-svm",
            "--epochs",
            "1",
            "--portion",
            "0.5",
            "--data-dir",
            str(small_data),
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((out / "compare.json").read_text())
    assert [r["model"] for r in rows] == [str(tiny_albert), "tfidf-svm"]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and row["bytes"] > 0 and row["parameters"] > 0
        assert row["cpu_sentences_per_s"] > 0 and row["train_seconds"] > 0
        assert set(row["per_class_f1"]) == {"sadness", "joy", "love", "anger", "fear", "surprise"}
    table = (out / "compare.md").read_text()
    assert "| tfidf-svm |" in table and "CPU inference sentences/s" in table
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the baseline is stored without pickle
    assert {p.name for p in (out / "runs" / "tfidf-svm-seed1").iterdir()} == {"vocabulary.json", "weights.npz"}


def test_compare_reuses_finished_runs(tiny_run, tmp_path):
    from emodraw.compare import compare

    rows = compare([], tmp_path / "D", runs=[str(tiny_run.run_dir)], data_dir=None, log=lambda m: None)
    assert (
        len(rows) == 1
        and rows[0]["accuracy"] == json.loads((tiny_run.run_dir / "evaluation.json").read_text())["best"]["accuracy"]
    )
