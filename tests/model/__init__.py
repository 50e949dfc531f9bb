"""Tests of the model package (FSENet, BSPG, PSSC, losses)."""
