// The debug handle pages/imagePage.js sets on window: the browser tests and benchmarks/editor_speed.py
// read it; the page itself never does.
interface Window {
  cellposeViewer?: {
    model: import("../src/model.js").ViewerModel;
    renderer: import("../src/view/renderer.js").Renderer;
    tools: import("../src/tools/registry.js").ToolRegistry;
    editor: import("../src/editor.js").Editor;
    saver?: import("../src/controller/saver.js").AnnotationSaver;
  };
  // pages/slide.js's handle (the tiled viewer of large images).
  cellposeSlide?: {
    model: import("../src/model.js").ViewerModel;
    renderer: import("../src/tiles/renderer.js").TileRenderer;
    store: import("../src/tiles/store.js").TileStore;
  };
  // pages/regionEditor.js's handle (the editor on one region of a large image).
  cellposeRegion?: {
    model: import("../src/model.js").ViewerModel;
    renderer: import("../src/view/renderer.js").Renderer;
    tools: import("../src/tools/registry.js").ToolRegistry;
    editor: import("../src/editor.js").Editor;
    saver: import("../src/controller/saver.js").AnnotationSaver;
    region: import("../src/tiles/region.js").Region;
  };
}
