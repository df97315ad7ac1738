"""Person galleries from street video and photos, offline: sample frames, detect people, track them,
keep each track's best crops, and write a gallery folder that the ``folder`` dataset, ``search``,
``index`` and the app load as they are.

Pipeline (``build_footage_gallery``):

1. **Frames.** A video is sampled at ``sample_fps`` (default 2 per second; every frame is decoded,
   only the sampled ones are converted). A photo is one frame of its own. A person crop (``kind
   "crop"``, the app's plain uploads) is one detection covering the whole image.
2. **Detection** through a `Detector` chosen by name (`make_detector`, the `DETECTORS` registry in
   ``detectors/``): ``hog``, OpenCV's HOG people detector, or ``ssdlite``, SSDLite-MobileNetV2 on
   ONNX Runtime. A new detector is one file in ``detectors/`` and one register line.
3. **Tracking** (video only): each detection joins the live track whose predicted position (its
   last box moved on at its velocity) is near, whose size is alike, and that looks alike (cosine of
   the LightCLIP image embeddings), best pair first; a track missing for more than ``max_gap_s`` ends. Photos and crops
   are a track each. Tracks seen fewer than ``min_track_detections`` times are dropped (a HOG false
   positive seldom repeats).
4. **Crops.** Each track keeps its ``crops_per_track`` best crops by quality (box height times
   sharpness, the variance of the Laplacian at a fixed height), and the source frame of its best crop.
5. **Writing.** Everything goes to a temporary folder beside ``out`` that is renamed at the end: a
   failure or a kill leaves no half-written gallery. The folder holds ``crops/``, ``frames/``,
   ``captions.jsonl`` (each crop's ``id`` is its track, so search ranks tracks) and ``footage.json``
   (per crop: source file, frame index, timestamp, box, track id, detector score; per track: its
   time span, crops and best frame).

Limits (`FootageLimits`) bound what one call may read; going over one, a corrupt or unsupported file,
or no decodable frame is a `FootageError` in one sentence.

The package, one job per module: ``limits`` (what a call may read), ``opencv``, ``detectors/``,
``video`` (frames from videos and photos), ``crops`` (crop, quality, embedding), ``tracker``,
``sources`` (what to index), ``writer`` (the gallery folder), ``pipeline`` (`build_footage_gallery`),
``reader`` (`FootageIndex`, a written gallery read back). ``lightclip_core.archive`` runs the same
steps over Ray workers.
"""

from ..data.footage_file import FOOTAGE_FILE, FootageError
from .detectors import DEFAULT_DETECTOR, DETECTORS, Detection, Detector, iou, make_detector, nms
from .limits import APP_LIMITS, VIDEO_EXTENSIONS, FootageLimits
from .pipeline import build_footage_gallery
from .reader import FootageIndex
from .sources import Source, sources_from
from .tracker import TrackerOptions
from .video import probe_video, sample_video, video_segments
from .writer import FootageSummary

__all__ = ["APP_LIMITS", "DEFAULT_DETECTOR", "DETECTORS", "FOOTAGE_FILE", "VIDEO_EXTENSIONS", "Detection", "Detector",
           "FootageError", "FootageIndex", "FootageLimits", "FootageSummary", "Source", "TrackerOptions",
           "build_footage_gallery", "iou", "make_detector", "nms", "probe_video", "sample_video", "sources_from",
           "video_segments"]
