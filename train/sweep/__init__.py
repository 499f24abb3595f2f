"""Sweeps: W&B sweep YAML, run by a local Optuna engine (default) or by W&B's own agent."""
