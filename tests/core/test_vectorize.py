"""Mask to polygons: one raft per 8-connected group, holes kept, true-metre areas and lengths, strips stitched."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from affine import Affine
from pyproj import Geod, Transformer
from rasterio.crs import CRS
from scipy import ndimage

from sargasses.detection.vectorize import RaftCollector, _label, filament_length, filament_lengths

UTM = CRS.from_epsg(32620)
UTM_TRANSFORM = Affine(20.0, 0.0, 600000.0, 0.0, -20.0, 1700040.0)


def hand_made_mask() -> np.ndarray:
    """A ring with a hole, a diagonal filament, a horizontal filament crossing many rows of strips, specks."""
    mask = np.zeros((120, 90), dtype=bool)
    mask[10:20, 10:20] = True
    mask[13:16, 13:17] = False  # hole of 12 pixels
    for i in range(40):  # diagonal, 1 pixel wide: one raft only with 8-connectivity
        mask[30 + i, 40 + i] = True
    mask[85, 5:65] = True  # 60 px straight
    mask[60:110, 85] = True  # vertical, crosses strip borders
    mask[2, 2] = True  # single pixel
    return mask


def collect(mask, score, strip_rows, transform=UTM_TRANSFORM, crs=UTM, **kw):
    collector = RaftCollector(transform, crs, mask.shape[1], **kw)
    for row in range(0, mask.shape[0], strip_rows):
        collector.add(row, mask[row : row + strip_rows], score[row : row + strip_rows])
    return collector.finish()


def test_components_holes_and_pixel_areas():
    mask = hand_made_mask()
    score = np.where(mask, 0.8, 0.1).astype(np.float32)
    score[10, 10] = 0.95
    rafts = collect(mask, score, strip_rows=1000)
    assert len(rafts) == 5
    ring = next(r for r in rafts if r.pixels == 100 - 12)
    (polygon,) = getattr(ring.geometry, "geoms", [ring.geometry])
    assert len(polygon.interiors) == 1 and shapely.Polygon(polygon.interiors[0]).area == pytest.approx(12 * 400)
    assert ring.score_max == pytest.approx(0.95) and ring.score_mean == pytest.approx((0.8 * 87 + 0.95) / 88)
    for raft in rafts:
        # the polygon is exactly the mask's pixels; area_m2 is that on the ellipsoid (UTM scale within 0.1 %)
        assert raft.geometry.area == pytest.approx(raft.pixels * 400.0)
        assert raft.area_m2 == pytest.approx(raft.pixels * 400.0, rel=2e-3)
        assert raft.geometry.is_valid
    diagonal = next(r for r in rafts if r.pixels == 40)
    assert diagonal.length_m == pytest.approx(39 * np.hypot(20, 20) + 20, rel=2e-3)
    straight = next(r for r in rafts if r.pixels == 60)
    assert straight.length_m == pytest.approx(60 * 20, rel=2e-3)


@pytest.mark.parametrize("strip_rows", [1, 7, 25, 64])
def test_strips_give_the_same_rafts_as_one_piece(strip_rows):
    mask = hand_made_mask()
    rng = np.random.default_rng(3)
    mask |= rng.random(mask.shape) > 0.93  # speckle that joins and splits things across strips
    score = rng.random(mask.shape).astype(np.float32)
    whole = collect(mask, score, strip_rows=10_000)
    pieces = collect(mask, score, strip_rows=strip_rows)
    assert [r.pixels for r in pieces] == [r.pixels for r in whole]
    for a, b in zip(whole, pieces, strict=True):
        assert a.geometry.symmetric_difference(b.geometry).area == pytest.approx(0.0, abs=1e-6)
        assert a.score_mean == pytest.approx(b.score_mean) and a.score_max == pytest.approx(b.score_max)
        assert a.length_m == pytest.approx(b.length_m)
    assert sum(r.pixels for r in pieces) == int(mask.sum())


def test_min_area_and_simplify():
    mask = hand_made_mask()
    score = mask.astype(np.float32)
    rafts = collect(mask, score, strip_rows=16, min_area_m2=1000.0)  # drops the single pixel (400 m2)
    assert min(r.area_m2 for r in rafts) >= 1000.0 and len(rafts) == 4
    simplified = collect(mask, score, strip_rows=16, simplify_m=15.0)
    for raft in simplified:
        assert raft.geometry.is_valid and not raft.geometry.is_empty
    ring = next(r for r in simplified if r.pixels == 88)
    assert len(next(iter(getattr(ring.geometry, "geoms", [ring.geometry]))).interiors) == 1  # hole kept


def test_geographic_crs_gives_true_metres():
    """A lon/lat raster: areas and lengths must come out in metres, not in degrees."""
    transform = Affine(0.0002, 0.0, -61.0, 0.0, -0.0002, 15.0)  # about 21.5 m x 22 m at 15 N
    mask = np.zeros((50, 50), dtype=bool)
    mask[20:30, 5:45] = True
    (raft,) = collect(mask, mask.astype(np.float32), strip_rows=13, transform=transform, crs=CRS.from_epsg(4326))
    lon, lat = np.asarray(raft.geometry.exterior.xy)
    geodesic_area = abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])
    assert raft.area_m2 == pytest.approx(geodesic_area, rel=1e-3)
    geod = Geod(ellps="WGS84")
    dx = geod.inv(-61.0, 14.995, -60.9998, 14.995)[2]
    dy = geod.inv(-61.0, 14.995, -61.0, 14.9948)[2]
    assert 21 < dx < 22 < dy < 23
    # longest 8-neighbour path through a 10 x 40 block: 9 diagonal steps and 30 along x, plus one pixel
    assert raft.length_m == pytest.approx(9 * np.hypot(dx, dy) + 30 * dx + dy, rel=0.005)
    assert raft.lon == pytest.approx(-61.0 + 25 * 0.0002) and raft.lat == pytest.approx(15.0 - 25 * 0.0002)


def test_centroid_is_in_lon_lat():
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:8, 5:8] = True
    (raft,) = collect(mask, mask.astype(np.float32), strip_rows=20)
    x, y = UTM_TRANSFORM @ (6.5, 6.5)
    lon, lat = Transformer.from_crs(32620, 4326, always_xy=True).transform(x, y)
    assert raft.lon == pytest.approx(lon) and raft.lat == pytest.approx(lat)


def test_filament_length_follows_a_curve():
    """An L-shaped filament is as long as its two arms, not its end-to-end distance."""
    mask = np.zeros((100, 100), dtype=bool)
    mask[10, 10:90] = True
    mask[10:90, 89] = True
    length = filament_length(mask, 20.0, 20.0)
    assert length == pytest.approx((79 + 79) * 20 + 20, rel=0.02)
    assert length > 1.3 * np.hypot(80 * 20, 80 * 20)


def test_lengths_of_many_rafts_at_once_equal_each_alone():
    """One graph holds every raft of a strip: no raft's length may leak into another's (8-connected components)."""
    rng = np.random.default_rng(7)
    mask = rng.random((120, 160)) > 0.8  # speckle: hundreds of rafts, most of a few pixels, some branching
    mask[5, 5:150] = True  # and a long filament touching many of them
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), bool))
    ids = np.arange(1, count + 1)
    steps_x, steps_y = rng.uniform(10, 30, count), rng.uniform(10, 30, count)  # each raft its own pixel size
    together = filament_lengths(labels, ids, steps_x, steps_y)
    alone = [filament_length(labels == i, steps_x[i - 1], steps_y[i - 1]) for i in ids]
    assert count > 100 and together == pytest.approx(alone)
    single = np.flatnonzero(np.bincount(labels.ravel())[1:] == 1)
    assert np.allclose(together[single], np.maximum(steps_x, steps_y)[single])  # one pixel: one pixel long


def test_strips_with_more_rafts_than_int16_holds_are_labelled_in_int32():
    """Labels are int16 for the usual strip and int32 past 32767 rafts, with the same rafts either way."""
    few = np.zeros((3, 1000), bool)
    few[1, ::2] = True
    labels, count = _label(few)
    assert labels.dtype == np.int16 and count == 500 and labels.max() == 500
    many = np.zeros((3, 70_000), bool)
    many[1, ::2] = True
    labels, count = _label(many)
    assert labels.dtype == np.int32 and count == 35_000
    assert np.array_equal(labels, ndimage.label(many, structure=np.ones((3, 3), bool))[0])
