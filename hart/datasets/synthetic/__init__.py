"""Synthetic tracking sequences: the built-in training set, no download needed.

Each sequence is a small world built from a seed: a textured background larger than the frame
(procedural, or the user's photos) with static objects on it; a target (a textured, shaded
object from :mod:`~hart.datasets.synthetic.sprites`) that moves with inertia, turns,
accelerates, grows, shrinks, changes aspect and pose; distractors that look like the target
and move near it; unrelated objects; occluders that pass in front of the target (partly or
fully); and a camera that stays still, pans, follows the target, zooms or shakes. Frames then
go through what a real camera does to them: lighting that drifts and changes across the frame,
motion blur along the motion, defocus, sensor noise and JPEG compression.

The target's box is the tight box of its silhouette in the frame (clipped to the frame). When
less than ``min_visible_fraction`` of its silhouette is in view (occluded or out of the frame)
it is absent: ``visible`` False and a NaN box. The first frame always shows it.

Everything is a function of the seed (numpy's generator; OpenCV calls are deterministic), so
a sequence can be generated on the fly — :func:`generate_sequence`, :func:`render_frames` — or
written to disk (:func:`write_synthetic_sequence`) in a reader's layout or as a video.

The parts, each a plain function of the random generator or of the planned scene:

- :mod:`~hart.datasets.synthetic.config`: :class:`SyntheticConfig`, the world's knobs;
- :mod:`~hart.datasets.synthetic.motion`: drifts, walks with inertia, the camera;
- :mod:`~hart.datasets.synthetic.textures` and :mod:`~hart.datasets.synthetic.sprites`:
  surfaces and objects; :mod:`~hart.datasets.synthetic.photos`: the user's photos for both;
- :mod:`~hart.datasets.synthetic.objects`: the target's look-alikes, clutter and occluders;
- :mod:`~hart.datasets.synthetic.scene`: the whole world of one sequence, planned from its seed;
- :mod:`~hart.datasets.synthetic.photometry` and :mod:`~hart.datasets.synthetic.rendering`:
  drawing frame ``t`` and the target's box in it;
- :mod:`~hart.datasets.synthetic.sequences`: the entry points below.
"""

from hart.datasets.synthetic.config import SyntheticConfig
from hart.datasets.synthetic.photos import PhotoLibrary
from hart.datasets.synthetic.sequences import (
    SyntheticSequence,
    generate_sequence,
    render_frames,
    write_synthetic_dataset,
    write_synthetic_sequence,
)

__all__ = [
    "PhotoLibrary",
    "SyntheticConfig",
    "SyntheticSequence",
    "generate_sequence",
    "render_frames",
    "write_synthetic_dataset",
    "write_synthetic_sequence",
]
