"""`emodraw predict --file ... --output ...`: big inputs, bad lines skipped with their numbers."""

import csv
import json
import subprocess
import sys

from emodraw.inference import streaming as stream


def run_predict(checkpoint, *args):
    return subprocess.run(
        [sys.executable, "-m", "emodraw.cli", "predict", str(checkpoint), *map(str, args)],
        capture_output=True,
        text=True,
    )


def test_txt_to_jsonl_skips_bad_lines_and_keeps_line_numbers(tiny_run, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"i feel wonderful today\n\nbad \xff utf8\ni am scared;fear\n   \nso angry right now\r\n")
    out = tmp_path / "out.jsonl"
    result = run_predict(tiny_run.checkpoints["best"], "--file", src, "--output", out)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 4, 6]
    assert [r["text"] for r in rows] == ["i feel wonderful today", "i am scared", "so angry right now"]
    assert all(set(r) >= {"label", "scores", "truncated"} for r in rows)
    assert f"{src}:3: invalid UTF-8 (skipped)" in result.stderr
    assert "predicted 3 text(s), skipped 1 bad line(s)" in result.stderr


def test_csv_and_jsonl_inputs_to_csv_output(tiny_run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('id,text\n1,"i feel good, really"\n2,\n3,i am sad\n')
    out = tmp_path / "out.csv"
    result = run_predict(tiny_run.checkpoints["best"], "--file", src, "--output", out)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [r["text"] for r in rows] == ["i feel good, really", "i am sad"]
    assert [r["line"] for r in rows] == ["2", "4"]
    assert (
        abs(sum(float(rows[0][name]) for name in ("sadness", "joy", "love", "anger", "fear", "surprise")) - 1) < 1e-4
    )
    assert "in.csv:3: missing or empty text (skipped)" in result.stderr

    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "i feel good"}\n{"nope": 1}\n{broken\n{"text": "i am sad"}\n')
    result = run_predict(tiny_run.checkpoints["best"], "--file", src, "--json")
    assert result.returncode == 0
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["i feel good", "i am sad"]
    assert "in.jsonl:2:" in result.stderr and "in.jsonl:3: not valid JSON" in result.stderr


def test_memory_stays_bounded_by_the_chunk(tiny_run, tmp_path, monkeypatch):
    from emodraw import Classifier

    clf = Classifier.load(tiny_run.checkpoints["best"])
    seen = []
    real = clf.details
    monkeypatch.setattr(
        clf, "details", lambda texts, batch_size=64: (seen.append(len(texts)), real(texts, batch_size))[1]
    )
    monkeypatch.setattr(stream, "CHUNK", 50)
    src = tmp_path / "big.txt"
    src.write_text("".join(f"sentence number {i} makes me happy\n" for i in range(230)))
    out = tmp_path / "out.jsonl"
    stream.predict_stream(clf, file=str(src), output=str(out))
    assert max(seen) == 50 and sum(seen) == 230
    assert len(out.read_text().splitlines()) == 230


def test_bad_output_suffix_is_refused(tiny_run, tmp_path):
    result = run_predict(
        tiny_run.checkpoints["best"], "--file", tmp_path / "x.txt", "--output", tmp_path / "o.parquet"
    )
    assert result.returncode == 2 and "use a .jsonl or .csv file" in result.stderr
