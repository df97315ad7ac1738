"""OpenCV, or one sentence saying how to install it."""

from __future__ import annotations

from ..data.footage_file import FootageError


def opencv():
    """The `cv2` module, checked to have what footage uses (OpenCV 4's HOG detector among it)."""
    try:
        import cv2
    except ImportError:
        raise FootageError("Footage needs OpenCV: pip install 'opencv-python-headless>=4.8,<5'.") from None
    if not hasattr(cv2, "HOGDescriptor"):
        raise FootageError(f"OpenCV {cv2.__version__} has no HOG people detector (OpenCV 5 dropped it); "
                           "pip install 'opencv-python-headless>=4.8,<5'.")
    return cv2
