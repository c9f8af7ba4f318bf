"""Figures of the package: results, fields, energy losses, crosschecks and fits."""
