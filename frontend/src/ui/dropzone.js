/**
 * Drag-and-drop and the file picker. Dropping anywhere on the page uploads (a
 * missed drop would otherwise make the browser navigate away to the file); the
 * drop zone lights up while files are dragged over the window.
 */
export function bindDropzone(zone, input, onFiles) {
  let depth = 0; // dragenter/dragleave fire for every child element
  const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  const setActive = (active) => zone.classList.toggle("is-dragging", active);

  window.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    depth += 1;
    setActive(true);
  });
  window.addEventListener("dragleave", (event) => {
    if (!hasFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (depth === 0) setActive(false);
  });
  window.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    depth = 0;
    setActive(false);
    if (event.dataTransfer.files.length) onFiles([...event.dataTransfer.files]);
  });

  const choose = () => input.click();
  zone.querySelector("[data-action=choose-files]")?.addEventListener("click", (event) => {
    event.stopPropagation();
    choose();
  });
  zone.addEventListener("click", choose);
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      choose();
    }
  });
  input.addEventListener("change", () => {
    if (input.files.length) onFiles([...input.files]);
    input.value = ""; // choosing the same file again fires change again
  });
}
