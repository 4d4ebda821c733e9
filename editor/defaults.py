"""Default values that several layers share (the model, the edit document, the CLI, the GUI), written once.

Utilities layer: imports nothing, so every layer may read it.
"""

# Truncation ψ of a new face: 0 is the average face, 1 the model's full variety. 0.7 keeps faces varied
# while staying clear of the artefacts of the distribution's rare tails.
DEFAULT_PSI = 0.7

# How a synthesis network's noise inputs are fed: the model's stored maps, fresh random maps, or zeros.
NOISE_MODES = ("const", "random", "off")
