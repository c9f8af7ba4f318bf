"""Finite-difference grid solvers for the stationary transport equation."""
