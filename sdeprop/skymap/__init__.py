"""Sky maps: line-of-sight integration of emissivities into HEALPix and plate-carrée maps."""
