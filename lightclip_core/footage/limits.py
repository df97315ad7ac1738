"""What one footage call may read (`FootageLimits`), the app's tighter limits, and the video types."""

from __future__ import annotations

from dataclasses import dataclass


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".webm", ".mkv", ".m4v")
@dataclass
class FootageLimits:
    """What one call may read: sensible for a two-core CPU Space; raise them on a real machine."""

    max_video_seconds: float = 600.0  # per video
    max_file_bytes: int = 1 << 30  # per file (1 GiB)
    max_side: int = 4096  # a frame wider or taller than this is refused (4K: 3840x2160)
    min_side: int = 64
    max_crops: int = 5000  # in the whole gallery
    max_photos: int = 2000
    max_sources: int = 50


# A CPU Space: five minutes of video per file (about two and a half minutes to index on two cores at
# 2 sampled frames per second), files as large as the app's upload limit.
APP_LIMITS = FootageLimits(max_video_seconds=300.0, max_file_bytes=300 * 2**20, max_crops=3000, max_photos=1000,
                           max_sources=10)
