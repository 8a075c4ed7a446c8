"""Sensor profiles: the right bands, wavelengths, resolutions and scaling, and band labels resolved as users write them."""

from __future__ import annotations

import pytest

from sargasses.errors import SargassesError
from sargasses.reading.sensors import (
    DEFAULT_BANDS,
    DEFAULT_RESOLUTION_M,
    LANDSAT_OLI,
    OTCI_RGB,
    PROFILES,
    SENTINEL2_L1C,
    SENTINEL2_L2A,
    SENTINEL3_OLCI,
    get_profile,
)


def test_sentinel2_profiles() -> None:
    assert SENTINEL2_L1C.band_names == [
        "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"
    ]  # fmt: skip
    assert "B10" not in SENTINEL2_L2A.band_names  # cirrus is dropped by atmospheric correction
    assert len(SENTINEL2_L2A.bands) == 12
    assert {b.name: b.resolution_m for b in SENTINEL2_L2A.bands if b.resolution_m == 10} == {
        "B02": 10, "B03": 10, "B04": 10, "B08": 10
    }  # fmt: skip
    assert SENTINEL2_L2A.band("B8A").wavelength_nm == 865
    assert SENTINEL2_L2A.band("B11").resolution_m == 20
    assert SENTINEL2_L2A.band("B01").resolution_m == 60
    assert SENTINEL2_L2A.scale == SENTINEL2_L1C.scale == 1e-4
    assert SENTINEL2_L2A.offset == 0  # the -1000 of baseline >= 04.00 comes from each product's metadata
    assert set(DEFAULT_BANDS) <= set(SENTINEL2_L2A.band_names) and DEFAULT_RESOLUTION_M == 20.0


def test_olci_landsat_and_otci_profiles() -> None:
    assert SENTINEL3_OLCI.band_names == [f"Oa{i:02d}" for i in range(1, 22)]
    assert SENTINEL3_OLCI.band("Oa17").wavelength_nm == 865
    assert SENTINEL3_OLCI.band("Oa08").wavelength_nm == 665
    assert {b.resolution_m for b in SENTINEL3_OLCI.bands} == {300}
    assert LANDSAT_OLI.band_names == [f"B{i}" for i in range(1, 8)]
    assert LANDSAT_OLI.band("B5").wavelength_nm == 865 and LANDSAT_OLI.band("B5").resolution_m == 30
    # Collection 2 Level-2: DN 10000 is reflectance 10000 * 2.75e-5 - 0.2 = 0.075.
    assert (10000 + LANDSAT_OLI.offset) * LANDSAT_OLI.scale == pytest.approx(0.075)
    assert OTCI_RGB.band_names == ["red", "green", "blue"]
    assert (OTCI_RGB.scale, OTCI_RGB.offset) == (1.0, 0.0)  # 0-255 taken as float


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("B8A", "B8A"),
        ("b8a", "B8A"),
        ("B8A_865", "B8A"),
        ("B08", "B08"),
        ("B8", "B08"),
        ("b2", "B02"),
        ("B11 (1610 nm)", "B11"),
        ("SR_B4", "B04"),
        ("B10", None),  # not in L2A
        ("B13", None),
        ("QA", None),
        ("", None),
        (None, None),
    ],
)
def test_sentinel2_band_labels(label, expected) -> None:
    assert SENTINEL2_L2A.match_band(label) == expected


def test_other_profiles_band_labels() -> None:
    assert SENTINEL3_OLCI.match_band("Oa17_radiance") == "Oa17"
    assert SENTINEL3_OLCI.match_band("oa8") == "Oa08"
    assert LANDSAT_OLI.match_band("SR_B5") == "B5" and LANDSAT_OLI.exact_match("SR_B5") == "B5"
    assert SENTINEL2_L2A.exact_match("SR_B5") is None  # only a part of it spells a Sentinel-2 band
    assert OTCI_RGB.match_band("Red") == "red" and OTCI_RGB.match_band("B") == "blue"


def test_canonical_band_error_lists_the_profile_bands() -> None:
    assert SENTINEL2_L2A.canonical_band("b8") == "B08"
    with pytest.raises(SargassesError, match=r"has no band 'B10'; its bands are B01, B02"):
        SENTINEL2_L2A.canonical_band("B10")


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("sentinel2_l2a", SENTINEL2_L2A),
        ("Sentinel2-L1C", SENTINEL2_L1C),
        ("Sentinel-2B", SENTINEL2_L2A),
        ("olci", SENTINEL3_OLCI),
        ("landsat9", LANDSAT_OLI),
        ("OTCI RGB", OTCI_RGB),
    ],
)
def test_get_profile(name, profile) -> None:
    assert get_profile(name) is profile


def test_get_profile_error_lists_known_profiles() -> None:
    with pytest.raises(SargassesError) as info:
        get_profile("modis")
    message = str(info.value)
    assert "'modis'" in message
    for known in PROFILES:
        assert known in message
