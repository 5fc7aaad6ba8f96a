// Call page: seek from words and evidence, highlight the utterance being played, send
// reviews, disputes and tags as JSON and show the re-computed score.
(function () {
  const cfg = window.CALLQA;
  const player = document.getElementById("player");
  const utts = Array.from(document.querySelectorAll(".utt"));
  const status = document.getElementById("status-line");
  const api = "/api/t/" + encodeURIComponent(cfg.tenant);

  function seek(t) {
    player.currentTime = t;
    const p = player.play();
    if (p && p.catch) p.catch(function () {});  // autoplay may be refused; the seek stays
    highlight();
  }
  document.getElementById("transcript").addEventListener("click", function (ev) {
    const w = ev.target.closest(".w");
    if (w) seek(parseFloat(w.dataset.start));
  });
  document.querySelectorAll(".evidence").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      seek(parseFloat(a.dataset.start));
    });
  });
  function highlight() {
    const t = player.currentTime;
    utts.forEach(function (u) {
      const on = t >= parseFloat(u.dataset.start) && t < parseFloat(u.dataset.end);
      u.classList.toggle("current", on);
      if (on && u.scrollIntoViewIfNeeded) u.scrollIntoViewIfNeeded();
    });
  }
  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);

  function fixed(x) { return Number(x).toFixed(1); }  // as the page renders numbers

  async function post(url, body) {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(body), credentials: "same-origin"});
    const data = await r.json().catch(function () { return {}; });
    if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
    return data;
  }
  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "error" : "ok";
  }
  document.querySelectorAll(".item").forEach(function (item) {
    const crit = item.dataset.criterion;
    const base = api + "/scorecards/" + cfg.scorecardId + "/items/" + encodeURIComponent(crit);
    const rf = item.querySelector(".review-form");
    if (rf) rf.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      try {
        const d = await post(base + "/review", {verdict: rf.verdict.value, comment: rf.comment.value});
        document.getElementById("total-score").textContent = fixed(d.total_score);
        const g = document.getElementById("grade");
        g.textContent = d.grade;
        g.className = "grade grade-" + d.grade;
        document.getElementById("fatal-flag").hidden = !d.has_fatal;
        document.getElementById("review-flag").hidden = !d.needs_review;
        item.querySelector(".status").textContent = d.item.status;
        item.querySelector(".points").textContent =
          fixed(d.item.points_earned) + "/" + fixed(d.item.points_possible);
        item.className = "item status-" + d.item.status;
        say(crit + ": " + d.item.status + " saved; score " + fixed(d.total_score) + " (" + d.grade + ")");
      } catch (e) { say(e.message, true); }
    });
    const df = item.querySelector(".dispute-form");
    if (df) df.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      try {
        const d = await post(base + "/disputes", {reason: df.reason.value});
        say("dispute " + d.dispute_id + " opened for " + crit);
      } catch (e) { say(e.message, true); }
    });
  });
  const tf = document.getElementById("tag-form");
  if (tf) tf.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      await post(api + "/cases/tags", {call_id: cfg.callId, label: tf.label.value,
                                       criterion_id: tf.criterion_id.value, note: tf.note.value});
      say("tagged as " + tf.label.value + " example");
    } catch (e) { say(e.message, true); }
  });
})();
