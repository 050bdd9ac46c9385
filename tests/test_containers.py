"""hart.media.containers: telling a video file cut short from a whole one by its container's
own sizes (AVI's RIFF chunks, MP4's boxes, Matroska's Segment), on files OpenCV writes."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from hart.media.containers import file_cut_short

CODECS = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "MJPG"}


def write_video(path: Path, frames: int = 20, fps: float = 25.0) -> Path:
    """A video of ``frames`` distinct grey frames, 64×48, as OpenCV's own FFmpeg writes it."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps, (64, 48))
    if not writer.isOpened():
        pytest.skip(f"this OpenCV cannot write {path.suffix} ({CODECS[path.suffix]})")
    for index in range(frames):
        writer.write(np.full((48, 64, 3), 10 * index, np.uint8))
    writer.release()
    return path


def cut(path: Path, fraction: float = 0.6) -> Path:
    """The first ``fraction`` of ``path``'s bytes, as a download or copy that stopped early."""
    data = path.read_bytes()
    short = path.with_name(f"cut_{path.name}")
    short.write_bytes(data[: int(len(data) * fraction)])
    return short


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_a_whole_video_is_whole_and_one_cut_short_is_not(tmp_path, suffix):
    video = write_video(tmp_path / f"clip{suffix}")
    assert file_cut_short(video) is False
    assert file_cut_short(cut(video)) is True
    assert file_cut_short(cut(video, 0.98)) is True  # a few bytes missing is enough


def test_a_live_webm_without_a_segment_size_cannot_be_told(tmp_path):
    # MediaRecorder and other live writers leave the Segment's size "unknown" (all ones).
    video = write_video(tmp_path / "clip.mkv")
    data = bytearray(video.read_bytes())
    segment = data.index(b"\x18\x53\x80\x67") + 4
    assert data[segment] == 0x01  # OpenCV's FFmpeg writes an 8-byte size
    data[segment : segment + 8] = b"\x01" + b"\xff" * 7
    video.write_bytes(bytes(data))
    assert file_cut_short(video) is None


@pytest.mark.parametrize(("suffix", "packet"), [(".ts", 188), (".m2ts", 192)])
def test_an_mpeg_ts_file_ends_with_a_whole_packet_unless_cut_short(tmp_path, suffix, packet):
    # Packets of one size, each opening with the sync byte 0x47 (after M2TS's 4-byte time
    # code): a whole file is a whole number of them. It was "cannot be told", and a whole file
    # whose audio outlasts its video, counted longer by OpenCV, was refused as cut short.
    one = bytearray(packet)
    one[packet - 188] = 0x47
    video = tmp_path / f"clip{suffix}"
    video.write_bytes(bytes(one) * 47)
    assert file_cut_short(video) is False
    assert file_cut_short(cut(video)) is True


def test_other_containers_and_other_files_cannot_be_told(tmp_path):
    flash = tmp_path / "clip.flv"
    flash.write_bytes(b"FLV\x01\x05\x00\x00\x00\x09" + bytes(200))  # tags this does not read
    assert file_cut_short(flash) is None
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert file_cut_short(empty) is None


def test_an_mp4_box_with_a_64_bit_size_is_followed(tmp_path):
    # Files over 4 GB give mdat a 64-bit size (32-bit size 1); a short one is written here.
    payload = bytes(100)
    ftyp = struct.pack(">I4s4sI", 16, b"ftyp", b"isom", 0)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    video = tmp_path / "large.mp4"
    video.write_bytes(ftyp + mdat)
    assert file_cut_short(video) is False
    video.write_bytes(ftyp + mdat[:-1])
    assert file_cut_short(video) is True
    # A box size no box can have (under its own 8-byte header): damaged bytes, not a whole
    # file, so the decoder's frame count decides.
    video.write_bytes(ftyp + struct.pack(">I4s", 4, b"mdat") + payload)
    assert file_cut_short(video) is None


def test_a_pipe_is_not_read(tmp_path):
    pipe = tmp_path / "video.mp4"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    assert file_cut_short(pipe) is None
