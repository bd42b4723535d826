"""The Cellpose algorithm as a plain Python/PyTorch library (no Django).

See docs/engine.md for the modules and their contracts.
"""
