"""NetCDF-4 files read through HDF5 (a NetCDF-4 file is an HDF5 file), their variables decoded the CF way.

h5py rather than GDAL: GDAL's netCDF driver shows a variable without map coordinates bottom-up, and the arrays
here must come out as stored. Decoding: _FillValue is missing (NaN), then value * scale_factor + add_offset, then
10 ** value where the variable says `log10_scaled` (as some Sentinel-3 Level-2 variables do).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sargasses.errors import SargassesError


class NetcdfFile:
    """One NetCDF-4 file of a product, read through HDF5 (a NetCDF-4 file is an HDF5 file)."""

    def __init__(self, path: Path, where: str) -> None:
        import h5py

        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise SargassesError(
                f"{path.name} of {where} is not a NetCDF-4 file ({exc}); the product may be damaged. Download it again."
            ) from None
        self.name = path.name

    def attribute(self, name: str, variable: str | None = None, default=None):
        attrs = (self._file[variable] if variable else self._file).attrs
        if name not in attrs:
            return default
        value = attrs[name]
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, np.ndarray) and value.size == 1:
            return value.reshape(()).item()
        return value

    def shape(self, variable: str) -> tuple[int, ...]:
        return tuple(self._variable(variable).shape)

    def raw(self, variable: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """The stored numbers of a 2-D variable's block, undecoded (flags, detector indexes)."""
        return self._variable(variable)[rows, cols]

    def decoded(self, variable: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """A 2-D variable's block as float32 physical values, NaN where _FillValue."""
        data = self.raw(variable, rows, cols) if self._variable(variable).ndim == 2 else self._variable(variable)[()]
        return decode(data, self._attributes(variable))

    def _attributes(self, variable: str) -> dict:
        return {k: self.attribute(k, variable) for k in self._variable(variable).attrs}

    def _variable(self, variable: str):
        if variable not in self._file:
            raise SargassesError(
                f"{self.name} has no variable {variable}; the product may be from an unknown version or "
                "damaged. Download it again."
            )
        return self._file[variable]

    def flag_masks(self, variable: str) -> dict[str, int]:
        """Flag name -> bit mask, from the variable's CF flag_masks and flag_meanings."""
        meanings = str(self.attribute("flag_meanings", variable, "")).split()
        masks = np.atleast_1d(self._variable(variable).attrs.get("flag_masks", []))
        return {name: int(mask) for name, mask in zip(meanings, masks, strict=False)}

    def close(self) -> None:
        self._file.close()


def decode(data: np.ndarray, attrs: dict) -> np.ndarray:
    """CF decoding: _FillValue -> NaN, then value * scale_factor + add_offset, then 10 ** value if log10_scaled."""
    out = data.astype(np.float32)
    fill = attrs.get("_FillValue")
    if fill is not None:
        out[data == np.asarray(fill, dtype=data.dtype)] = np.nan
    scale, offset = attrs.get("scale_factor"), attrs.get("add_offset")
    if scale is not None:
        out *= np.float32(scale)
    if offset is not None:
        out += np.float32(offset)
    if str(attrs.get("log10_scaled", "")).lower() == "true":
        np.power(np.float32(10.0), out, out=out)
    return out
