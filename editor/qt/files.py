"""Everything the window does with files: open, export, sessions, latents, models, recent files, autosave.

Any bad file ends in a dialog that names the file and the problem; the current edit is never touched
by a failed open, and every write is atomic (editor.io).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QThread, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog

from .. import io
from ..config import data_dir
from ..naming import suggest_stem
from ..safe_read import bounded, describe
from ..directions import DirectionError, import_ganspace, import_interfacegan, load_library
from ..edit import Source
from ..model import CheckpointError, load_generator
from .gallery import rgb_to_qimage
from .widgets import dismiss_progress

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MODEL_SUFFIXES = {".pkl", ".pt", ".pth", ".safetensors"}
LATENT_SUFFIXES = {".npz", ".npy"}
MAX_RECENT = 10
AUTOSAVE_MS = 1500


def autosave_path() -> Path:
    return data_dir() / "autosave.json"


class ModelLoader(QThread):
    """Loads a model off the GUI thread, reporting progress; the result or the error comes back as data."""

    progress = Signal(str, int, int)
    done = Signal(object, object)  # Generator | None, error message | None

    def __init__(self, path: str | None, device=None):
        super().__init__()
        self.path, self.device = path, device

    def run(self) -> None:
        try:
            gen = load_generator(self.path, device=self.device, progress=lambda *a: self.progress.emit(*a))
            self.done.emit(gen, None)
        except CheckpointError as exc:
            self.done.emit(None, bounded(exc, 600))
        except Exception as exc:  # noqa: BLE001 - any failure is reported, the app stays up
            self.done.emit(None, f"{bounded(self.path, 200)}: {describe(exc)}")


class FileActions:
    def __init__(self, window):
        self.w = window
        self._waiting: list[Callable] = []
        self.delta_folders: set[Path] = set()  # where this run saved or opened a tuned photo's delta files
        self._loader: ModelLoader | None = None
        self._autosave = QTimer(window, singleShot=True, interval=AUTOSAVE_MS)
        self._autosave.timeout.connect(self.autosave_now)
        window.full_render_shown.connect(self._on_full)
        window.full_render_failed.connect(self._on_full_failed)
        window.source_a.load_latent_requested.connect(self.load_latent_dialog)
        window.source_b.load_latent_requested.connect(self.load_latent_dialog)
        window.directions_panel.import_requested.connect(self.import_direction_dialog)

    # ------------------------------------------------------------------------------------ helpers
    def _dir(self) -> str:
        return str(self.w.settings.value("files/last_dir", str(Path.home())))

    def _remember(self, path: str) -> None:
        self.w.settings.setValue("files/last_dir", str(Path(path).parent))
        recent = [p for p in self._recent() if p != path]
        self.w.settings.setValue("files/recent", [path] + recent[:MAX_RECENT - 1])

    def _recent(self) -> list[str]:
        # type=list: the INI format stores a one-item list as a plain string, which a later run reads back
        # as str; iterating that gave the characters of the path as "recent files".
        return [str(p) for p in self.w.settings.value("files/recent", [], type=list)]

    def fill_recent_menu(self) -> None:
        menu = self.w.recent_menu
        menu.clear()
        recent = self._recent()
        for p in recent:
            menu.addAction(p, lambda p=p: self.open_any(p))
        if not recent:
            menu.addAction("(none)").setEnabled(False)

    def _when_full(self, callback: Callable) -> None:
        """Run callback(result) with the full render of the current edit: now, or once it arrives."""
        ready = self.w.current_full_render()
        if ready is not None:
            callback(ready)
            return
        self._waiting.append(callback)
        self.w.statusBar().showMessage("Waiting for the full-resolution render…", 3000)
        self.w._request(full=True)

    def _on_full_failed(self, error: str) -> None:
        if self._waiting:
            self._waiting = []
            self.w.error("Cannot render", f"The full-resolution render failed, so nothing was written: {error}")

    def _on_full(self, result) -> None:
        if result.state != self.w.doc.state:
            return
        waiting, self._waiting = self._waiting, []
        for cb in waiting:
            cb(result)

    # ------------------------------------------------------------------------------------ opening
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open edit or session", self._dir(),
                                              "Edits (*.png *.jpg *.jpeg *.webp *.json);;All files (*)")
        if path:
            self.open_any(path)

    def open_any(self, path: str) -> None:
        """File › Open, drops, recent files, the command line. Whatever goes wrong, the user sees one
        message naming the file and the edit stays as it was (every reader checks before it replaces)."""
        try:
            self._open_any(path)
        except Exception as exc:  # noqa: BLE001 - an unexpected failure is still reported, never only on stderr
            self.w.error("Cannot open", f"{bounded(path, 200)}: unexpected error ({describe(exc)})")

    def _open_any(self, path: str) -> None:
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            self.open_model(path)
        elif suffix in LATENT_SUFFIXES:
            self.load_latent(path, "a")
        elif suffix in IMAGE_SUFFIXES or suffix == ".json":
            self.open_edit(path)
        else:
            self.w.error("Cannot open", f"{path}: not a file the editor knows (image, session, latent or model)")

    def open_edit(self, path: str) -> bool:
        notices_before: list[str] = []
        try:
            if Path(path).suffix.lower() == ".json":
                state, _extra = io.load_session(path)
            else:
                state, meta = io.read_edit_from_image(path)
                if meta.get("pixels_match") is False:
                    notices_before = [f"{bounded(Path(path).name, 80)}: the edit comes from its sidecar "
                                      f"{io.sidecar_path(path).name}, which was written for other pixels (an "
                                      "export that did not finish, or the image was changed since)."]
        except io.NoEmbeddedEdit:
            if self.offer_photo_import(path):
                self.w.photos.import_photo(path)
            return False
        except io.FileFormatError as exc:
            self.w.error("Cannot open edit", str(exc))
            return False
        gen = self.w.gen
        try:
            state, notices = io.fit_to_model(state, path, gen.fingerprint, gen.w_dim, gen.num_ws, self.w.directions)
        except io.FileFormatError as exc:
            self.w.error("Edit does not fit the open model", str(exc))
            return False
        from ..photo.delta import resolve_beside
        state, problems = resolve_beside(state, Path(path).parent, gen.net)  # a tuned photo's weights
        if any(s.delta is not None for s in (state.source_a, state.source_b)):
            self.delta_folders.add(Path(path).parent)
        if problems:
            self.w.statusBar().showMessage("; ".join(problems), 15_000)
        self.w.doc.set_state(state, f"Open {Path(path).name}")
        self._remember(path)
        for notice in notices_before + notices:  # the edit opened; what it could not vouch for is said
            self.w.error("Opened, with a warning", notice)
        return True

    def offer_photo_import(self, path: str) -> bool:
        """A plain image (no edit in it): ask whether to import it as a photo of a face."""
        answer = QMessageBox.question(
            self.w, "Import this photo?",
            f"{Path(path).name} is an image without an edit from this editor.\n\nImport it as a photo: find the "
            "face and turn it into a latent you can edit and mix (on this machine only)?",
            QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
        return answer == QMessageBox.Yes

    def load_latent_dialog(self, which: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, f"Latent for source {which.upper()}", self._dir(),
                                              "Latents (*.npz *.npy);;All files (*)")
        if path:
            self.load_latent(path, which)

    def load_latent(self, path: str, which: str) -> bool:
        gen = self.w.gen
        try:
            w = io.load_latent(path)
            if w.shape[-1] != gen.w_dim or w.shape[0] not in (1, gen.num_ws):
                raise io.FileFormatError(path, f"latent has shape {tuple(w.shape)}; this model needs "
                                               f"[1, {gen.w_dim}] or [{gen.num_ws}, {gen.w_dim}]")
        except io.FileFormatError as exc:
            self.w.error("Cannot use latent", str(exc))
            return False
        src = Source.from_latent(w, Path(path).name, path, delta=self._latent_delta(path, w))
        state = self.w.doc.state.with_source(which, src)
        if which == "a" and (state.directions or state.parents or any(state.mix)):
            # A saved latent already carries the edit it was saved with (B's mix, parents, directions; its
            # tuned weights beside it): applying them again would move the face twice, so it opens as the
            # face it was saved from. One undo step brings the old edit back.
            state = replace(state.without_directions(), mix=(0.0,) * state.num_ws, parents=())
            self.w.statusBar().showMessage("Mix, parents and direction sliders reset: the latent already carries "
                                           "its edit", 8000)
        self.w.doc.set_state(state, f"Latent {which.upper()}")
        self._remember(path)
        return True

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open model", self._dir(),
                                              "Models (*.pkl *.pt *.pth *.safetensors);;All files (*)")
        if path:
            self.open_model(path)

    def open_model(self, path: str | None, use: Callable | None = None) -> None:
        """Load a model with progress and Cancel; it replaces the current one, or goes to use(gen)."""
        dialog = QProgressDialog(f"Loading {Path(path).name if path else 'default model'}…", "Cancel", 0, 0, self.w)
        dialog.setWindowTitle("Open model")
        dialog.setMinimumDuration(0)
        loader = ModelLoader(path, device=self.w.gen.device)
        self._loader = loader

        def on_progress(stage, done, total):
            dialog.setLabelText(f"{stage}…")
            dialog.setMaximum(max(total, 1))
            dialog.setValue(done)

        def on_done(gen, err):
            cancelled = dismiss_progress(dialog) or loader is not self._loader
            if cancelled:
                return  # the user gave up on this one; the current model stays
            if err:
                self.w.error("Cannot open model", err)
                return
            if use is not None:
                use(gen)
                return
            self.w.set_generator(gen)
            if path:
                self._remember(path)
                self.w.settings.setValue("model/path", path)

        loader.progress.connect(on_progress)
        loader.done.connect(on_done)
        dialog.canceled.connect(lambda: setattr(self, "_loader", None))
        loader.start()

    def import_ganspace_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Import GANSpace components", self._dir(),
                                              "GANSpace cache (*.npz);;All files (*)")
        if not path:
            return
        gen = self.w.gen
        try:
            import_ganspace(path, gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        except (DirectionError, OSError) as exc:
            self.w.error("Cannot import components", bounded(exc, 500))
            return
        except Exception as exc:  # noqa: BLE001 - reported, never only on stderr; the library is unchanged
            self.w.error("Cannot import components", f"{bounded(path, 200)}: unexpected error ({describe(exc)})")
            return
        self.w.reload_directions()

    def import_direction_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.w, "Import direction", self._dir(),
                                              "InterFaceGAN boundaries (*.npy);;All files (*)")
        if not path:
            return
        gen = self.w.gen
        try:
            import_interfacegan(path, gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
            directions, problems = load_library(gen.name, gen.fingerprint, gen.w_dim, gen.num_ws)
        except (DirectionError, OSError) as exc:
            self.w.error("Cannot import direction", bounded(exc, 500))
            return
        except Exception as exc:  # noqa: BLE001 - reported, never only on stderr; the library is unchanged
            self.w.error("Cannot import direction", f"{bounded(path, 200)}: unexpected error ({describe(exc)})")
            return
        self.w.set_directions(directions)
        for p in problems:
            self.w.statusBar().showMessage(p, 10_000)

    # ------------------------------------------------------------------------------------ saving
    def suggested_path(self, suffix: str) -> str:
        """In the last-used folder, named after the edit (editor.naming)."""
        stem = suggest_stem(self.w.doc.state, self.w.gen.layer_groups)
        return str(Path(self._dir()) / f"{stem}{suffix}")

    def export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "Export image", self.suggested_path(".png"),
                                              "PNG (*.png);;JPEG (*.jpg);;WebP (*.webp)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.export(path)

    def export(self, path: str) -> None:
        from ..photo.delta import save_beside

        def write(result):
            try:
                # A photo's tuned weights beside the image, as beside a session: reopening the export (or
                # `render --edit` on it) then renders the same face, not the bare latent.
                if save_beside(path, result.state):
                    self.delta_folders.add(Path(path).parent)
                io.export_image(path, result.images[0], result.state, self.w.gen.name)
            except (OSError, ValueError) as exc:
                self.w.error("Export failed", f"{path}: {exc}")
                return
            self._remember(path)
            if result.state == self.w.doc.state:
                self.w.doc.undo_stack.setClean()  # the export embeds the edit: reopening it restores it
            self.w.statusBar().showMessage(f"Exported {path}", 5000)
        self._when_full(write)

    def save_session_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "Save session", self.suggested_path(".json"),
                                              "Sessions (*.json)")
        if path:
            self.save_session(path if path.endswith(".json") else path + ".json")

    def _latent_delta(self, path: str, w):
        """The tuned weights `python -m editor project` wrote beside a latent, if any and if they belong to
        it (else None, said in the status bar)."""
        from ..photo.delta import delta_beside_latent
        delta, warning = delta_beside_latent(path, w, self.w.gen.net)
        if warning:
            self.w.statusBar().showMessage(warning, 15_000)
        return delta

    def save_session(self, path: str) -> None:
        from ..photo.delta import save_beside
        try:
            if save_beside(path, self.w.doc.state):  # first: a session never names a delta file not there
                self.delta_folders.add(Path(path).parent)
            io.save_session(path, self.w.doc.state, self._extra())
        except OSError as exc:
            self.w.error("Save failed", f"{path}: {exc}")
            return
        self.w.doc.undo_stack.setClean()
        self._remember(path)

    def save_latent_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.w, "Save latent", self.suggested_path(".npz"),
                                              "NVIDIA latent (*.npz)")
        if path:
            self.save_latent(path if path.endswith(".npz") else path + ".npz")

    def save_latent(self, path: str) -> None:
        """The w+ on screen, and beside it (NAME.delta.safetensors) the photo weights and detail maps it was
        rendered with, baked into one delta: reopened as source A, it is the face on screen."""
        from ..photo.delta import latent_delta_path
        from ..pipeline.photo_inputs import baked_delta

        def write(result):
            try:
                delta = baked_delta(result.state, result.wplus)
                beside = latent_delta_path(path)
                if delta is not None:
                    delta.save(beside, latent=result.wplus)  # names the latent it belongs to
                elif beside.is_file():
                    beside.unlink()  # an older save's tuned weights would not belong to this latent
                io.save_latent_npz(path, result.wplus)
            except OSError as exc:
                self.w.error("Save failed", f"{path}: {exc}")
                return
            self.w.statusBar().showMessage(f"Saved w+ to {path}", 5000)
        self._when_full(write)

    def copy_image(self) -> None:
        self._when_full(lambda r: QGuiApplication.clipboard().setImage(rgb_to_qimage(r.images[0])))

    def _extra(self) -> dict:
        src = self.w.gen.source
        return {"model_name": self.w.gen.name, "model_path": None if src is None else str(src)}

    # ------------------------------------------------------------------------------------ autosave
    def schedule_autosave(self) -> None:
        self._autosave.start()

    def autosave_now(self) -> None:
        from .photo_import import PHOTO_LABEL
        state = self.w.doc.state
        sources = (state.source_a, state.source_b, *(p.source for p in state.parents))
        if any(src.label.startswith(PHOTO_LABEL) for src in sources):
            return  # a latent made from the user's photo is written only when they save it
        try:
            autosave_path().parent.mkdir(parents=True, exist_ok=True)
            io.save_session(autosave_path(), self.w.doc.state, {**self._extra(), "autosave": True})
        except OSError as exc:
            self.w.statusBar().showMessage(f"Autosave failed: {exc}", 5000)

    def clean_exit(self) -> None:
        """A normal close: nothing to recover next time."""
        self._autosave.stop()
        try:
            autosave_path().unlink(missing_ok=True)
        except OSError:
            pass
