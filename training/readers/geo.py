"""Coordinates as the Twitter APIs send them (GeoJSON, [lon, lat] order) turned into checked (lat, lon)."""

from __future__ import annotations

import math
from typing import Any


def valid_lat_lon(lat: Any, lon: Any) -> tuple[float, float] | None:
    """(lat, lon) as floats when both are finite numbers in range, else None."""
    if isinstance(lat, bool) or isinstance(lon, bool):
        return None
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    lat_f, lon_f = float(lat), float(lon)
    if not (math.isfinite(lat_f) and math.isfinite(lon_f)):
        return None
    if not (-90.0 <= lat_f <= 90.0 and -180.0 <= lon_f <= 180.0):
        return None
    return lat_f, lon_f


def point_lat_lon(point: Any) -> tuple[float, float] | None:
    """A GeoJSON Point ``{"type": "Point", "coordinates": [lon, lat]}`` as (lat, lon)."""
    if not isinstance(point, dict):
        return None
    coords = point.get("coordinates")
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    return valid_lat_lon(coords[1], coords[0])


def bbox_centroid(bbox: Any) -> tuple[float, float] | None:
    """Centre (lat, lon) of a v2 ``[west, south, east, north]`` bbox or a v1 GeoJSON Polygon ([lon, lat]).

    Only a hint: a place's box can span a whole state, so readers keep it out of Tweet.lat/lon.
    """
    if isinstance(bbox, dict):  # v1 place.bounding_box
        rings = bbox.get("coordinates")
        if not isinstance(rings, list) or not rings or not isinstance(rings[0], list):
            return None
        points = [p for p in rings[0] if isinstance(p, list) and len(p) >= 2]
        lons = [p[0] for p in points if isinstance(p[0], (int, float))]
        lats = [p[1] for p in points if isinstance(p[1], (int, float))]
        if not lons or not lats:
            return None
        return _rounded(valid_lat_lon((min(lats) + max(lats)) / 2, (min(lons) + max(lons)) / 2))
    if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox):
        west, south, east, north = bbox
        return _rounded(valid_lat_lon((south + north) / 2, (west + east) / 2))
    return None


def _rounded(lat_lon: tuple[float, float] | None) -> tuple[float, float] | None:
    # 6 decimals is ~0.1 m: drops float noise of the midpoint without losing anything a place box can say.
    return (round(lat_lon[0], 6), round(lat_lon[1], 6)) if lat_lon else None
