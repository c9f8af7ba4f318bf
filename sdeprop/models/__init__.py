"""Physics models: magnetic field, diffusion tensor, energy losses and sources.

Each model has two layers: a Python builder that turns the validated configuration
into plain parameter arrays (internal units), and ``@njit`` functions over those
arrays that the transport kernel calls.  Models are selected by integer tags.
"""
