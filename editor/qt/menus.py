"""The main window's menus: every action, its keys and status tip, in one place."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from .animation_dialog import open_animation_dialog
from .variations import open_variations


def redo_shortcuts() -> list[QKeySequence]:
    """The platform's Redo keys plus the other platforms' (Ctrl+Y, Ctrl+Shift+Z), each once: a key bound
    twice to one action is an "ambiguous shortcut" to Qt, and then it does nothing."""
    keys: dict[str, QKeySequence] = {}
    for k in [*QKeySequence.keyBindings(QKeySequence.Redo), QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]:
        if not k.isEmpty():
            keys.setdefault(k.toString(QKeySequence.PortableText), k)
    return list(keys.values())


def build_menus(w) -> None:
    f, doc = w.files, w.doc

    def act(menu, text, slot, shortcut=None, tip=""):
        a = QAction(text, w)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    m = w.menuBar().addMenu("&File")
    act(m, "&Open edit or session…", f.open_dialog, QKeySequence.Open, "Open an exported image or a session")
    act(m, "Open &model…", f.open_model_dialog, "Ctrl+Shift+O", "Load a .pkl, .pt or .safetensors generator")
    act(m, "Load st&yle model for blending…", w.blend.load_dialog, None,
        "A second model of the same architecture (e.g. MetFaces) for the fine layers")
    act(m, "&Import photo…", w.photos.open_dialog, "Ctrl+I",
        "Turn a face photo into a latent (on this machine; the photo is never written)")
    act(m, "&Forget photo", w.photos.forget, None,
        "Replace photo sources with seeds and delete their tuned-weight files beside saved sessions")
    w.recent_menu = m.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(f.fill_recent_menu)
    m.addSeparator()
    act(m, "&Export image…", f.export_dialog, "Ctrl+E", "PNG / JPEG / WebP with the edit embedded")
    act(m, "&Save session…", f.save_session_dialog, QKeySequence.Save)
    act(m, "Save &latent (w+)…", f.save_latent_dialog, "Ctrl+Shift+S", "NVIDIA projected_w.npz layout")
    act(m, "Export &animation…", lambda: open_animation_dialog(w), "Ctrl+Shift+E",
        "Morph, sweep, seed walk or noise loop to MP4 or GIF, rendered beside the editing")
    act(m, "&Copy image", f.copy_image, QKeySequence.Copy)
    m.addSeparator()
    act(m, "&Quit", w.close, QKeySequence.Quit)

    m = w.menuBar().addMenu("&Edit")
    undo = doc.undo_stack.createUndoAction(w, "&Undo")
    undo.setShortcut(QKeySequence.Undo)
    redo = doc.undo_stack.createRedoAction(w, "&Redo")
    redo.setShortcuts(redo_shortcuts())
    m.addAction(undo)
    m.addAction(redo)
    m.addSeparator()
    act(m, "S&wap A and B", lambda: doc.set_state(doc.state.swapped(), "Swap A/B"), "X")
    act(m, "Random &A", w.source_a.random_button.click, "R")
    act(m, "Random &B", w.source_b.random_button.click, "Shift+R")
    act(m, "Reset &mixing", lambda: doc.set_state(doc.state.with_group_mix(range(w.gen.num_ws), 0.0),
                                                   "Reset mixing"), "Ctrl+M")
    act(m, "&Variations…", lambda: open_variations(w), "Ctrl+Shift+V",
        "Eight children around this face: click one to adopt it")
    act(m, "Reset &directions", lambda: doc.set_state(doc.state.without_directions(), "Reset directions"),
        "Ctrl+D")

    m = w.menuBar().addMenu("&Directions")
    act(m, "&Fit age, gender, freckles, smile and yaw for this model…", w.fit_runner.start, None,
        "Sample, render and score faces, then fit the directions (a few minutes)")
    act(m, "Import &InterFaceGAN boundary…", f.import_direction_dialog)
    act(m, "Import &GANSpace components…", f.import_ganspace_dialog)

    m = w.menuBar().addMenu("&View")
    act(m, "&Fit to window", w.view.fit, "F")
    act(m, "&Actual pixels", w.view.actual_pixels, "1")
    compare = act(m, "&Compare with A unedited", w.show_before, "\\",
                  "Show face A as it is before mixing, directions and paint (toggle; any edit returns to the result)")
    compare.setCheckable(True)
    w.compare_action = compare
    m.addAction(w.gallery_dock.toggleViewAction())
    shown = w.settings.value("view/meters", True, type=bool)  # as the user left it
    meters = QAction("&Meters", w, checkable=True, checked=shown)
    meters.setStatusTip("The line of read-outs under the face (age, P(male), smile, yaw, identity); "
                        "locks keep working while it is hidden")
    w.meters.setVisible(shown)
    meters.toggled.connect(w.meters.setVisible)
    meters.toggled.connect(lambda on: w.settings.setValue("view/meters", on))
    m.addAction(meters)

