import { test } from "node:test";
import assert from "node:assert/strict";

import { UploadQueue } from "../src/controller/uploads.js";

/** A stand-in for XMLHttpRequest that the test drives by hand. */
class FakeRequest {
  static made = [];
  constructor() {
    this.headers = {};
    this.upload = {};
    FakeRequest.made.push(this);
  }
  open(method, url) { this.method = method; this.url = url; }
  setRequestHeader(name, value) { this.headers[name] = value; }
  send(body) { this.body = body; }
  abort() { this.onabort(); }
  progress(loaded, total) { this.upload.onprogress({ lengthComputable: true, loaded, total }); }
  respond(status, body) {
    this.upload.onload?.();
    this.status = status;
    this.responseText = typeof body === "string" ? body : JSON.stringify(body);
    this.onload();
  }
}

function queue(options = {}) {
  FakeRequest.made = [];
  const q = new UploadQueue({ url: "/api/images/", csrfToken: () => "tok", createRequest: () => new FakeRequest(), ...options });
  const events = [];
  q.subscribe((reason, item) => events.push([reason, item?.name, item?.status]));
  return { q, events };
}

const file = (name, size = 10) => new File([new Uint8Array(size)], name);

test("each file is its own request with the CSRF token, the file field and progress", () => {
  const { q } = queue();
  const [item] = q.add([file("a.tif", 100)]);
  const request = FakeRequest.made[0];
  assert.equal(request.method, "POST");
  assert.equal(request.url, "/api/images/");
  assert.equal(request.headers["X-CSRFToken"], "tok");
  assert.equal(request.body.get("file").name, "a.tif");
  request.progress(25, 100);
  assert.equal(item.progress, 0.25);
  assert.equal(item.status, "uploading");
  request.respond(201, { id: 3, name: "a.tif" });
  assert.equal(item.status, "done");
  assert.deepEqual(item.image, { id: 3, name: "a.tif" });
});

test("a rejected file shows the server's reason and the others carry on", () => {
  const { q, events } = queue();
  const [bad, good] = q.add([file("notes.txt"), file("b.png")]);
  FakeRequest.made[0].respond(400, { detail: "notes.txt: unsupported format; supported formats are TIFF, PNG and JPEG" });
  FakeRequest.made[1].respond(201, { id: 1 });
  assert.equal(bad.status, "failed");
  assert.match(bad.error, /unsupported format/);
  assert.equal(good.status, "done");
  assert.deepEqual(events.filter(([reason]) => reason === "uploaded"), [["uploaded", "b.png", "done"]]);
});

test("at most `concurrency` uploads run at once; the next starts when one ends", () => {
  const { q } = queue({ concurrency: 2 });
  const items = q.add([file("1"), file("2"), file("3")]);
  assert.equal(FakeRequest.made.length, 2);
  assert.equal(items[2].status, "queued");
  FakeRequest.made[0].respond(201, {});
  assert.equal(FakeRequest.made.length, 3);
  assert.equal(items[2].status, "uploading");
});

test("errors without JSON and lost connections still say what happened", () => {
  const { q } = queue();
  const [big, lost] = q.add([file("big.tif"), file("lost.tif")]);
  FakeRequest.made[0].respond(413, "<html>Request Entity Too Large</html>");
  assert.equal(big.error, "The file is too large.");
  FakeRequest.made[1].onerror();
  assert.match(lost.error, /could not be reached/);
});

test("cancelling stops a running upload and a queued one, and finished items can be cleared", () => {
  const { q } = queue({ concurrency: 1 });
  const [running, waiting] = q.add([file("1"), file("2")]);
  q.cancel(waiting);
  assert.equal(waiting.status, "cancelled");
  q.cancel(running);
  assert.equal(running.status, "cancelled");
  assert.equal(FakeRequest.made.length, 1);
  q.clearFinished();
  assert.deepEqual(q.items, []);
});

test("a file with ambiguous axes waits for a choice, then goes again naming the chosen axes", () => {
  const { q, events } = queue();
  const [item] = q.add([file("five.tif")]);
  FakeRequest.made[0].respond(400, {
    detail: "five.tif: an image of shape (5, 64, 64) could be a stack of 5 planes or an image with 5 or 64 channels",
    code: "axes_needed", shape: [5, 64, 64], axes_choices: ["ZYX", "CYX", "YXC"],
  });
  assert.equal(item.status, "needs-axes");
  assert.deepEqual(item.axesChoices, ["ZYX", "CYX", "YXC"]);
  assert.deepEqual(item.shape, [5, 64, 64]);
  assert.match(item.error, /could be a stack/);
  assert.equal(FakeRequest.made[0].body.get("axes"), null);

  q.sendWithAxes(item, "CYX");
  assert.equal(FakeRequest.made.length, 2);
  assert.equal(FakeRequest.made[1].body.get("axes"), "CYX");
  assert.equal(FakeRequest.made[1].body.get("file").name, "five.tif");
  assert.equal(item.error, null);
  FakeRequest.made[1].respond(201, { id: 9, axes: "CYX" });
  assert.equal(item.status, "done");
  assert.deepEqual(events.filter(([reason]) => reason === "uploaded"), [["uploaded", "five.tif", "done"]]);
});

test("only an offered reading is sent, and a file waiting for axes can be cancelled", () => {
  const { q } = queue();
  const [item] = q.add([file("five.tif")]);
  FakeRequest.made[0].respond(400, { detail: "ambiguous", code: "axes_needed", shape: [5, 64, 64], axes_choices: ["ZYX", "CYX"] });
  q.sendWithAxes(item, "ZCYX");
  assert.equal(FakeRequest.made.length, 1);
  assert.equal(item.status, "needs-axes");
  q.cancel(item);
  assert.equal(item.status, "cancelled");
  q.sendWithAxes(item, "ZYX");
  assert.equal(FakeRequest.made.length, 1);
});

test("other 400s stay plain rejections", () => {
  const { q } = queue();
  const [item] = q.add([file("bad.tif")]);
  FakeRequest.made[0].respond(400, { detail: "bad.tif: 3 pixel value(s) are NaN or infinite" });
  assert.equal(item.status, "failed");
  assert.equal(item.axesChoices, null);
});
