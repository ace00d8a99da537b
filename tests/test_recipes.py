"""mnistflow.recipes, the torch-free table of what torch accepts of a recipe, against the pinned
torch: a table that drifted from torch fails here, not in a job."""

import inspect

import pytest
import torch

from mnistflow.recipes import OPTIMIZERS, SCHEDULE_ARGUMENTS, UNTRAINABLE, check_recipe, recipe_problem
from mnistflow.train import make_optimizer, make_schedule

TORCH_OPTIMIZERS = {name: cls for name, cls in vars(torch.optim).items()
                    if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer}


def test_the_table_names_every_optimizer_of_torch_and_exactly_its_arguments():
    assert set(OPTIMIZERS) == set(TORCH_OPTIMIZERS)
    for name, cls in TORCH_OPTIMIZERS.items():
        assert set(OPTIMIZERS[name].accepted) == set(inspect.signature(cls).parameters) - {"params"}, name


def numeric_arguments(cls):
    for key, parameter in inspect.signature(cls).parameters.items():
        default = parameter.default
        if key != "params" and isinstance(default, (int, float)) and not isinstance(default, bool):
            yield key


@pytest.mark.parametrize("name", sorted(set(TORCH_OPTIMIZERS) - set(UNTRAINABLE)))
def test_each_negative_value_torch_refuses_the_table_refuses(name):
    weight = torch.nn.Parameter(torch.zeros(1))
    for key in numeric_arguments(TORCH_OPTIMIZERS[name]):
        try:
            TORCH_OPTIMIZERS[name]([weight], **{key: -1.0})
            refused_by_torch = False
        except ValueError:
            refused_by_torch = True
        assert (recipe_problem(name, {key: -1.0}, "constant", {}) is not None) == refused_by_torch, (name, key)
    if OPTIMIZERS[name].betas:
        with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.5"):
            TORCH_OPTIMIZERS[name]([weight], betas=(0.9, 1.5))
        assert recipe_problem(name, {"betas": (0.9, 1.5)}, "constant", {}) == "Invalid beta parameter at index 1: 1.5"


@pytest.mark.parametrize("name", sorted(UNTRAINABLE))
def test_an_optimizer_the_table_calls_untrainable_cannot_take_trainings_step(name):
    model = torch.nn.Linear(3, 2)  # a weight and a bias, as every model has
    with pytest.raises((TypeError, RuntimeError, ValueError)):
        optimizer = make_optimizer(name, model.parameters(), {})
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()


def test_nesterov_without_momentum_is_refused_as_torch_refuses_it():
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero dampening"):
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, nesterov=True)
    assert recipe_problem("SGD", {"lr": 0.1, "nesterov": True}, "constant", {}) == (
        "Nesterov momentum requires a momentum and zero dampening")


@pytest.mark.parametrize("schedule, cls", [("step", torch.optim.lr_scheduler.StepLR),
                                           ("onecycle", torch.optim.lr_scheduler.OneCycleLR)])
def test_each_schedules_arguments_are_torchs_less_what_training_sets(schedule, cls):
    required, optional = SCHEDULE_ARGUMENTS[schedule]
    parameters = inspect.signature(cls).parameters
    set_by_training = {"optimizer", "total_steps", "epochs", "steps_per_epoch"}
    assert set(required) | set(optional) == set(parameters) - set_by_training
    # onecycle's max_lr, which torch requires, training defaults to the optimizer's rate
    assert set(required) == {k for k, p in parameters.items() if p.default is inspect.Parameter.empty} - set_by_training - {
        "max_lr"}
    # what the table takes, torch builds
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    make_schedule(schedule, optimizer, {key: 1 for key in required}, steps_per_epoch=2, epochs=2)


def test_a_refused_recipe_names_its_config_key_and_what_torch_would_say():
    with pytest.raises(ValueError) as error:
        check_recipe({"optimizer": "SGD", "optimizer_kwargs": {"lrr": 0.1}, "schedule": "constant",
                      "schedule_kwargs": {}}, "train.runs.first")
    assert str(error.value) == ("config key train.runs.first: optimizer SGD {'lrr': 0.1}, schedule constant {}: "
                                "SGD.__init__() got an unexpected keyword argument 'lrr'")
    with pytest.raises(TypeError, match="SGD.__init__\\(\\) got an unexpected keyword argument 'lrr'"):
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lrr=0.1)
    check_recipe({"optimizer": "AdamW", "optimizer_kwargs": {"lr": 0.01, "weight_decay": 0.0005},
                  "schedule": "onecycle", "schedule_kwargs": {}}, "train.runs.best")


@pytest.mark.parametrize("optimizer, kwargs, schedule, schedule_kwargs", [
    ("SGD", {"lr": 0.1}, "onecycle", {"pct_start": 1.5}),
    ("SGD", {"lr": 0.1}, "onecycle", {"anneal_strategy": "cosine"}),
    ("Adadelta", {"rho": 1.5}, "constant", {}),
    ("Adam", {"betas": 0.9}, "constant", {}),
])
def test_a_value_torch_refuses_the_table_refuses_before_any_job(optimizer, kwargs, schedule, schedule_kwargs):
    weight = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises((ValueError, TypeError)):
        built = getattr(torch.optim, optimizer)([weight], **kwargs)
        make_schedule(schedule, built, schedule_kwargs, steps_per_epoch=2, epochs=2)
    with pytest.raises(ValueError, match="config key train.runs.first: "):
        check_recipe({"optimizer": optimizer, "optimizer_kwargs": kwargs, "schedule": schedule,
                      "schedule_kwargs": schedule_kwargs}, "train.runs.first")
