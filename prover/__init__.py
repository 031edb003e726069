"""Springtail: a self-improving theorem prover."""
