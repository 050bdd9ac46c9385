"""scripts/bench_tracking.py runs end to end and prints one row per tracker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_bench_tracking_prints_a_row_per_tracker_with_ratio_to_csrt(shared_sequences):
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench_tracking.py"),
            "--trackers",
            "csrt,kcf",
            "--frames",
            str(shared_sequences / "OTB" / "Crossing"),
            "--size",
            "180x120",
            "--repeats",
            "1",
            "--threads",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("120 frames of ") and "at 180×120, 1 threads" in lines[0]
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:5]}
    assert sorted(rows) == ["csrt", "kcf"]
    assert rows["csrt"][2] == "1.00"
    assert all(float(row[0]) > 0 and 0 <= float(row[3]) <= 1 for row in rows.values())


@pytest.mark.parametrize(
    "options, message",
    [
        (["--trackers", ""], "--trackers '' names none; choose from hart,"),
        (["--repeats", "0"], "--repeats must be at least 1, got 0"),
        (["--threads", "0"], "--threads must be at least 1, got 0"),
        (["--size", "0x0"], "--size '0x0' is smaller than 16x16"),
        (["--size", "640"], "--size '640' is not WxH (e.g. 640x480)"),
        (["--box", "1,2,3"], "box '1,2,3' is not X,Y,W,H"),
        (["--box", "1,2,3,4", "--frames", "missing.mp4"], "missing.mp4 does not exist"),
    ],
)
def test_bench_tracking_refuses_bad_options_in_one_line(tmp_path, options, message):
    # Each was a traceback (ValueError, cv2.error, RuntimeError, ZeroDivisionError, InputError).
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_tracking.py"), "--trackers", "kcf"]
        + options,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "", "PYTHONPATH": str(ROOT)},
    )
    assert completed.returncode == 2
    last = completed.stderr.splitlines()[-1]
    assert last.startswith(f"bench_tracking.py: error: {message}"), completed.stderr
    assert "Traceback" not in completed.stderr
