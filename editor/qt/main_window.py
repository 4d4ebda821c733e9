"""The main window: face view in the middle, controls on the right, gallery on the left.

Data flows one way: control -> Document (new EditState) -> RenderRequest -> RenderWorker -> stamped
RenderResult -> view. While a slider is held the worker renders the preview size; once input rests
(or the slider is released) it renders full resolution.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QDockWidget, QGroupBox, QLabel, QMainWindow, QMessageBox, QScrollArea, QVBoxLayout,
                               QWidget)

from ..directions import load_library
from ..edit import EditState, Source
from ..render import PREVIEW_SIZE, RenderRequest, RenderResult, render
from .direction_tools import FitDirectionsRunner, SefaPanel, TeachPanel
from .document import Document
from .files import FileActions
from .gallery import Gallery
from .photo_import import PhotoImporter
from .blend_panel import BlendPanel
from .meters import MeterPanel
from .panels import AdjustPanel, DirectionsPanel, MixPanel, ModelInfo, PaintPanel, SourcePanel
from .render_worker import RenderWorker
from .viewer import FaceView, RenderTimePlot

REST_MS = 200  # input counts as resting after this long without a change
PREVIEW_BUDGET_MS = 80  # drag previews must keep up >= 10 per second with GUI work on top
GALLERY_SIZE = 256
GALLERY_CHUNK = 3  # thumbnails a render request


def redo_shortcuts() -> list[QKeySequence]:
    """The platform's Redo keys plus the other platforms' (Ctrl+Y, Ctrl+Shift+Z), each once: a key bound
    twice to one action is an "ambiguous shortcut" to Qt, and then it does nothing."""
    keys: dict[str, QKeySequence] = {}
    for k in [*QKeySequence.keyBindings(QKeySequence.Redo), QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]:
        if not k.isEmpty():
            keys.setdefault(k.toString(QKeySequence.PortableText), k)
    return list(keys.values())


class MainWindow(QMainWindow):
    full_render_shown = Signal(object)  # RenderResult, once a full-resolution image is on screen
    full_render_failed = Signal(str)    # the error of a full render of the current edit

    def __init__(self, gen, state: EditState | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("Face editor")
        self.settings = settings or QSettings("face-editor", "face-editor")
        self.gen = gen
        self.info = ModelInfo.of(gen)
        self.library_dirs, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        self.sefa_dirs: dict = {}
        self.directions = dict(self.library_dirs)
        self.doc = Document(state or EditState.new(gen.fingerprint, gen.num_ws, seed_a=0, seed_b=1))
        self._stamps = itertools.count(1)
        self._shown_stamp = 0
        self._preview_ms: dict[int, float] = {}  # running mean render time per preview size
        self._jobs: dict = {}  # stamp -> (job name, callback(value, error))
        self.last_full: RenderResult | None = None
        self._last_full_request = None  # (state, None) of the newest full render asked for
        self._gallery_page = {"seeds": (), "images": []}  # the page being rendered, chunk by chunk
        self.blend_gen = None  # a blended generator the face is rendered with (BlendPanel), or None
        self.worker = RenderWorker(self._render_fn())
        self.worker.rendered.connect(self._on_rendered)
        self._rest = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest.timeout.connect(lambda: self._request(full=True))

        self.view = FaceView(gen.resolution)
        self.setCentralWidget(self.view)
        self._build_controls()
        self._build_gallery()
        self._build_status()
        self.files = FileActions(self)
        self.photos = PhotoImporter(self)
        self._build_menus()
        self.setAcceptDrops(True)
        self.doc.changed.connect(self._on_state)
        self.doc.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._sync(self.doc.state)
        self._request(full=True)
        self.gallery.show_page(0)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)

    # ---------------------------------------------------------------------------------- building
    def _render_fn(self):
        gen, blended, directions = self.gen, self.blend_gen, self.directions
        # Only the face on screen is blended: thumbnails pick identities, jobs (projection, SeFa,
        # teaching) work in the base model's latent space.
        return lambda request: render(blended if blended is not None and request.kind == "view" else gen,
                                      request, directions)

    def _refresh_render_fn(self) -> None:
        """New model, blend or directions: the same edit may now render differently."""
        self.worker.set_render_fn(self._render_fn())
        self._last_full_request = None

    def _build_controls(self) -> None:
        box = QWidget()
        layout = QVBoxLayout(box)
        self.source_a, self.source_b = SourcePanel("a", self.doc), SourcePanel("b", self.doc)
        self.mix = MixPanel(self.doc, self.info)
        self.adjust = AdjustPanel(self.doc)
        self.paint = PaintPanel(self.doc)
        self.blend = BlendPanel(self)
        self.directions_panel = DirectionsPanel(self.doc)
        self.directions_panel.set_directions(self.library_dirs)
        self.meters = MeterPanel()
        self.full_render_shown.connect(self.meters.measure)
        self.sefa = SefaPanel(self)
        self.sefa.directions_changed.connect(self._set_sefa)
        self.teach = TeachPanel(self)
        self.fit_runner = FitDirectionsRunner(self)
        for w in (self.source_a, self.source_b, self.mix, self.adjust, self.directions_panel, self.meters,
                  self.paint, self.blend, self.sefa, self.teach):
            layout.addWidget(w)
        layout.addStretch(1)
        self.plot = RenderTimePlot()
        timing = QGroupBox("Render time (ms)")
        QVBoxLayout(timing).addWidget(self.plot)
        layout.addWidget(timing)
        scroll = QScrollArea()
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(440)
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)

    def _build_gallery(self) -> None:
        self.gallery = Gallery()
        self.gallery.picked.connect(self._pick_from_gallery)
        self.gallery.page_requested.connect(self._request_gallery)
        self.gallery_dock = QDockWidget("Gallery", self)
        self.gallery_dock.setObjectName("gallery")
        self.gallery_dock.setWidget(self.gallery)
        self.addDockWidget(Qt.LeftDockWidgetArea, self.gallery_dock)

    def _build_status(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel()
        self.ms_label = QLabel("—")
        self.ms_label.setMinimumWidth(150)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.ms_label)
        self._update_model_label()

    def _update_model_label(self) -> None:
        i = self.info
        blended = f" + {self.blend_gen.info['blended_with']}" if self.blend_gen is not None else ""
        self.model_label.setText(f"{i.name}{blended} · {self.gen.resolution}² · {i.device} {i.dtype}")
        self.model_label.setToolTip(f"fingerprint {i.fingerprint}")

    def _build_menus(self) -> None:
        f, doc = self.files, self.doc

        def act(menu, text, slot, shortcut=None, tip=""):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        act(m, "&Open edit or session…", f.open_dialog, QKeySequence.Open, "Open an exported image or a session")
        act(m, "Open &model…", f.open_model_dialog, "Ctrl+Shift+O", "Load a .pkl, .pt or .safetensors generator")
        act(m, "Load st&yle model for blending…", self.blend.load_dialog, None,
            "A second model of the same architecture (e.g. MetFaces) for the fine layers")
        act(m, "&Import photo…", self.photos.open_dialog, "Ctrl+I",
            "Turn a face photo into a latent (on this machine; the photo is never written)")
        act(m, "&Forget photo", self.photos.forget, None,
            "Replace photo sources with seeds and delete their tuned-weight files beside saved sessions")
        self.recent_menu = m.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(f.fill_recent_menu)
        m.addSeparator()
        act(m, "&Export image…", f.export_dialog, "Ctrl+E", "PNG / JPEG / WebP with the edit embedded")
        act(m, "&Save session…", f.save_session_dialog, QKeySequence.Save)
        act(m, "Save &latent (w+)…", f.save_latent_dialog, "Ctrl+Shift+S", "NVIDIA projected_w.npz layout")
        act(m, "&Copy image", f.copy_image, QKeySequence.Copy)
        m.addSeparator()
        act(m, "&Quit", self.close, QKeySequence.Quit)

        m = self.menuBar().addMenu("&Edit")
        undo = doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(redo_shortcuts())
        m.addAction(undo)
        m.addAction(redo)
        m.addSeparator()
        act(m, "S&wap A and B", lambda: doc.set_state(doc.state.swapped(), "Swap A/B"), "X")
        act(m, "Random &A", self.source_a.random_button.click, "R")
        act(m, "Random &B", self.source_b.random_button.click, "Shift+R")
        act(m, "Reset &mixing", lambda: doc.set_state(doc.state.with_group_mix(range(self.gen.num_ws), 0.0),
                                                       "Reset mixing"), "Ctrl+M")
        act(m, "Reset &directions", lambda: doc.set_state(doc.state.without_directions(), "Reset directions"),
            "Ctrl+D")

        m = self.menuBar().addMenu("&Directions")
        act(m, "&Fit age, gender and freckles for this model…", self.fit_runner.start, None,
            "Sample, render and score faces, then fit the directions (a few minutes)")
        act(m, "Import &InterFaceGAN boundary…", f.import_direction_dialog)
        act(m, "Import &GANSpace components…", f.import_ganspace_dialog)

        m = self.menuBar().addMenu("&View")
        act(m, "&Fit to window", self.view.fit, "F")
        act(m, "&Actual pixels", self.view.actual_pixels, "1")
        m.addAction(self.gallery_dock.toggleViewAction())

    # ---------------------------------------------------------------------------------- rendering
    def _on_state(self, state: EditState) -> None:
        self._sync(state)
        self._update_title()
        self.files.schedule_autosave()
        if self.doc.dragging:
            self._request(full=False)
            self._rest.start()
        else:
            self._rest.stop()
            self._request(full=True)

    def _request(self, full: bool) -> None:
        size = None if full else self._preview_size()
        key = (self.doc.state, size)
        if size is None and key == self._last_full_request:
            return  # this exact full render is already on screen or on its way (drags render full too)
        self._last_full_request = key if size is None else None
        self.worker.submit(RenderRequest(next(self._stamps), self.doc.state, size))

    def _preview_size(self) -> int | None:
        """The largest *trusted* preview (measured faithful to the full render, editor.model.fidelity)
        whose recent render time fits the budget, else the fastest trusted one. None: no preview is
        faithful enough, so drags render the full image (each frame the face the user will get; the last
        one stays on screen, with the busy sign, until the next is ready)."""
        sizes = sorted((s for s in self.gen.trusted_preview_sizes if s <= PREVIEW_SIZE), reverse=True)
        for s in sizes:
            if self._preview_ms.get(s, 0.0) <= PREVIEW_BUDGET_MS:
                return s
        return sizes[-1] if sizes else None

    def _request_gallery(self, seeds: tuple) -> None:
        self._gallery_page = {"seeds": tuple(seeds), "images": []}
        self._request_gallery_chunk()

    def _request_gallery_chunk(self) -> None:
        """A page renders a few thumbnails at a time: the worker takes the face being edited between
        chunks, so a drag right after start or a page turn never waits for a whole page."""
        page = self._gallery_page
        chunk = page["seeds"][len(page["images"]):len(page["images"]) + GALLERY_CHUNK]
        if chunk:
            size = GALLERY_SIZE if GALLERY_SIZE in self.gen.preview_sizes else None
            self.worker.submit(RenderRequest(next(self._stamps), self.doc.state, size, "gallery", chunk))

    def run_job(self, name: str, job, on_done) -> None:
        """Run job(gen) on the render thread; on_done(value, error) back on the GUI thread."""
        stamp = next(self._stamps)
        self._jobs[stamp] = (name, on_done)
        self.worker.submit(RenderRequest(stamp, self.doc.state, None, f"job:{name}", job=job))

    def _on_rendered(self, result: RenderResult) -> None:
        if result.kind.startswith("job:"):
            name, callback = self._jobs.pop(result.stamp, (None, None))
            # Same-name jobs submitted before this one were replaced unstarted (one thread, in order).
            for stamp in [s for s, (n, _) in self._jobs.items() if n == name and s < result.stamp]:
                del self._jobs[stamp]
            if callback is not None:
                callback(result.value, result.error)
            return
        if result.kind == "gallery":
            page = self._gallery_page
            done = len(page["images"])
            if result.error is None and result.seeds == page["seeds"][done:done + len(result.seeds)]:
                page["images"].extend(result.images)
                self.gallery.set_thumbnails(page["seeds"], page["images"])
                self._request_gallery_chunk()
            return
        if result.stamp < self._shown_stamp or result.state.model_fingerprint != self.gen.fingerprint:
            return  # stale: a newer image is on screen, or it was asked of the previous model
        if result.error:
            self._last_full_request = None  # let the same full render be asked for again
            self.statusBar().showMessage(f"Render failed: {result.error}", 10_000)
            if result.size == self.gen.resolution and result.state == self.doc.state:
                self.full_render_failed.emit(result.error)
            return
        self._shown_stamp = result.stamp
        self.view.show_image(result.images[0])
        full = result.size == self.gen.resolution
        self.plot.add("full" if full else "preview", result.ms)
        if not full:
            old = self._preview_ms.get(result.size, result.ms)
            self._preview_ms[result.size] = 0.7 * old + 0.3 * result.ms
        kind = "full" if full else "preview"
        self.ms_label.setText(f"{kind} {result.size}² · {self.info.dtype} · {result.ms:.0f} ms")
        self.ms_label.setToolTip("What is on screen: the full render, or a preview measured faithful to it "
                                 f"(trusted preview sizes: {list(self.gen.trusted_preview_sizes) or 'none'})")
        if full:
            self.last_full = result
            self.full_render_shown.emit(result)

    def current_full_render(self) -> RenderResult | None:
        """The full-resolution render of exactly the current state, if it is on screen."""
        r = self.last_full
        return r if r is not None and r.state == self.doc.state else None

    # ---------------------------------------------------------------------------------- syncing
    def _sync(self, state: EditState) -> None:
        for panel in (self.source_a, self.source_b, self.mix, self.adjust, self.directions_panel, self.paint,
                      self.sefa):
            panel.sync(state)

    def _on_clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)  # a slot of ours: Qt disconnects it when the window goes

    def _update_title(self, *_) -> None:
        s = self.doc.state
        # [*] shows as "*" while the edit has changes not saved in a session or an exported image.
        self.setWindowTitle(f"Face editor — {s.source_a.display_name} × {s.source_b.display_name}[*]")

    def _pick_from_gallery(self, seed: int, which: str) -> None:
        self.doc.set_state(self.doc.state.with_source(which, Source.from_seed(seed)),
                           f"Seed {which.upper()} {seed} from gallery")

    def set_generator(self, gen, state: EditState | None = None) -> None:
        """Swap in another model: new widgets for its layers, directions, and a fresh history."""
        self.gen, self.info = gen, ModelInfo.of(gen)
        self.blend_gen = None
        self.blend.reset()
        self.library_dirs, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        self.sefa_dirs = {}
        self.directions = dict(self.library_dirs)
        self._refresh_render_fn()
        old_mix = self.mix
        self.mix = MixPanel(self.doc, self.info)
        old_mix.parentWidget().layout().replaceWidget(old_mix, self.mix)
        old_mix.deleteLater()
        self.directions_panel.set_directions(self.library_dirs)
        self.sefa._found({}, None)
        self.view.set_world_size(gen.resolution)
        self.last_full, self._preview_ms = None, {}  # stamps keep increasing: old results stay stale
        self._update_model_label()
        self.doc.reset(state or EditState.new(gen.fingerprint, gen.num_ws))
        self.gallery.show_page(self.gallery.page)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)

    def set_blend(self, blended) -> None:
        """Render the face with a blended generator (editor.model.blend), or the plain model (None)."""
        self.blend_gen = blended
        self._refresh_render_fn()
        self.last_full, self._preview_ms = None, {}
        self._shown_stamp = next(self._stamps)  # anything rendered before now is of the other generator
        self._update_model_label()
        self._request(full=True)

    def set_directions(self, directions: dict) -> None:
        """New library directions (after an import, a fit, a save); SeFa components stay."""
        self.library_dirs = directions
        self.directions = {**directions, **self.sefa_dirs}
        self._refresh_render_fn()
        self.directions_panel.set_directions(directions)

    def reload_directions(self) -> None:
        directions, problems = load_library(self.gen.name, self.gen.fingerprint, self.gen.w_dim, self.gen.num_ws)
        self.set_directions(directions)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)

    def _set_sefa(self, directions: dict) -> None:
        # Amounts on components that are gone would name directions the renderer no longer has.
        state = self.doc.state
        for name, _ in state.directions:
            if name.startswith("sefa") and name not in directions:
                state = state.with_direction(name, 0.0)
        self.sefa_dirs = directions
        self.directions = {**self.library_dirs, **directions}
        self._refresh_render_fn()
        if state != self.doc.state:
            self.doc.set_state(state, "New SeFa components")

    # ---------------------------------------------------------------------------------- events
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.files.open_any(url.toLocalFile())
        event.acceptProposedAction()

    def closeEvent(self, event) -> None:
        if not self.doc.undo_stack.isClean():
            answer = self.ask_unsaved()
            if answer == "save":
                self.files.save_session_dialog()
                if not self.doc.undo_stack.isClean():  # the user cancelled the file dialog
                    event.ignore()
                    return
            elif answer != "discard":
                event.ignore()  # cancel: the edit, and its autosave, stay
                return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.files.clean_exit()  # saved or discarded: nothing to recover next time
        self.worker.stop()  # waits for at most the render under way
        self.meters.stop()
        super().closeEvent(event)

    def ask_unsaved(self) -> str:
        """'save', 'discard' or 'cancel' for an edit not saved since its last change."""
        box = QMessageBox(QMessageBox.Warning, "Unsaved edit",
                          "This edit has changes that are not saved in a session or an exported image.",
                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, self)
        box.setInformativeText("Save it as a session first? (Discard also forgets the crash-recovery copy.)")
        box.setDefaultButton(QMessageBox.Save)
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(box.exec(), "cancel")

    def error(self, title: str, message: str) -> None:
        QMessageBox.warning(self, title, message)
