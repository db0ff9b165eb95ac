"""The planner (being replaced by a search over whole stacks; see extensions.py for the option interface)."""

from llmenv.plan._legacy import (
    TORCH_FAMILY,
    Choice,
    Plan,
    Rejection,
    TorchOption,
    lazy_pins,
    make_plan,
    plan_torch,
    torch_options,
)

__all__ = [
    "TORCH_FAMILY",
    "Choice",
    "Plan",
    "Rejection",
    "TorchOption",
    "lazy_pins",
    "make_plan",
    "plan_torch",
    "torch_options",
]
