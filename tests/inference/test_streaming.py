"""`emodraw predict --file ... --output ...`: big inputs, bad lines skipped with their numbers."""

import csv
import errno
import json
import os
import subprocess
import sys

import pytest
from helpers.cli import run_cli

from emodraw.errors import EmodrawError
from emodraw.inference import streaming as stream


def run_predict(checkpoint, *args):
    return run_cli("predict", checkpoint, *args)


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
        clf, "details", lambda texts, batch_size=64, **kw: (seen.append(len(texts)), real(texts, batch_size))[1]
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


class StrictClassifier:
    """A stand-in that refuses what the real tokenizer refuses: a text that cannot be encoded as UTF-8."""

    labels = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    multi_label = False

    def __init__(self):
        self.seen: list[str] = []

    def details(self, texts, batch_size=64, **scoring):
        for text in texts:
            text.encode("utf-8")  # the tokenizer's TypeError, as the UnicodeEncodeError it stands for
        self.seen += texts
        return [{"label": "joy", "scores": {n: 1 / 6 for n in self.labels}, "truncated": False} for _ in texts]


def test_a_surrogate_line_is_skipped_and_nothing_around_it_is_lost(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": f"sentence {i}" + (" \ud800" if i == 700 else "")}) for i in range(1, 1201)]
    src.write_text("\n".join(lines) + "\n")
    clf, out = StrictClassifier(), tmp_path / "out.jsonl"
    assert stream.predict_stream(clf, file=str(src), output=str(out)) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [i for i in range(1, 1201) if i != 700]
    err = capsys.readouterr().err
    assert f"{src}:700: text has a lone surrogate U+D800 at character 14 (not valid Unicode) (skipped)" in err
    assert "predicted 1199 text(s), skipped 1 bad line(s)" in err


def test_argument_texts_are_checked_like_lines(tmp_path, capsys):
    # sys.argv carries undecodable bytes as lone surrogates (surrogateescape): b"\xff" arrives as "\udcff".
    clf = StrictClassifier()
    assert stream.predict_stream(clf, texts=["i feel good", "bad \udcff byte", "nul\x00", " ", "i am sad"]) == 0
    assert clf.seen == ["i feel good", "i am sad"]
    err = capsys.readouterr().err.splitlines()
    assert err[:3] == [
        "argument:2: text has a lone surrogate U+DCFF at character 5 (not valid Unicode) (skipped)",
        "argument:3: text has a NUL character at character 4 (binary data, or UTF-16 text?) (skipped)",
        "argument:4: missing or empty text (skipped)",
    ]


def test_utf16_input_is_refused_before_any_output(tmp_path):
    from emodraw.errors import DataError

    src = tmp_path / "in.txt"
    src.write_bytes("i feel good\ni am sad\n".encode("utf-16"))
    out = tmp_path / "out.csv"
    with pytest.raises(DataError) as info:
        stream.predict_stream(StrictClassifier(), file=str(src), output=str(out))
    assert str(info.value) == f"{src}:1: UTF-16 text (a byte-order mark FF FE): save the file as UTF-8"
    assert not out.exists()


def test_hostile_inputs_through_the_command(tiny_run, tmp_path):
    """The real tokenizer: undecodable argument bytes and a UTF-16 file, each one line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "emodraw.cli", "predict", str(tiny_run.checkpoints["best"]), "i am happy", b"bad \xff"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "argument:2: text has a lone surrogate U+DCFF at character 5 (not valid Unicode) (skipped)" in result.stderr

    src = tmp_path / "in.txt"
    src.write_bytes("i feel good\n".encode("utf-16"))
    result = run_predict(tiny_run.checkpoints["best"], "--file", src)
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr
        == f"emodraw predict: error: {src}:1: UTF-16 text (a byte-order mark FF FE): save the file as UTF-8\n"
    )


def test_an_overlong_argument_is_skipped_like_an_overlong_line(monkeypatch, capsys):
    from emodraw.data import records

    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10)
    clf = StrictClassifier()
    stream.predict_stream(clf, texts=["short", "é" * 6])  # 12 bytes in UTF-8
    assert clf.seen == ["short"]
    assert "argument:2: record longer than 10 bytes (skipped)" in capsys.readouterr().err


# --output: never the input, never a silent overwrite, never a half-written file (issue "Hostile input and faults").


def assert_one_line_error(result, message):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == f"emodraw predict: error: {message}\n"


def no_temporaries(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")] == []


def test_output_equal_to_the_input_is_refused(tiny_run, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "i feel good"}\n{"text": "i am sad"}\n')
    before = src.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(src)
    ckpt = tiny_run.checkpoints["best"]
    # The same path, the same file by another spelling (./x against x), and through a symlink.
    for file, output in [(src, src), ("in.jsonl", "./in.jsonl"), (src, tmp_path / "link.jsonl")]:
        result = run_cli("predict", ckpt, "--file", file, "--output", output, cwd=tmp_path)
        assert_one_line_error(result, f"{output}: is the input file; choose another --output")
        assert src.read_bytes() == before
    with open(src, "rb") as stdin:  # `emodraw predict CKPT --output in.jsonl < in.jsonl`
        result = run_cli("predict", ckpt, "--output", src, stdin=stdin)
    assert_one_line_error(result, f"{src}: is the input file; choose another --output")
    assert src.read_bytes() == before


def test_a_hard_link_to_the_input_is_refused_even_with_force(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "i feel good"}\n')
    os.link(src, tmp_path / "other.jsonl")
    clf = StrictClassifier()
    with pytest.raises(EmodrawError, match="is the input file"):
        stream.predict_stream(clf, file=str(src), output=str(tmp_path / "other.jsonl"), force=True)
    assert clf.seen == [] and src.read_text() == '{"text": "i feel good"}\n'


def test_an_existing_output_is_kept_unless_forced(tiny_run, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("i feel good\n")
    out.write_text("precious\n")
    result = run_predict(tiny_run.checkpoints["best"], "--file", src, "--output", out)
    assert_one_line_error(result, f"{out}: already exists; give --force to replace it")
    assert out.read_text() == "precious\n"

    result = run_predict(tiny_run.checkpoints["best"], "--file", src, "--output", out, "--force")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == ["i feel good"]
    assert no_temporaries(tmp_path)


def test_output_into_a_missing_folder_or_onto_a_folder_is_refused_before_any_work(tiny_run, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("i feel good\n")
    (tmp_path / "results.jsonl").mkdir()
    cases = [
        (tmp_path / "nope" / "out.jsonl", f"{tmp_path / 'nope' / 'out.jsonl'}: no such folder {tmp_path / 'nope'}"),
        (tmp_path, f"{tmp_path}: is a folder"),
        (tmp_path / "results.jsonl", f"{tmp_path / 'results.jsonl'}: is a folder"),
    ]
    for output, message in cases:
        assert_one_line_error(run_predict(tiny_run.checkpoints["best"], "--file", src, "--output", output), message)
        clf = StrictClassifier()
        with pytest.raises(EmodrawError) as info:
            stream.predict_stream(clf, file=str(tmp_path / "missing.txt"), output=str(output))
        assert str(info.value) == message and clf.seen == []  # checked before the input and the model
    with pytest.raises(EmodrawError) as info:
        stream.predict_stream(StrictClassifier(), texts=["x"], output=str(src / "out.jsonl"))
    assert str(info.value) == f"{src / 'out.jsonl'}: {src} is not a folder"


class FailingClassifier(StrictClassifier):
    """Fails on its second chunk, when the first one is already written."""

    def __init__(self, error: BaseException):
        super().__init__()
        self.error, self.calls = error, 0

    def details(self, texts, batch_size=64, **scoring):
        self.calls += 1
        if self.calls == 2:
            raise self.error
        return super().details(texts, batch_size)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("model broke")])
def test_an_interrupted_predict_leaves_the_old_output_and_no_half_file(tmp_path, monkeypatch, error):
    monkeypatch.setattr(stream, "CHUNK", 2)
    src, out, fresh = tmp_path / "in.txt", tmp_path / "out.csv", tmp_path / "fresh.csv"
    src.write_text("".join(f"text {i}\n" for i in range(10)))
    out.write_text("old,complete\n")
    with pytest.raises(type(error)):
        stream.predict_stream(FailingClassifier(error), file=str(src), output=str(out), force=True)
    with pytest.raises(type(error)):
        stream.predict_stream(FailingClassifier(error), file=str(src), output=str(fresh))
    assert out.read_text() == "old,complete\n" and not fresh.exists()
    assert no_temporaries(tmp_path)


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_full_disk_is_one_line_and_keeps_the_old_output(tiny_run, tmp_path, monkeypatch, capsys, where):
    from emodraw import cli

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if where == "write":
        monkeypatch.setattr(stream._Writer, "write", full)
    else:  # the disk fills with the last buffered block, noticed only when the file is synced
        monkeypatch.setattr(os, "fsync", full)
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("i feel good\ni am sad\n")
    code = cli.main(["predict", str(tiny_run.checkpoints["best"]), "--file", str(src), "--output", str(out)])
    assert code == 2
    assert capsys.readouterr().err == f"emodraw predict: error: {out}: no space left on device; nothing written\n"
    assert not out.exists() and no_temporaries(tmp_path)

    out.write_text("older\n")
    with pytest.raises(EmodrawError, match="no space left on device; nothing written"):
        stream.predict_stream(StrictClassifier(), file=str(src), output=str(out), force=True)
    assert out.read_text() == "older\n" and no_temporaries(tmp_path)


def test_stdout_is_still_streamed_line_by_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(stream, "CHUNK", 1)
    seen_out = []

    class Watching(StrictClassifier):
        def details(self, texts, batch_size=64, **scoring):
            seen_out.append(capsys.readouterr().out)  # what reached stdout before this chunk
            return super().details(texts, batch_size, **scoring)

    assert stream.predict_stream(Watching(), texts=["one", "two", "three"]) == 0
    assert seen_out == ["", "joy\tone\n", "joy\ttwo\n"]
    assert capsys.readouterr().out == "joy\tthree\n"


def test_explain_through_the_command_in_every_output_format(keyword_run, tmp_path):
    text = "i am furious about the delay"
    result = run_predict(keyword_run, "--explain", "--json", text)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["label"] == "anger" and [w["word"] for w in row["explanation"]] == text.split()
    assert max(row["explanation"], key=lambda w: w["weight"])["word"] == "furious"
    plain = run_predict(keyword_run, "--explain", text).stdout.splitlines()
    assert plain[0] == f"anger\t{text}" and "furious:+" in plain[1]
    out = tmp_path / "out.csv"
    assert run_predict(keyword_run, "--explain", text, "--output", out).returncode == 0
    (line,) = csv.DictReader(out.open())
    assert [w["word"] for w in json.loads(line["explanation"])] == text.split()


def test_long_text_chunk_through_predict_and_evaluate(long_text_run, tmp_path):
    from helpers.keyword_data import FILLER

    text = " ".join(FILLER * 2) + " and i am terrified , scared and afraid"  # past the first window
    truncated = json.loads(run_predict(long_text_run, "--json", text).stdout)
    chunked = json.loads(run_predict(long_text_run, "--json", "--long-text", "chunk", text).stdout)
    assert chunked["label"] == "fear" and truncated["label"] != "fear"
    data = tmp_path / "long.txt"
    data.write_text(f"{text};fear\ni am so happy and delighted;joy\n")  # a long text and a short one
    scores = {}
    for mode in ("truncate", "chunk"):
        result = run_cli("evaluate", long_text_run, "--data", data, "--json", "--long-text", mode)
        assert result.returncode == 0, result.stderr
        scores[mode] = json.loads(result.stdout)["accuracy"]
    assert scores["chunk"] == 1.0 and scores["truncate"] < 1.0


def test_a_text_too_long_to_chunk_is_skipped_with_its_line_and_the_rest_predicted(keyword_run, tmp_path, monkeypatch):
    from emodraw import Classifier
    from emodraw.inference import long_text

    monkeypatch.setattr(long_text, "MAX_WINDOWS", 2)  # a bound a few filler sentences pass
    src = tmp_path / "in.txt"
    src.write_text("i am so happy\n" + "the report was on the table " * 40 + "\ni am terrified\n")
    out = tmp_path / "out.jsonl"
    clf = Classifier.load(keyword_run)
    assert stream.predict_stream(clf, file=str(src), output=str(out), long_text="chunk") == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 3] and [r["label"] for r in rows] == ["joy", "fear"]
