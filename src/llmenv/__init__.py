"""llmenv: a working, reproducible uv environment for an LLM stack, planned for the machine it runs on."""

__version__ = "0.1.0"
__all__ = ["__version__"]
