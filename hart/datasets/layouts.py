"""``load_sequences(root)``: recognise a data set's on-disk layout and read it.

Each layout is a name, a one-line picture of its files, a test that recognises it and a reader.
``format="auto"`` tries them in order (the more specific first: a GOT-10k sequence would also
pass for a VOT one); a folder none of them recognises, but whose sub-folders they do (say
``OTB/`` beside ``VOT/``), reads as the union of its sub-folders, and so do sub-folders in
another layout than their folder's (``OTB/`` and ``VOT/`` beside a UAV123 tree).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hart.datasets import got10k, kitti, kth, lasot, otb, uav123, video, vot
from hart.datasets.sequence import Sequence
from hart.errors import InputError


@dataclass(frozen=True)
class Layout:
    name: str
    picture: str  # what its files look like, for error messages and docs
    detect: Callable[[Path], bool]
    read: Callable[..., list[Sequence]]


_PICTURES = {
    "kitti": "image_02/<video>/000000.png + label_02/<video>.txt",
    "uav123": "anno/UAV123/<seq>.txt + data_seq/UAV123/<seq>/000001.jpg",
    "got10k": "[train|val|test/]list.txt + <seq>/groundtruth.txt, absence.label, cover.label",
    "lasot": "<class>/<class>-N/img/*.jpg + groundtruth.txt, full_occlusion.txt, out_of_view.txt",
    "otb": "<seq>/img/0001.jpg + <seq>/groundtruth_rect.txt (or <seq>_gt.txt, <seq>.txt, "
    "gt.txt; frames in img/, imgs/ or <seq>/)",
    "vot": "<seq>/groundtruth.txt + <seq>/[color/|img/]00000001.jpg",
    "kth": "person01_walking_d1_uncomp.avi + boxes/person01_walking_d1.txt",
    "video": "<name>.mp4 (any video) + <name>.txt, one x,y,w,h per frame",
}
_READERS = {
    "kitti": (kitti.is_kitti, kitti.read_kitti),
    "uav123": (uav123.is_uav123, uav123.read_uav123),
    "got10k": (got10k.is_got10k, got10k.read_got10k),
    "lasot": (lasot.is_lasot, lasot.read_lasot),
    "otb": (otb.is_otb, otb.read_otb),
    "vot": (vot.is_vot, vot.read_vot),
    "kth": (kth.is_kth, kth.read_kth),
    "video": (video.is_videos, video.read_videos),
}
# In detection order: the more specific layouts first.
LAYOUTS: dict[str, Layout] = {
    name: Layout(name, _PICTURES[name], *_READERS[name]) for name in _READERS
}

_ALIASES = {
    "got-10k": "got10k",
    "uav": "uav123",
    "uav20l": "uav123",
    "kitti_tracking": "kitti",
    "videos": "video",
}


def known_layouts() -> str:
    """One line per layout: its name and what its files look like."""
    return "; ".join(f"{layout.name} ({layout.picture})" for layout in LAYOUTS.values())


def detect_layout(root: Path) -> str | None:
    """The name of the first layout that recognises ``root``, or None."""
    root = Path(root)
    for layout in LAYOUTS.values():
        if layout.detect(root):
            return layout.name
    return None


def _read(layout: Layout, root: Path, options: dict) -> list[Sequence]:
    accepted = inspect.signature(layout.read).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        allowed = ", ".join(name for name in accepted if name != "root") or "none"
        raise InputError(
            f"option {', '.join(unknown)} does not apply to the {layout.name} layout "
            f"(its options: {allowed})"
        )
    return layout.read(root, **options)


def load_sequences(root: str | Path, format: str = "auto", **options) -> list[Sequence]:
    """Read every sequence under ``root`` in the layout ``format`` (``"auto"``: recognise it).

    ``format`` is one of :data:`LAYOUTS` (``kitti``, ``uav123``, ``got10k``, ``lasot``,
    ``otb``, ``vot``, ``kth``, ``video``) or ``"auto"``. ``options`` go to that layout's reader
    (e.g. ``max_occlusion=1`` for KITTI, ``cache_dir=…`` for videos). Raises
    :class:`~hart.errors.InputError` for a missing or empty root, an unknown layout (the message
    lists the known ones) or a bad annotation file (the message names file and line).
    """
    if isinstance(root, str) and not root.strip():
        # Path("") is the current folder: a caller's unset variable read whatever is there.
        raise InputError(f"the data set root is empty ({root!r}); give a folder or file")
    root = Path(root).expanduser()
    if root.name in ("", ".."):
        # "." or "..": readers name a sequence (and find OTB's box file and frame range) by
        # its folder's name, and these have none; `hart evaluate .` in a sequence named it "".
        root = Path(os.path.abspath(root))
    if not root.exists():
        raise InputError(f"{root}: no such file or folder")
    if root.is_dir() and not any(root.iterdir()):
        raise InputError(f"{root}: the folder is empty")
    # Not a str (None from a caller's unset setting): refused as an unknown name is, not
    # with an AttributeError from .lower().
    name = format.lower() if isinstance(format, str) else None
    name = _ALIASES.get(name, name)
    if name != "auto":
        if name not in LAYOUTS:
            raise InputError(f"unknown format {format!r}; known: auto, {', '.join(LAYOUTS)}")
        return _read(LAYOUTS[name], root, options)
    detected = detect_layout(root)
    children = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    parts = [(child, detect_layout(child)) for child in children]
    # Sub-folders in a layout of their own: all of them when the root is in none, else those
    # in another layout than the root's. A UAV123 tree is recognised from the folder above
    # its anno/ and data_seq/, and an OTB/ or VOT/ folder beside it must not go unread.
    others = [(child, found) for child, found in parts if found not in (None, detected)]
    if detected is None and not others:
        raise InputError(f"{root}: not a layout hart knows. Known layouts: {known_layouts()}")
    found = ([(root, detected)] if detected is not None else []) + others
    return _read_each(found, options)


def _read_each(found: list[tuple[Path, str]], options: dict) -> list[Sequence]:
    """The sequences of every ``(folder, layout name)`` in ``found``, in order, each reader
    given those of ``options`` it takes.

    A root that reads as several layouts (videos beside an ``OTB/`` folder) takes an option
    of any one of them (``cache_dir`` for the videos): given to every reader, it was refused
    by the first that has no such option. An option that none of them takes is still an
    error (a misspelt one, say), named as :func:`_read` names it.
    """
    layouts = [LAYOUTS[name] for _, name in found]
    if len(layouts) == 1:
        return _read(layouts[0], found[0][0], options)
    taken = [set(inspect.signature(layout.read).parameters) - {"root"} for layout in layouts]
    unknown = sorted(set(options) - set().union(*taken))
    if unknown:
        names = ", ".join(dict.fromkeys(layout.name for layout in layouts))
        allowed = ", ".join(sorted(set().union(*taken))) or "none"
        raise InputError(
            f"option {', '.join(unknown)} does not apply to the layouts found ({names}; their "
            f"options: {allowed})"
        )
    sequences = []
    for (folder, _), layout, accepted in zip(found, layouts, taken, strict=True):
        sequences += _read(layout, folder, {k: v for k, v in options.items() if k in accepted})
    return sequences
