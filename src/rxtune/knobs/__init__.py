"""The knob registry: the model (model.py), the declarations by scope, and registry.py."""
