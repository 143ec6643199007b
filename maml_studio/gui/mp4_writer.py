"""MP4 video of the adaptation animation, written by the ffmpeg that imageio-ffmpeg bundles.

A video plays in any slide program and stays small at full HD, where a GIF is
limited to 256 colours. imageio-ffmpeg is optional (`pip install
'maml-studio[video]'`, 70 MB); without it, animations are GIFs and asking for
an .mp4 says how to get it.
"""

from __future__ import annotations

import importlib.util

from PySide6.QtGui import QImage

INSTALL_HINT = "MP4 export needs imageio-ffmpeg: pip install 'maml-studio[video]' (or write a .gif)"


def unavailable_reason() -> str | None:
    """Why MP4 cannot be written here, or None when it can."""
    return None if importlib.util.find_spec("imageio_ffmpeg") else INSTALL_HINT


def save_mp4(frames: list[QImage], filename: str, frame_ms: int, last_frame_ms: int) -> None:
    """H.264 video of ``frames``, each shown ``frame_ms`` and the last ``last_frame_ms``."""
    reason = unavailable_reason()
    if reason:
        raise OSError(reason)
    import imageio_ffmpeg

    # yuv420p (what every player decodes) needs even sides: drop an odd last row or column.
    width, height = frames[0].width() // 2 * 2, frames[0].height() // 2 * 2
    holds = [1] * (len(frames) - 1) + [max(1, round(last_frame_ms / frame_ms))]
    writer = imageio_ffmpeg.write_frames(filename, (width, height), fps=1000 / frame_ms,
                                         codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p",
                                         macro_block_size=2, ffmpeg_log_level="error")
    writer.send(None)  # start ffmpeg
    try:
        for frame, hold in zip(frames, holds, strict=True):
            data = _rgb_bytes(frame.copy(0, 0, width, height))
            for _ in range(hold):
                writer.send(data)
    finally:
        writer.close()


def _rgb_bytes(image: QImage) -> bytes:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    row = rgb.width() * 3
    data = bytes(rgb.constBits())[: rgb.sizeInBytes()]
    stride = rgb.bytesPerLine()
    return b"".join(data[y * stride: y * stride + row] for y in range(rgb.height()))
