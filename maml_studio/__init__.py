"""MAML Studio: an interactive workbench for model-agnostic meta-learning."""

__version__ = "0.1.0"
