"""The catalogue's one date-time form, whoever writes it: the product name's sensing time, a STAC item's RFC 3339
date-time in any offset, a summary's date, the time a row was written."""

from __future__ import annotations

import datetime as dt

from sargasses.monitor.gpkg_time import gpkg_datetime, now_gpkg, parse_gpkg_datetime
from sargasses.monitor.scene_task import acquisition_datetime


def test_every_writer_spells_a_date_time_alike():
    assert acquisition_datetime("S2A_MSIL2A_20230616T145528_N0509_R039_T20QKD", None) == "2023-06-16T14:55:28.000Z"
    assert acquisition_datetime(None, "2023-06-16") == "2023-06-16T00:00:00.000Z"
    assert parse_gpkg_datetime("2023-06-16T16:55:28.123456+02:00") == "2023-06-16T14:55:28.123Z"
    assert parse_gpkg_datetime("2023-06-16T14:55:28Z") == "2023-06-16T14:55:28.000Z"
    assert parse_gpkg_datetime("") is None and acquisition_datetime(None, None) is None
    assert gpkg_datetime(dt.datetime(2023, 6, 16, 14, 55, 28, 999999)) == "2023-06-16T14:55:28.999Z"


def test_the_time_written_is_utc_now():
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    written = dt.datetime.fromisoformat(now_gpkg().replace("Z", "+00:00"))
    assert before <= written <= dt.datetime.now(dt.timezone.utc)
