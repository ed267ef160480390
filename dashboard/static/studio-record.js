// The studio's microphone: start, stop, listen to the take, keep it (POSTed with the page's CSRF token) or record
// again. Without MediaRecorder (or without JavaScript) the page offers only the file upload, which works alone.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function setup(box) {
    var start = box.querySelector("[data-start]"), stop = box.querySelector("[data-stop]");
    var take = box.querySelector("[data-take]"), player = box.querySelector("[data-player]");
    var keep = box.querySelector("[data-keep]"), again = box.querySelector("[data-again]");
    var line = box.querySelector("[data-status-line]"), problem = box.querySelector("[data-problem]");
    var words = JSON.parse(document.getElementById("studio-words").textContent);
    var recorder = null, chunks = [], blob = null, stream = null, ticker = null;

    function say(text) { line.textContent = text; }
    function fail(text) { problem.textContent = text; problem.hidden = !text; }
    function release() {
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
      if (ticker) { clearInterval(ticker); ticker = null; }
    }

    start.addEventListener("click", function () {
      fail("");
      take.hidden = true;
      start.disabled = true;
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (s) {
        stream = s;
        chunks = [];
        recorder = new MediaRecorder(s);
        recorder.addEventListener("dataavailable", function (e) { if (e.data && e.data.size) chunks.push(e.data); });
        recorder.addEventListener("stop", function () {
          release();
          blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
          if (player.src) URL.revokeObjectURL(player.src);
          player.src = URL.createObjectURL(blob);
          take.hidden = false;
          stop.hidden = true;
          start.disabled = false;
          say("");
          player.focus();
        });
        recorder.start();
        var began = Date.now();
        ticker = setInterval(function () { say(words.recording + " " + Math.round((Date.now() - began) / 1000) + " s"); }, 500);
        say(words.recording);
        start.hidden = true;
        stop.hidden = false;
        stop.focus();
      }).catch(function () {
        start.hidden = false;
        start.disabled = false;
        fail(words.denied);
      });
    });

    stop.addEventListener("click", function () { if (recorder && recorder.state !== "inactive") recorder.stop(); });
    again.addEventListener("click", function () { take.hidden = true; blob = null; say(""); start.hidden = false; start.click(); });

    keep.addEventListener("click", function () {
      if (!blob) return;
      keep.disabled = true;
      again.disabled = true;
      fail("");
      say(words.sending);
      var data = new FormData();
      data.append("csrf_token", csrf);
      data.append("lang", box.dataset.lang);
      data.append("source", "browser");
      data.append("file", blob, "prise." + ((blob.type.split("/")[1] || "webm").split(";")[0]));
      fetch(box.dataset.url, { method: "POST", body: data, headers: { "X-Requested-With": "fetch" }, credentials: "same-origin" })
        .then(function (r) { return r.json().catch(function () { return { ok: false, error: words.failed }; }); })
        .then(function (answer) {
          if (answer.ok) { say(words.kept); window.location.assign(answer.url); return; }
          keep.disabled = false;
          again.disabled = false;
          say("");
          fail(answer.error || words.failed);
        })
        .catch(function () { keep.disabled = false; again.disabled = false; say(""); fail(words.failed); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var can = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
    document.querySelectorAll("[data-recorder]").forEach(function (box) {
      if (can) { box.hidden = false; setup(box); }
      else { var note = box.parentNode.querySelector("[data-no-mic]"); if (note) note.hidden = false; }
    });
  });
})();
