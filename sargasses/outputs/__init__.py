"""What a run writes: polygons, the probability GeoTIFF, the quicklook and the summary, checked first and committed as one set."""
