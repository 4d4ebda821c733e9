"""The lab beside the editor package: benchmarks, direction fitting, calibration and evaluation.

Not shipped: run from a source checkout with the editor's own environment, as `python -m editor bench`,
`python -m editor directions fit`, ... (editor.devtools dispatches here) or directly, e.g. `python -m tools.bench`.
tools may import editor; editor imports tools only through editor.devtools."""

FACE_EDITOR_LAB = True  # editor.devtools checks this, so an unrelated `tools` package on sys.path is not taken
