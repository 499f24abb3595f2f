"""W&B sweep YAML, validated, and its mapping onto Optuna.

The same file drives `wandb.sweep` and our local driver, so we accept W&B's keys and say
exactly which key is wrong and why when a file does not fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lenet_deploy.errors import LenetError
from lenet_deploy.train.config import TrainConfig, make_config
from lenet_deploy.yaml_file import read_yaml

METHODS = ("random", "grid", "bayes")
GOALS = ("maximize", "minimize")
METRICS = ("val_accuracy", "val_loss", "accuracy", "loss")
TOP_KEYS = {"method", "metric", "parameters", "early_terminate", "name", "description", "program", "project",
            "entity", "command", "run_cap"}
PARAM_KEYS = {"value", "values", "min", "max", "distribution", "q", "probabilities"}
DISTRIBUTIONS = ("constant", "categorical", "int_uniform", "uniform", "q_uniform", "log_uniform_values",
                 "q_log_uniform_values")
# W&B sweep parameter names of sweeps/seed.yaml that differ from TrainConfig's.
ALIASES = {"conv_layer": "conv_layers"}
TRAIN_KEYS = {f for f in TrainConfig.__dataclass_fields__}


@dataclass(frozen=True)
class Param:
    name: str  # TrainConfig field
    distribution: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    q: float | None = None

    def decode(self, value: Any) -> Any:
        """Optuna stores only scalars: list choices (e.g. dense sizes) travel as JSON text."""
        if self.distribution == "categorical" and any(isinstance(v, list) for v in self.values):
            return json.loads(value)
        return value


def _optuna_choice(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, list) else value


@dataclass(frozen=True)
class Hyperband:
    min_iter: int
    eta: int = 3


@dataclass(frozen=True)
class SweepSpec:
    method: str
    metric: str
    goal: str
    params: tuple[Param, ...]
    fixed: dict[str, Any] = field(default_factory=dict)
    hyperband: Hyperband | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def max_epochs(spec: SweepSpec, cap: int | None = None) -> int:
    """The most epochs any trial of `spec` trains (Hyperband's largest resource)."""
    swept = [p for p in spec.params if p.name == "epochs"]
    most = (max(swept[0].values or (swept[0].high,)) if swept
            else spec.fixed.get("epochs", TrainConfig.epochs))
    return min(int(most), cap) if cap else int(most)


def load_spec(path: Path) -> SweepSpec:
    return parse_spec(read_yaml(path), str(path))


def parse_spec(raw: Any, where: str = "sweep") -> SweepSpec:
    def bad(key: str, why: str) -> LenetError:
        return LenetError(f"{where}: {key}: {why}")

    if not isinstance(raw, dict):
        raise LenetError(f"{where}: a sweep config is a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key (known: {', '.join(sorted(TOP_KEYS))})")
    method = raw.get("method")
    if method not in METHODS:
        raise bad("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    metric = raw.get("metric")
    if not isinstance(metric, dict):
        raise bad("metric", "needs a mapping with name and goal")
    if metric.get("name") not in METRICS:
        raise bad("metric.name", f"must be one of {', '.join(METRICS)} (never a test-set metric), "
                                 f"got {metric.get('name')!r}")
    goal = metric.get("goal", "maximize")
    if goal not in GOALS:
        raise bad("metric.goal", f"must be maximize or minimize, got {goal!r}")
    parameters = raw.get("parameters")
    if not isinstance(parameters, dict) or not parameters:
        raise bad("parameters", "needs a non-empty mapping of parameter names")
    params, fixed = [], {}
    for name, body in parameters.items():
        param = _parse_param(name, body, bad)
        if param.distribution == "constant":
            fixed[param.name] = param.values[0]
        else:
            params.append(param)
    if method == "grid":
        for param in params:
            if param.distribution not in ("categorical", "int_uniform"):
                raise bad(f"parameters.{param.name}", f"grid search needs listed values or int_uniform, "
                                                      f"not {param.distribution}")
    return SweepSpec(method=method, metric=metric["name"], goal=goal, params=tuple(params), fixed=fixed,
                     hyperband=_parse_hyperband(raw.get("early_terminate"), bad), raw=raw)


def _parse_param(name: Any, body: Any, bad) -> Param:
    key = f"parameters.{name}"
    field_name = ALIASES.get(name, name)
    if field_name not in TRAIN_KEYS:
        raise bad(key, f"not a training setting (known: {', '.join(sorted(TRAIN_KEYS | set(ALIASES)))})")
    if not isinstance(body, dict):
        raise bad(key, "needs a mapping such as {values: [...]} or {min: .., max: ..}")
    unknown = sorted(set(body) - PARAM_KEYS)
    if unknown:
        raise bad(f"{key}.{unknown[0]}", f"unknown key (known: {', '.join(sorted(PARAM_KEYS))})")
    if "value" in body:
        return _checked(Param(field_name, "constant", (body["value"],)), key, bad)
    if "values" in body:
        values = body["values"]
        if not isinstance(values, list):
            raise bad(f"{key}.values", f"must be a list, got {type(values).__name__}")
        if not values:
            raise bad(f"{key}.values", "is empty")
        return _checked(Param(field_name, "categorical", tuple(values)), key, bad)
    if "min" not in body or "max" not in body:
        raise bad(key, "needs value, values, or min and max")
    low, high = body["min"], body["max"]
    for bound, number in (("min", low), ("max", high)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise bad(f"{key}.{bound}", f"must be a number, got {number!r}")
    if low > high:
        raise bad(key, f"min {low} > max {high}")
    default = "int_uniform" if isinstance(low, int) and isinstance(high, int) else "uniform"
    distribution = body.get("distribution", default)
    if distribution not in DISTRIBUTIONS or distribution in ("constant", "categorical"):
        raise bad(f"{key}.distribution", f"unknown or unsupported here: {distribution!r} (supported with min/max: "
                                         "int_uniform, uniform, q_uniform, log_uniform_values)")
    if distribution == "q_log_uniform_values":
        raise bad(f"{key}.distribution", "q_log_uniform_values has no Optuna equivalent; use log_uniform_values")
    if distribution == "int_uniform" and not (isinstance(low, int) and isinstance(high, int)):
        raise bad(key, "int_uniform needs integer min and max")
    if distribution == "log_uniform_values" and low <= 0:
        raise bad(f"{key}.min", "log_uniform_values needs min > 0")
    q = body.get("q")
    if distribution == "q_uniform":
        q = 1.0 if q is None else q
        if isinstance(q, bool) or not isinstance(q, (int, float)) or q <= 0:
            raise bad(f"{key}.q", f"must be a positive number, got {q!r}")
    return _checked(Param(field_name, distribution, low=low, high=high, q=q), key, bad)


# Settings whose every value can be checked on its own (the per-layer ones depend on conv_layers).
SELF_CONTAINED = ("conv_layers", "activation", "pooling", "dropout", "learn_rate", "lr_schedule", "batch_size",
                  "epochs", "augment_shift")


def _checked(param: Param, key: str, bad) -> Param:
    """Every listed value (or both ends of a range) must be a valid setting: no trial is spent finding out."""
    if param.name in SELF_CONTAINED:
        for value in param.values or (param.low, param.high):
            try:
                make_config({param.name: value})
            except LenetError as exc:
                raise bad(key, str(exc).split(": ", 1)[1]) from None
    return param


def _parse_hyperband(body: Any, bad) -> Hyperband | None:
    if body is None:
        return None
    if not isinstance(body, dict) or body.get("type") != "hyperband":
        raise bad("early_terminate", "only {type: hyperband, min_iter: N[, eta: M]} is supported")
    unknown = sorted(set(body) - {"type", "min_iter", "max_iter", "eta", "s", "strict"})
    if unknown:
        raise bad(f"early_terminate.{unknown[0]}", "unknown key")
    min_iter = body.get("min_iter", 1 if "max_iter" in body else None)
    eta = body.get("eta", 3)
    for name, value, lo in (("min_iter", min_iter, 1), ("eta", eta, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise bad(f"early_terminate.{name}", f"must be an integer >= {lo}, got {value!r}")
    return Hyperband(min_iter=min_iter, eta=eta)


def optuna_distributions(spec: SweepSpec) -> dict[str, Any]:
    """Each swept parameter as the Optuna distribution that samples what W&B would."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for p in spec.params:
        if p.distribution == "categorical":
            out[p.name] = CategoricalDistribution([_optuna_choice(v) for v in p.values])
        elif p.distribution == "int_uniform":
            out[p.name] = IntDistribution(int(p.low), int(p.high))
        elif p.distribution == "uniform":
            out[p.name] = FloatDistribution(p.low, p.high)
        elif p.distribution == "q_uniform":
            out[p.name] = FloatDistribution(p.low, p.high, step=p.q)
        elif p.distribution == "log_uniform_values":
            out[p.name] = FloatDistribution(p.low, p.high, log=True)
    return out


def grid_space(spec: SweepSpec) -> dict[str, list]:
    """Every value of every parameter, for Optuna's GridSampler."""
    return {p.name: [_optuna_choice(v) for v in p.values] if p.distribution == "categorical"
            else list(range(int(p.low), int(p.high) + 1)) for p in spec.params}


def grid_size(spec: SweepSpec) -> int:
    size = 1
    for values in grid_space(spec).values():
        size *= len(values)
    return size
