"""Sweeps: W&B sweep YAML, run by a local Optuna driver (default) or by W&B's own agent."""
