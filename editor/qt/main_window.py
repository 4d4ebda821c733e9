"""The main window: face view in the middle, controls on the right, gallery on the left.

Data flows one way: control -> Document (new EditState) -> RenderRequest -> RenderWorker -> stamped
RenderResult -> view. While a slider is held the worker renders the preview size; once input rests
(or the slider is released) it renders full resolution.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QGroupBox, QLabel, QMainWindow, QMessageBox, QProgressBar, QScrollArea,
                               QVBoxLayout, QWidget)

from ..directions import load_library
from ..edit import EditState, Source
from ..render import PREVIEW_SIZE, RenderRequest, RenderResult, render
from .direction_tools import FitDirectionsRunner, SefaPanel, TeachPanel
from .document import Document
from .files import FileActions
from .gallery import Gallery
from .photo_import import PhotoImporter
from .background import BackgroundWorker
from .blend_panel import BlendPanel
from .breed_panel import BreedPanel
from .lock_loop import LockLoop
from .menus import build_menus, redo_shortcuts  # noqa: F401 - redo_shortcuts: tests import it here
from .meters import MeterPanel
from .panels import AdjustPanel, DirectionsPanel, MixPanel, ModelInfo, PaintPanel, SourcePanel
from .render_worker import RenderWorker
from .source_faces import SourceFaces
from .viewer import FaceView, RenderTimePlot

REST_MS = 200  # input counts as resting after this long without a change
PREVIEW_BUDGET_MS = 80  # drag previews must keep up >= 10 per second with GUI work on top
GALLERY_SIZE = 256
GALLERY_CHUNK = 3  # thumbnails a render request
BUSY_AFTER_MS = 150  # the busy sign appears only for renders the user would notice waiting for
SLOW_RENDER_MS = 2000  # a full render slower than this gets a one-time note in the status bar
GALLERY_WIDTH = 200
CONTROLS_WIDTH = 350  # the controls dock: with a ~200 px gallery, a 1024 px window leaves the face ~470 px


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
        self.animation_dialog = None  # File › Export animation…, made on first use
        self.worker = RenderWorker(self._render_fn())
        self.worker.rendered.connect(self._on_rendered)
        self._background_copy = None  # (model, its private copy for the background thread)
        self.background = BackgroundWorker(self._background_gen, self)
        self.background.done.connect(self._on_background_done)
        self._rest = QTimer(self, singleShot=True, interval=REST_MS)
        self._rest.timeout.connect(lambda: self._request(full=True))

        self.view = FaceView(gen.resolution)
        self.setCentralWidget(self.view)
        self._build_controls()
        self._build_gallery()
        self._build_status()
        self.lock_loop = LockLoop(self)
        self.source_faces = SourceFaces(self)
        self.source_faces.changed.connect(self._show_source_faces)
        self._on_screen = None  # the newest result image, shown unless the compare view is on
        self.files = FileActions(self)
        self.photos = PhotoImporter(self)
        self._build_menus()
        self.setAcceptDrops(True)
        self.doc.changed.connect(self._on_state)
        self.doc.undo_stack.cleanChanged.connect(self._on_clean_changed)
        self._sync(self.doc.state)
        self._request(full=True)
        self.source_faces.update(self.doc.state)
        self.gallery.show_page(0)
        for p in problems:
            self.statusBar().showMessage(p, 10_000)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        # Docks at their narrowest useful width: the face gets the rest of the window.
        self.resizeDocks([self.gallery_dock, self.controls_dock], [GALLERY_WIDTH, CONTROLS_WIDTH], Qt.Horizontal)

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
        self.breed = BreedPanel(self.doc, self.gen.layer_groups, self.gen.w_dim)
        self.adjust = AdjustPanel(self.doc)
        self.adjust.set_transform_supported(self.gen.supports_input_transform)
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
        for w in (self.source_a, self.source_b, self.mix, self.breed, self.adjust, self.directions_panel, self.meters,
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
        scroll.setMinimumWidth(CONTROLS_WIDTH)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)  # the panels fit its width; never scroll sideways
        dock = QDockWidget("Controls", self)
        dock.setObjectName("controls")
        dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        dock.setWidget(scroll)
        self.addDockWidget(Qt.RightDockWidgetArea, dock)
        self.controls_dock = dock

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
        self.busy = QProgressBar()  # indeterminate: shown while the face on screen is not yet the edit's
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(90)
        self.busy.setTextVisible(False)
        self.busy.setToolTip("Rendering the current edit")
        self.busy.hide()
        self._busy_timer = QTimer(self, singleShot=True, interval=BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(self.busy.show)
        self._view_stamp = 0  # the newest view request
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.ms_label)
        self._update_model_label()

    def _update_model_label(self) -> None:
        i = self.info
        blended = f" + {self.blend_gen.info['blended_with']}" if self.blend_gen is not None else ""
        self.model_label.setText(f"{i.name}{blended} · {self.gen.resolution}² · {i.device} {i.dtype}")
        self.model_label.setToolTip(f"fingerprint {i.fingerprint}")

    def _build_menus(self) -> None:
        build_menus(self)

    # ---------------------------------------------------------------------------------- rendering
    def _on_state(self, state: EditState) -> None:
        if self.compare_action.isChecked():
            self.compare_action.setChecked(False)
            self.show_before(False)
        self._sync(state)
        self._update_title()
        self.files.schedule_autosave()
        if self.doc.dragging:
            self._request(full=False)
            self._rest.start()
        else:
            self._rest.stop()
            self._request(full=True)
        self.source_faces.update(state)  # after the view's request: the worker takes that first

    def _request(self, full: bool) -> None:
        size = None if full else self._preview_size()
        key = (self.doc.state, size)
        if size is None and key == self._last_full_request:
            return  # this exact full render is already on screen or on its way (drags render full too)
        self._last_full_request = key if size is None else None
        self._view_stamp = next(self._stamps)
        self.worker.submit(RenderRequest(self._view_stamp, self.doc.state, size))
        if not self.busy.isVisible():
            self._busy_timer.start()

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

    def run_background(self, name: str, job, on_done) -> None:
        """Run job(gen) on the background thread (seconds to minutes of work; the view stays live);
        on_done(value, error) back on the GUI thread. A waiting job of the same name is replaced."""
        stamp = next(self._stamps)
        for s in [s for s, (n, _) in self._jobs.items() if n == f"bg:{name}"]:
            del self._jobs[s]  # replaced unstarted, or running and superseded: its result is dropped
        self._jobs[stamp] = (f"bg:{name}", on_done)
        self.background.submit(name, stamp, job)

    def _background_gen(self):
        """The background thread's own copy of the model (made there, once per model): renders of photo
        sources add their weight deltas in place for a moment (editor.photo.delta.applied), which work
        running beside them must never see. Copied under that same lock, so never mid-change."""
        from ..photo.delta import unchanged_copy
        gen = self.gen
        if self._background_copy is None or self._background_copy[0] is not gen:
            self._background_copy = (gen, unchanged_copy(gen))
        return self._background_copy[1]

    def _on_background_done(self, stamp: int, value, error) -> None:
        _name, callback = self._jobs.pop(stamp, (None, None))
        if callback is not None:
            callback(value, error)

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
        if result.stamp >= self._view_stamp:
            self._busy_timer.stop()
            self.busy.hide()
        if result.stamp < self._shown_stamp or result.state.model_fingerprint != self.gen.fingerprint:
            return  # stale: a newer image is on screen, or it was asked of the previous model
        if result.error:
            self._last_full_request = None  # let the same full render be asked for again
            self.statusBar().showMessage(f"Render failed: {result.error}", 10_000)
            if result.size == self.gen.resolution and result.state == self.doc.state:
                self.full_render_failed.emit(result.error)
            return
        self._shown_stamp = result.stamp
        self._on_screen = result.images[0]
        if not self.compare_action.isChecked():
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
            if result.ms > SLOW_RENDER_MS and not getattr(self, "_slow_noted", False):
                self._slow_noted = True  # once per model: the render-time plot keeps showing it
                self.statusBar().showMessage(
                    f"This model is slow here: {result.ms / 1000:.1f} s per full {result.size}² render on "
                    f"{self.info.device}" + (" (StyleGAN3 on a CPU is)" if self.gen.supports_input_transform
                                             else "") + "; edits show when each render finishes", 15_000)

    def current_full_render(self) -> RenderResult | None:
        """The full-resolution render of exactly the current state, if it is on screen."""
        r = self.last_full
        return r if r is not None and r.state == self.doc.state else None

    # ---------------------------------------------------------------------------------- syncing
    def show_before(self, on: bool) -> None:
        """The compare toggle: face A unedited in place of the result, or back."""
        before = self.source_faces.images["a"]
        if on and before is None:
            self.compare_action.setChecked(False)
            self.statusBar().showMessage("Face A on its own is still rendering; try again in a moment", 4000)
            return
        image = before if on else self._on_screen
        if image is not None:
            self.view.show_image(image)
        if on:
            self.statusBar().showMessage("Showing A before the edit (\\ again, or any edit, returns)", 4000)

    def _show_source_faces(self) -> None:
        for which, panel in (("a", self.source_a), ("b", self.source_b)):
            if self.source_faces.images[which] is not None:
                panel.set_face(self.source_faces.images[which])
        if self.compare_action.isChecked():
            self.view.show_image(self.source_faces.images["a"])

    def _sync(self, state: EditState) -> None:
        for panel in (self.source_a, self.source_b, self.mix, self.breed, self.adjust, self.directions_panel,
                      self.paint, self.sefa):
            panel.sync(state)
        self.gallery.mark(*(s.seed if s.kind == "seed" else None for s in (state.source_a, state.source_b)))

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
        self.sefa.model_changed()
        self.view.set_world_size(gen.resolution)
        self.last_full, self._preview_ms = None, {}  # stamps keep increasing: old results stay stale
        self._update_model_label()
        self.breed.set_model(gen.layer_groups, gen.w_dim)
        self.adjust.set_transform_supported(gen.supports_input_transform)
        self._slow_noted = False
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
        self.background.stop()
        if self.animation_dialog is not None:
            self.animation_dialog.stop()  # an export under way is cancelled; its partial file removed
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
