"""Whether a video file holds every byte its container says it has: a file cut short.

A video that decodes fewer frames than OpenCV's ``CAP_PROP_FRAME_COUNT`` is not always damaged:
that count is only an estimate (duration × frame rate) where the container keeps none (Matroska,
WebM, fragmented MP4, MPEG-TS), so a variable frame rate or an audio track that outlasts the
video inflates it; and an MP4/MOV trimmed without re-encoding counts frames its edit list hides.
What a download or copy that stopped early does leave is a container whose own sizes run past
the end of the file: AVI's RIFF chunks, MP4/MOV's top-level boxes, Matroska/WebM's Segment, or
MPEG-TS's last packet. Reading those few headers tells the two apart without decoding anything.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_EBML_SEGMENT = b"\x18\x53\x80\x67"
_MAX_BOXES = 1_000_000  # a fragmented MP4 has two top-level boxes per fragment
_TS_SYNC = 0x47
_TS_PACKETS = (188, 192)  # MPEG-TS; M2TS (.m2ts, .mts: a 4-byte time code before each packet)
_HEAD = 2 * max(_TS_PACKETS)  # enough of the file's start to see two packets' sync bytes


def file_cut_short(path: str | os.PathLike) -> bool | None:
    """Whether the video file at ``path`` ends before its container's sizes say it does.

    ``True``: bytes are missing (the file was cut short). ``False``: the sizes account for the
    whole file (for MPEG-TS, a whole number of packets). ``None``: a container whose sizes this
    does not read (FLV, …), a stream written without them (a live WebM whose Segment size is
    "unknown"), or not a regular file (a pipe, whose bytes must be left to the decoder).
    """
    path = Path(path)
    try:
        if not path.is_file():
            return None
        size = path.stat().st_size
        with open(path, "rb") as file:
            head = file.read(_HEAD)
            if head[:4] == b"RIFF":
                return _chunks_cut_short(file, size)
            if head[:4] == _EBML_MAGIC:
                return _matroska_cut_short(file, size)
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
                return _boxes_cut_short(file, size)
            packet = _transport_packet_size(head)
            if packet is not None:
                # Packets of one size, nothing else: a file cut short ends inside one (a cut
                # that falls on a packet's edge cannot be told from a whole file).
                return size % packet != 0
    except (OSError, struct.error):
        return None  # unreadable here: the decoder's own error, if any, says more
    return None


def _transport_packet_size(head: bytes) -> int | None:
    """The packet size of an MPEG-TS or M2TS file (camcorders' ``.mts``, broadcast and dash-cam
    recordings) from its first bytes: the sync byte opening each of its first two packets; None
    for any other file."""
    for packet in _TS_PACKETS:
        offset = packet - 188  # M2TS's time code comes before the sync byte
        if len(head) > packet + offset and head[offset] == head[packet + offset] == _TS_SYNC:
            return packet
    return None


def _chunks_cut_short(file: BinaryIO, size: int) -> bool:
    """AVI: a run of ``RIFF`` chunks (OpenDML files over 1 GB add ``RIFF AVIX`` ones), each
    with its size after its name; chunks are padded to even sizes."""
    position = 0
    while position + 8 <= size:
        file.seek(position)
        name, length = struct.unpack("<4sI", file.read(8))
        if name != b"RIFF":
            break
        position += 8 + length + length % 2
    # One missing pad byte is a writer's slip, not lost data.
    return position > size + 1


def _boxes_cut_short(file: BinaryIO, size: int) -> bool | None:
    """MP4/MOV: top-level boxes, each a 32-bit size and a type (size 1: a 64-bit size follows;
    size 0: the box runs to the end of the file); None where a size is not one a box can have
    (the bytes there are damaged: the decoder's count decides)."""
    position = 0
    for _ in range(_MAX_BOXES):
        if position + 8 > size:
            break
        file.seek(position)
        length, _kind = struct.unpack(">I4s", file.read(8))
        if length == 1:
            if position + 16 > size:
                return True
            (length,) = struct.unpack(">Q", file.read(8))
        if length == 0:
            return False
        if length < 8:
            return None  # not a box header: nothing to say about the rest
        position += length
    return position > size


def _matroska_cut_short(file: BinaryIO, size: int) -> bool | None:
    """Matroska/WebM: the EBML header element, then the Segment with its size (all value bits
    set: "unknown", as a live recording writes it)."""
    file.seek(4)
    header_length, _ = _vint(file)
    if header_length is None:
        return None
    file.seek(file.tell() + header_length)
    if file.read(4) != _EBML_SEGMENT:
        return None
    segment_length, unknown = _vint(file)
    if segment_length is None or unknown:
        return None
    return file.tell() + segment_length > size


def _vint(file: BinaryIO) -> tuple[int | None, bool]:
    """An EBML variable-length size → ``(value, whether it is "unknown")``; None at a bad one."""
    first = file.read(1)
    if not first or first[0] == 0:
        return None, False
    width = 8 - first[0].bit_length() + 1  # leading zeros + the marker bit
    rest = file.read(width - 1)
    if len(rest) != width - 1:
        return None, False
    value = first[0] & (0xFF >> width)
    for byte in rest:
        value = (value << 8) | byte
    return value, value == (1 << (7 * width)) - 1
