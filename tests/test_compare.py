import json

from helpers.cli import run_cli


def test_compare_tiny_model_and_tfidf_svm(tiny_albert, small_data, tmp_path):
    out = tmp_path / "D"
    result = run_cli(
        "compare",
        "--models",
        f"{tiny_albert},tfidf-svm",
        "--epochs",
        "1",
        "--portion",
        "0.5",
        "--data-dir",
        small_data,
        "--output-dir",
        out,
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


def test_compare_of_finished_runs_on_data_without_a_test_split_times_validation(tiny_run, small_data, tmp_path):
    # the speed is timed on the validation texts, as a run without a test file scores validation
    import shutil

    from emodraw.compare import compare

    no_test = tmp_path / "no-test"
    no_test.mkdir()
    for name in ("train.txt", "val.txt"):
        shutil.copy(small_data / name, no_test / name)
    rows = compare([], tmp_path / "V", runs=[str(tiny_run.run_dir)], data_dir=str(no_test), log=lambda m: None)
    recorded = json.loads((tiny_run.run_dir / "evaluation.json").read_text())["best"]
    assert len(rows) == 1 and rows[0]["accuracy"] == recorded["accuracy"]


def test_compare_reports_the_int8_export_and_the_published_albert_row(tiny_run, tmp_path):
    from emodraw.compare import compare
    from emodraw.export import INT8_FILE

    out = tmp_path / "D"
    rows = compare([], out, runs=[str(tiny_run.run_dir)], int8=True, published=True, log=lambda m: None)
    measured, published = rows
    export = out / "exports" / tiny_run.run_dir.name / INT8_FILE
    assert measured["int8_bytes"] == export.stat().st_size and measured["int8_sentences_per_s"] > 0
    assert published["published"] and (published["accuracy"], published["f1_macro"]) == (0.9325, 0.8927)
    table = (out / "compare.md").read_text().splitlines()
    header, row, albert = table[0], table[2], table[3]
    assert "int8 size" in header and "int8 sentences/s" in header
    assert header.count("|") == row.count("|") == albert.count("|")  # every row has every column
    assert "| 93.25 | 89.27 |" in albert
    # a second comparison reuses the finished export instead of exporting again
    stamp = export.stat().st_mtime_ns
    compare([], out, runs=[str(tiny_run.run_dir)], int8=True, log=lambda m: None)
    assert export.stat().st_mtime_ns == stamp


def test_compare_multi_label_data_with_tfidf_and_a_finished_run(multi_label_run, multi_label_data, tmp_path):
    from emodraw.compare import compare

    rows = compare(
        ["tfidf-svm"],
        tmp_path / "M",
        runs=[str(multi_label_run)],
        data_dir=str(multi_label_data),
        multi_label=True,
        no_header=True,
        log=lambda m: None,
    )
    svm, run = rows
    assert svm["multi_label"] and run["multi_label"] and set(svm["per_class_f1"]) == set(run["per_class_f1"])
    assert svm["f1_macro"] > 0.5  # one SVM per keyword: far above chance on these sentences
    recorded = json.loads((multi_label_run / "evaluation.json").read_text())["best"]
    assert run["f1_macro"] == recorded["f1_macro"]
    assert "subset accuracy" in (tmp_path / "M" / "compare.md").read_text()
