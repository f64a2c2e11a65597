"""Detections as data: the reference article's jq detections and user-supplied ones.

Public API:
    Detection, DetectionsFile                         -- model.py
    load_detections, parse_detections, find_detections -- loader.py
"""

from __future__ import annotations

from bench.detections.loader import find_detections, load_detections, parse_detections
from bench.detections.model import Detection, DetectionsFile

__all__ = ["Detection", "DetectionsFile", "find_detections", "load_detections", "parse_detections"]
