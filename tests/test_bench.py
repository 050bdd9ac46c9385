"""The glimpse benchmark runs end to end and its memory counter counts what it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from hart import bench
from hart.errors import InputError

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_bench_prints_a_row_per_configuration(capsys):
    status = bench.main(["--sizes", "30x40,24x64", "--batches", "2", "--repeats", "1"])
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert len(table) == 1 + 2 * 1 * 2  # header + sizes × batches × modes
    names = list(bench.readers())
    assert names == ["dense", "gaussian", "batched", "windows", "stn"]
    for name in names:
        assert f"{name} ms" in table[0] and f"{name} MiB" in table[0]
        assert name == "stn" or f"{name}/stn" in table[0]
    assert "| 24×64 | 2 | fwd+bwd |" in table[-1]
    assert "cold caches" in lines[0]


def test_caches_are_flushed_before_each_timed_call_unless_asked(monkeypatch):
    flushes = []
    monkeypatch.setattr(bench, "flush_caches", lambda device: flushes.append(device))
    calls = {"a": lambda: None, "b": lambda: None}
    bench.time_calls(calls, repeats=3, warmup=1, device=torch.device("cpu"))
    assert len(flushes) == 3 * 2
    bench.time_calls(calls, repeats=3, warmup=1, device=torch.device("cpu"), cold=False)
    assert len(flushes) == 3 * 2


def test_warm_caches_option(capsys):
    argv = ["--sizes", "30x40", "--batches", "1", "--repeats", "1", "--warm-caches"]
    assert bench.main(argv) == 0
    assert "warm caches" in capsys.readouterr().out.splitlines()[0]


def test_quick_sets_defaults_that_given_repeats_and_warmup_override(capsys):
    argv = ["--quick", "--sizes", "30x40", "--batches", "1"]
    assert bench.main([*argv, "--repeats", "1", "--warmup", "0"]) == 0
    assert "median of 1 after 0 warm-up" in capsys.readouterr().out.splitlines()[0]
    assert bench.main(argv) == 0
    assert "median of 3 after 1 warm-up" in capsys.readouterr().out.splitlines()[0]


@pytest.mark.parametrize(
    "argv",
    [["--sizes", "12"], ["--sizes", "1x40"], ["--batches", "0"], ["--box-scale", "0.5,0.1"]],
)
def test_bench_rejects_bad_options(argv):
    with pytest.raises(InputError):
        bench.main([*argv, "--repeats", "1"])


def test_tensor_memory_counts_new_storage_until_freed():
    existing = torch.zeros(1000)
    with bench.TensorMemory() as memory:
        a = torch.empty(1000)  # 4000 bytes
        view = a.view(10, 100)  # same storage: not counted again
        del a
        b = existing + 1  # 4000 more; `existing` itself is not counted
        existing.view(-1)  # a view of old storage: nothing
        assert memory.current == 8000
        del view
        assert memory.current == 4000
        del b
    assert memory.current == 0 and memory.peak == 8000


def test_random_boxes_lie_in_the_frame_at_the_asked_scale():
    boxes = bench.random_boxes(200, (100, 300), (0.1, 0.4))
    x, y, w, h = boxes.unbind(-1)
    assert (x >= 0).all() and (y >= 0).all()
    assert (x + w <= 300 + 1e-3).all() and (y + h <= 100 + 1e-3).all()
    assert (w >= 30 - 1e-3).all() and (w <= 120 + 1e-3).all()
    assert (h >= 10 - 1e-3).all() and (h <= 40 + 1e-3).all()


def test_off_the_cpu_the_gaussian_column_is_the_batched_path():
    names = list(bench.readers(torch.device("cuda")))
    assert names == ["dense", "gaussian", "stn"]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(output: str) -> list[list[str]]:
    rows = [line.strip("| ").split(" | ") for line in output.splitlines() if line.startswith("| ")]
    return rows[1:]  # the header's cells, then one list per row ("---" rows never start "| ")


def test_bench_clips_prints_a_row_per_source(capsys, tmp_path):
    argv = ["--sources", "synthetic", "jpeg", "jpeg-resized", "--jpeg-from", "synthetic"]
    argv += ["--frame-size", "24x32", "--jpeg-size", "48x64", "--lengths", "2", "--workers", "0"]
    argv += ["--batch-size", "1", "--batches", "1", "--scratch", str(tmp_path)]
    script("bench_clips").main(argv)
    rows = table_rows(capsys.readouterr().out)
    assert [row[:4] for row in rows] == [
        ["synthetic", "24×32", "2", "0"],
        ["jpeg", "48×64", "2", "0"],
        ["jpeg-resized", "24×32 (cached)", "2", "0"],
    ]
    assert all(float(row[4]) > 0 for row in rows)
    assert not list(tmp_path.iterdir())  # the written layouts are gone


def test_bench_train_times_the_training_step(capsys):
    argv = ["--steps", "2", "--warmup", "1", "--batch-size", "2", "--clip-length", "2"]
    argv += ["--workers", "0", "--data.frame_size=[48,64]", "--model.config.glimpse_size=[32,32]"]
    script("bench_train").main(argv)
    output = capsys.readouterr().out
    assert "synthetic.yaml on cpu" in output and "2 steps timed after 1" in output
    (row,) = table_rows(output)
    batch, length, frames, _, steps_per_second, clips_per_second, waiting = row
    assert (batch, length, frames) == ("2", "2", "48×64")
    assert float(clips_per_second) == pytest.approx(2 * float(steps_per_second), rel=0.05)
    assert 0 <= float(waiting.rstrip("%")) < 100


@pytest.mark.parametrize(
    "name, argv, message",
    [
        ("bench_clips", ["--batches", "0"], "--batches must be at least 1, got 0"),
        ("bench_clips", ["--lengths"], "--lengths names none"),
        ("bench_clips", ["--lengths", "1"], "clip_length must be at least 2 frames, got 1"),
        ("bench_clips", ["--frame-size", "0x0"], "--frame-size: '0x0' is smaller than 16x16"),
        ("bench_clips", ["--scratch", "/dev/null"], "--scratch /dev/null is not a folder"),
        ("bench_train", ["--steps", "0"], "--steps must be at least 1 and --warmup at least 0"),
        ("bench_train", ["--batch-size", "0"], "batch_size must be at least 1, got 0"),
        ("bench_train", ["--model.lr", "abc"], "--model.lr: Expected a <class 'float'>."),
        ("bench_train", ["--config", "missing.yaml"], "--config: File does not exist"),
    ],
)
def test_bench_scripts_refuse_bad_options_in_one_line(capsys, name, argv, message):
    # Each was a traceback (ZeroDivisionError, StatisticsError, InputError, ArgumentError …),
    # some after the table's header was printed.
    with pytest.raises(SystemExit) as exit_:
        script(name).main(argv)
    assert exit_.value.code == 2
    output = capsys.readouterr()
    assert output.out == ""
    last = output.err.splitlines()[-1]
    assert ": error: " in last and message in last, output.err
