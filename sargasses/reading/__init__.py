"""Reading scenes and labels: any raster, Sentinel-2 .SAFE, sensor profiles, and what cannot hold a raft."""
