"""Frames in and out, used by data sets and tracking alike.

- :mod:`hart.media.frames`: list a folder's frames (one sort key, one suffix list), read videos
  and folders of images as one stream of BGR uint8 frames.
- :mod:`hart.media.writer`: the video writer (or folder of PNG frames), frame-exact, atomic.
- :mod:`hart.media.drawing`: boxes, legend and insets drawn on frames (video and TensorBoard).

Nothing here imports torch or the model.
"""
