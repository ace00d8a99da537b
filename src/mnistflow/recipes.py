"""What torch accepts of a training recipe, without importing torch: each optimizer's keyword
arguments and the values its constructor refuses, the optimizers whose step training cannot take,
and each schedule's arguments. ``check_config`` checks every run against it before any job, so
that ``snakemake -n`` builds the DAG without torch; tests/test_recipes.py checks this table
against the pinned torch, so a torch upgrade that changes it fails a test rather than a job."""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULES = ("constant", "step", "onecycle")


@dataclass(frozen=True)
class OptimizerArguments:
    accepted: tuple[str, ...]  # keyword arguments besides the parameters
    non_negative: tuple[str, ...] = ()  # those torch refuses below 0
    at_least_one: tuple[str, ...] = ()  # those torch refuses below 1
    at_most_one: tuple[str, ...] = ()  # those torch refuses above 1 (and below 0)
    betas: bool = False  # ``betas``: each in [0, 1)


_ADAM_LIKE = ("lr", "betas", "eps", "weight_decay")
_COMMON = ("foreach", "maximize", "capturable", "differentiable")

# torch.optim of torch 2.14.1, every optimizer class
OPTIMIZERS = {
    "ASGD": OptimizerArguments(("lr", "lambd", "alpha", "t0", "weight_decay", *_COMMON), ("lr", "weight_decay")),
    "Adadelta": OptimizerArguments(("lr", "rho", "eps", "weight_decay", *_COMMON),
                                   ("lr", "rho", "eps", "weight_decay"), at_most_one=("rho",)),
    "Adafactor": OptimizerArguments(("lr", "beta2_decay", "eps", "d", "weight_decay", "foreach", "maximize"),
                                    ("lr", "weight_decay"), at_least_one=("d",)),
    "Adagrad": OptimizerArguments(("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "foreach",
                                   "maximize", "differentiable", "fused"),
                                  ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")),
    "Adam": OptimizerArguments((*_ADAM_LIKE, "amsgrad", *_COMMON, "fused", "decoupled_weight_decay"),
                               ("lr", "eps", "weight_decay"), betas=True),
    "AdamW": OptimizerArguments((*_ADAM_LIKE, "amsgrad", *_COMMON, "fused"), ("lr", "eps", "weight_decay"), betas=True),
    "Adamax": OptimizerArguments((*_ADAM_LIKE, *_COMMON), ("lr", "eps", "weight_decay"), betas=True),
    "LBFGS": OptimizerArguments(("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change", "history_size",
                                 "line_search_fn", "maximize"), ("lr",)),
    "Muon": OptimizerArguments(("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps", "ns_steps",
                                "adjust_lr_fn"), ("lr", "weight_decay", "momentum")),
    "NAdam": OptimizerArguments((*_ADAM_LIKE, "momentum_decay", "decoupled_weight_decay", *_COMMON),
                                ("lr", "eps", "weight_decay", "momentum_decay"), betas=True),
    "RAdam": OptimizerArguments((*_ADAM_LIKE, "decoupled_weight_decay", *_COMMON), ("lr", "eps", "weight_decay"),
                                betas=True),
    "RMSprop": OptimizerArguments(("lr", "alpha", "eps", "weight_decay", "momentum", "centered", *_COMMON),
                                  ("lr", "alpha", "eps", "weight_decay", "momentum")),
    "Rprop": OptimizerArguments(("lr", "etas", "step_sizes", *_COMMON), ("lr",)),
    "SGD": OptimizerArguments(("lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize", "foreach",
                               "differentiable", "fused"), ("lr", "momentum", "weight_decay")),
    "SparseAdam": OptimizerArguments(("lr", "betas", "eps", "maximize"), ("lr", "eps"), betas=True),
}

# optimizers torch builds but whose step the training loop cannot take, with torch's own words
UNTRAINABLE = {
    "LBFGS": "LBFGS.step() missing 1 required positional argument: 'closure'",
    "SparseAdam": "SparseAdam does not support dense gradients, please consider Adam instead",
    "Muon": "Muon only supports 2D parameters (the models' biases and convolutions are not)",
}

# schedule -> (its required arguments, its optional ones); training sets the optimizer and the
# step counts itself, and onecycle's max_lr defaults to the optimizer's rate
SCHEDULE_ARGUMENTS = {
    "constant": ((), ()),
    "step": (("step_size",), ("gamma", "last_epoch")),
    "onecycle": ((), ("max_lr", "pct_start", "anneal_strategy", "cycle_momentum", "base_momentum", "max_momentum",
                      "div_factor", "final_div_factor", "three_phase", "last_epoch")),
}
_SCHEDULE_CLASSES = {"step": "StepLR", "onecycle": "OneCycleLR"}
ANNEAL_STRATEGIES = ("cos", "linear")  # onecycle's anneal_strategy


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def recipe_problem(optimizer: str, optimizer_kwargs: dict, schedule: str, schedule_kwargs: dict) -> str | None:
    """Why torch would refuse this recipe, in torch's words where it has them; None if it would not
    (as far as the table knows: torch's own check still stops the job on anything else)."""
    arguments = OPTIMIZERS.get(optimizer)
    if arguments is None:
        return f"unknown optimizer {optimizer!r}: not a class in torch.optim"
    for key, value in optimizer_kwargs.items():
        if key not in arguments.accepted:
            return f"{optimizer}.__init__() got an unexpected keyword argument {key!r}"
        if key in arguments.non_negative and isinstance(value, (int, float)) and value < 0:
            return f"Invalid {key} value: {value} ({optimizer} takes {key} >= 0)"
        if key in arguments.at_least_one and isinstance(value, (int, float)) and value < 1:
            return f"Invalid {key} value: {value} ({optimizer} takes {key} >= 1)"
        if key in arguments.at_most_one and _number(value) and not 0 <= value <= 1:
            return f"Invalid {key} value: {value} ({optimizer} takes {key} from 0 to 1)"
    if arguments.betas and "betas" in optimizer_kwargs:
        betas = optimizer_kwargs["betas"]
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(_number(b) for b in betas)):
            return f"betas must be a pair of numbers, not {betas!r}"
        for index, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                return f"Invalid beta parameter at index {index}: {beta}"
    if optimizer == "SGD" and optimizer_kwargs.get("nesterov") and (
            optimizer_kwargs.get("momentum", 0) <= 0 or optimizer_kwargs.get("dampening", 0) != 0):
        return "Nesterov momentum requires a momentum and zero dampening"
    if optimizer in UNTRAINABLE:
        return UNTRAINABLE[optimizer]
    if schedule not in SCHEDULE_ARGUMENTS:
        return f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}"
    required, optional = SCHEDULE_ARGUMENTS[schedule]
    for key in schedule_kwargs:
        if key not in required + optional:
            return f"{_SCHEDULE_CLASSES.get(schedule, schedule)}.__init__() got an unexpected keyword argument {key!r}"
    missing = [key for key in required if key not in schedule_kwargs]
    if missing:
        return (f"{_SCHEDULE_CLASSES[schedule]}.__init__() missing {len(missing)} required positional argument"
                f"{'s' if len(missing) > 1 else ''}: {', '.join(repr(k) for k in missing)}")
    pct_start = schedule_kwargs.get("pct_start", 0.3)
    if schedule == "onecycle" and not (_number(pct_start) and 0 <= pct_start <= 1):
        return f"Expected float between 0 and 1 pct_start, but got {pct_start}"
    if schedule == "onecycle" and schedule_kwargs.get("anneal_strategy", "cos") not in ANNEAL_STRATEGIES:
        return (f"anneal_strategy must be one of 'cos' or 'linear', instead got "
                f"{schedule_kwargs['anneal_strategy']}")
    return None


def check_recipe(settings: dict, where: str) -> None:
    """Stop a run's recipe that torch would refuse (an unknown optimizer, ``schedule: step``
    without ``step_size``, a misspelt argument, a negative rate, LBFGS's step wanting a closure,
    SparseAdam's wanting sparse gradients) before any job starts, naming the config key
    ``where``. ``settings``: a run's, as ``TrainConfig`` takes them."""
    optimizer, optimizer_kwargs = settings["optimizer"], dict(settings["optimizer_kwargs"])
    schedule, schedule_kwargs = settings["schedule"], dict(settings["schedule_kwargs"])
    problem = recipe_problem(optimizer, optimizer_kwargs, schedule, schedule_kwargs)
    if problem is not None:
        raise ValueError(f"config key {where}: optimizer {optimizer} {optimizer_kwargs}, schedule "
                         f"{schedule} {schedule_kwargs}: {problem}")
