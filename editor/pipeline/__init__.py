"""The pipeline layer: the one render function (`render_edit`) and the Qt-free render scheduler.

Everything that makes pixels of an edit (the app's view, `render`, `batch`, `animate`, exports, direction
evaluation, benches) calls `render_edit`; nothing else runs the generator on an edit.
"""

from .render import RenderError, render_edit, render_with_wplus, shrink

__all__ = ["RenderError", "render_edit", "render_with_wplus", "shrink"]
