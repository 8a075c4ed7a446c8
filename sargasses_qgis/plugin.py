"""The plugin object QGIS holds: actions (its own toolbar, Raster menu, layer context menu), dock, options page,
provider. The toolbar is its own: QGIS hides the Raster toolbar in a new profile, and the button must be seen.

UI lives in ui/, background work in tasks (detection_task.py, engine_installer.py), Processing in processing/.
"""

from __future__ import annotations

import contextlib

from qgis.core import QgsApplication, QgsMapLayerType, QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from . import labelling
from .engine_client import shared_engine
from .paths import icon_path
from .processing.provider import SargassesProvider
from .results import RESULT_PROPERTY

MENU = "&Sargasses"


class SargassesPlugin:
    def __init__(self, iface) -> None:
        self.iface = iface  # None under qgis_process: only initProcessing() is called then
        self.provider: SargassesProvider | None = None
        self.dock = None
        self.actions: list[QAction] = []
        self.layer_actions: list[QAction] = []
        self.options_factory = None
        self.engine = shared_engine()

    # ------------------------------------------------------------------ Processing
    def initProcessing(self) -> None:
        if self.provider is None:
            self.provider = SargassesProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    # ------------------------------------------------------------------ GUI
    def initGui(self) -> None:
        self.initProcessing()
        labelling.register_functions()
        window = self.iface.mainWindow()
        icon = QIcon(icon_path())
        self.run_action = QAction(icon, "Detect Sargassum rafts…", window)
        self.run_action.setObjectName("sargassesDetectAction")
        self.run_action.setToolTip("Sargasses: find Sargassum rafts on the active image")
        self.run_action.setCheckable(True)
        self.run_action.toggled.connect(self._toggle_dock)
        self.toolbar = self.iface.addToolBar("Sargasses")
        self.toolbar.setObjectName("SargassesToolbar")
        self.toolbar.setToolTip("Sargasses: find Sargassum rafts")
        self.toolbar.addAction(self.run_action)
        self.toolbar.setVisible(True)
        self.iface.addPluginToRasterMenu(MENU, self.run_action)

        self.install_action = QAction("Install detection engine…", window)
        self.install_action.triggered.connect(self.show_installer)
        self.iface.addPluginToRasterMenu(MENU, self.install_action)
        self.settings_action = QAction("Settings…", window)
        self.settings_action.triggered.connect(self.show_settings)
        self.iface.addPluginToRasterMenu(MENU, self.settings_action)
        self.monitor_action = QAction(icon, "Load a monitoring folder…", window)
        self.monitor_action.setObjectName("sargassesLoadMonitoring")
        self.monitor_action.triggered.connect(lambda: self.load_monitoring())
        self.iface.addPluginToRasterMenu(MENU, self.monitor_action)
        self.actions = [self.run_action, self.install_action, self.settings_action, self.monitor_action]

        # The result layers' context menu: export without going through the dock.
        for kind, label in (("shp", "Export to shapefile…"), ("gpkg", "Export to GeoPackage…")):
            action = QAction(icon, label, window)
            action.triggered.connect(lambda _checked=False, k=kind: self.export_active_layer(k))
            self.iface.addCustomActionForLayerType(action, "Sargasses", QgsMapLayerType.VectorLayer, False)
            self.layer_actions.append(action)
        # ... and marking its selected rafts for a fine-tune (labelling.py).
        for kind, label in (
            ("false_positive", "Mark selected as false positive"),
            ("sargassum", "Mark selected as Sargassum"),
        ):
            action = QAction(icon, label, window)
            action.setObjectName(f"sargassesMark_{kind}")
            action.triggered.connect(lambda _checked=False, k=kind: self.mark_active_layer(k))
            self.iface.addCustomActionForLayerType(action, "Sargasses", QgsMapLayerType.VectorLayer, False)
            self.layer_actions.append(action)
        QgsProject.instance().layerWasAdded.connect(self._offer_layer_actions)
        for layer in QgsProject.instance().mapLayers().values():
            self._offer_layer_actions(layer)

        from .ui.options_page import SargassesOptionsFactory

        self.options_factory = SargassesOptionsFactory(self)
        self.iface.registerOptionsWidgetFactory(self.options_factory)

    def unload(self) -> None:
        if self.iface is not None:
            with contextlib.suppress(TypeError):
                QgsProject.instance().layerWasAdded.disconnect(self._offer_layer_actions)
            for action in self.actions:
                self.iface.removePluginRasterMenu(MENU, action)
            if self.actions:
                self.toolbar.removeAction(self.run_action)
                self.toolbar.deleteLater()  # takes it off the main window
            for action in self.layer_actions:
                self.iface.removeCustomActionForLayerType(action)
            if self.options_factory is not None:
                self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            if self.dock is not None:
                self.dock.shutdown()
                self.iface.removeDockWidget(self.dock)
                self.dock.deleteLater()
                self.dock = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        labelling.unregister_functions()
        self.engine.shutdown()

    # ------------------------------------------------------------------ actions
    def show_dock(self):
        """Open the dock (creating it on first use) and return it."""
        if self.dock is None:
            from .ui.dock import SargassesDock

            self.dock = SargassesDock(self.iface, self.engine, self)
            self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
            self.dock.visibilityChanged.connect(self.run_action.setChecked)
        self.dock.show()
        self.dock.raise_()
        self.run_action.setChecked(True)
        return self.dock

    def _toggle_dock(self, checked: bool) -> None:
        if checked:
            self.show_dock()
        elif self.dock is not None:
            self.dock.hide()

    def show_installer(self, full: bool = False) -> None:
        """Ask first (what, how big, CPU or GPU engine; `full`: an engine with PyTorch, for fine-tuning), then
        install with the dialog showing progress. The engine in place stays until the new one works."""
        from .ui.installer_dialog import InstallerDialog, ask_engine

        engine = ask_engine(self.iface.mainWindow(), full=full)
        if engine is None:
            return
        dialog = InstallerDialog(self.iface.mainWindow(), on_installed=self._engine_installed)
        dialog.show()
        dialog.start(engine)
        self._installer_dialog = dialog  # keep it alive while it runs

    def _engine_installed(self) -> None:
        self.engine.shutdown()  # the next run uses the new engine
        if self.dock is not None:
            self.dock.refresh_engine()

    def load_monitoring(self, folder: str | None = None) -> dict | None:
        """Load a monitoring folder (asked for when not given) and show its plot and passes in the dock."""
        from .monitor_folder import ask_and_load, load_and_tell

        loaded = load_and_tell(self.iface, folder) if folder else ask_and_load(self.iface)
        if loaded is not None:
            self.show_dock().monitor_box.show_folder(loaded)
        return loaded

    def show_settings(self) -> None:
        self.iface.showOptionsDialog(self.iface.mainWindow(), currentPage="sargassesOptions")

    def _offer_layer_actions(self, layer) -> None:
        if isinstance(layer, QgsVectorLayer) and layer.customProperty(RESULT_PROPERTY):
            for action in self.layer_actions:
                self.iface.addCustomActionForLayer(action, layer)

    def mark_active_layer(self, kind: str) -> int:
        """Mark the selected rafts of the active result layer (the layer menu's actions, as the dock's buttons)."""
        if self.dock is None:
            self.show_dock()
        return self.dock.finetune_box.mark_active(kind)

    def export_active_layer(self, kind: str) -> None:
        from .ui.export_dialog import export_with_dialog

        layer = self.iface.activeLayer()
        if isinstance(layer, QgsVectorLayer):
            export_with_dialog(self.iface, layer, kind)
