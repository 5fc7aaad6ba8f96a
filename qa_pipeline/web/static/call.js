// Call page: seek from words and evidence, highlight the utterance being played, send
// reviews, disputes and tags as JSON, show the re-computed score, and the monitor's keys:
// Space play/pause, J/K next/previous item, C confirm, O overturn, A confirm all, N next call,
// P point at the transcript lines that are the evidence of the verdict (Esc: done).
(function () {
  const cfg = window.CALLQA;
  const t = function (m) { return (cfg.t && cfg.t[m]) || m; };
  const player = document.getElementById("player");
  const utts = Array.from(document.querySelectorAll(".utt"));
  const status = document.getElementById("status-line");
  const api = "/api/t/" + encodeURIComponent(cfg.tenant);
  const items = Array.from(document.querySelectorAll(".item[data-severity]"));
  let current = -1;

  function seek(s) {
    player.currentTime = s;
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
    const now = player.currentTime;
    utts.forEach(function (u) {
      const on = now >= parseFloat(u.dataset.start) && now < parseFloat(u.dataset.end);
      u.classList.toggle("current", on);
      if (on && u.scrollIntoViewIfNeeded) u.scrollIntoViewIfNeeded();
    });
  }
  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);

  // Waveform of the recording with each item's evidence as a region (vendored wavesurfer.js);
  // it drives the same <audio> element, so seeking either moves both.
  if (window.WaveSurfer && document.getElementById("waveform")) {
    const regions = WaveSurfer.Regions.create();
    const ws = WaveSurfer.create({container: "#waveform", media: player, height: 64,
                                  waveColor: "#9fb3c8", progressColor: "#1f3a5f",
                                  cursorColor: "#b3261e", plugins: [regions]});
    ws.on("decode", function () {
      document.querySelectorAll(".item").forEach(function (item) {
        const failed = item.classList.contains("status-fail");
        item.querySelectorAll(".evidence").forEach(function (a) {
          const start = parseFloat(a.dataset.start), end = parseFloat(a.dataset.end);
          if (!(end > start)) return;
          regions.addRegion({start: start, end: end, drag: false, resize: false,
                             color: failed ? "rgba(179,38,30,0.25)" : "rgba(47,111,179,0.18)",
                             id: item.dataset.criterion + "@" + start});
        });
      });
      document.getElementById("waveform").dataset.regions = String(regions.getRegions().length);
    });
    regions.on("region-clicked", function (region, ev) {
      ev.stopPropagation();
      seek(region.start);
    });
  }

  function fixed(x) { return Number(x).toFixed(1); }  // as the page renders numbers
  const statusNames = {"pass": t("pass"), "fail": t("fail"),
                       "not_applicable": t("not applicable"), "needs_review": t("needs review")};

  async function post(url, body) {
    const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(body || {}), credentials: "same-origin"});
    const data = await r.json().catch(function () { return {}; });
    if (!r.ok) throw new Error(data.detail || ("HTTP " + r.status));
    return data;
  }
  function say(text, bad) {
    status.textContent = text;
    status.className = bad ? "error" : "ok";
  }
  function showCard(d) {
    document.getElementById("total-score").textContent = fixed(d.total_score);
    const g = document.getElementById("grade");
    g.textContent = d.grade;
    g.className = "grade grade-" + d.grade;
    document.getElementById("fatal-flag").hidden = !d.has_fatal;
    document.getElementById("review-flag").hidden = !d.needs_review;
    if (d.human_reviewed !== undefined)
      document.getElementById("reviewed-flag").hidden = !d.human_reviewed;
  }
  function showItem(item, it) {
    item.querySelector(".status").textContent = statusNames[it.status] || it.status;
    item.querySelector(".points").textContent =
      fixed(it.points_earned) + "/" + fixed(it.points_possible);
    item.className = "item status-" + it.status + (item === items[current] ? " selected" : "");
  }
  // --- pointing at evidence ---------------------------------------------------------------
  // One item at a time is the target: the transcript's checkboxes show and mirror its
  // hidden "utterances" field, which the review form sends (indices only).
  const picks = Array.from(document.querySelectorAll("#transcript .pick"));
  const hint = document.getElementById("pointing-hint");
  let pointing = null;
  function pickedOf(item) {
    const f = item.querySelector("input[name=utterances]");
    return f && f.value ? f.value.split(",").map(Number) : [];
  }
  function showPicked(item, indices) {
    const box = item.querySelector(".pointed");
    const list = item.querySelector(".pointed-list");
    if (!box || !list) return;
    list.textContent = "";
    indices.forEach(function (i) {
      const u = document.getElementById("utt-" + i);
      if (!u) return;
      const a = document.createElement("a");
      a.href = "#utt-" + i;
      a.className = "pointed-utt";
      a.dataset.utt = String(i);
      a.dataset.start = u.dataset.start;
      const who = u.querySelector("b");
      a.textContent = "#" + i + " " + (who ? who.textContent : "") + ": “" + u.dataset.text + "”";
      list.appendChild(a);
      list.appendChild(document.createTextNode(" "));
    });
    box.hidden = !indices.length;
  }
  function stopPointing() {
    if (!pointing) return;
    const btn = pointing.querySelector(".point-button");
    if (btn) btn.setAttribute("aria-pressed", "false");
    picks.forEach(function (p) { p.hidden = true; });
    document.body.classList.remove("pointing");
    if (hint) hint.hidden = true;
    const back = btn || pointing;
    pointing = null;
    back.focus({preventScroll: true});
  }
  function startPointing(item) {
    if (pointing === item) { stopPointing(); return; }
    if (pointing) stopPointing();
    pointing = item;
    const chosen = pickedOf(item);
    picks.forEach(function (p) {
      p.checked = chosen.indexOf(Number(p.value)) >= 0;
      p.hidden = false;
    });
    item.querySelector(".point-button").setAttribute("aria-pressed", "true");
    document.body.classList.add("pointing");
    if (hint) {
      hint.hidden = false;
      document.getElementById("pointing-target").textContent = item.dataset.criterion;
    }
    if (picks.length) picks[0].focus();
  }
  picks.forEach(function (p) {
    p.addEventListener("change", function () {
      if (!pointing) return;
      const chosen = picks.filter(function (x) { return x.checked; })
        .map(function (x) { return Number(x.value); });
      pointing.querySelector("input[name=utterances]").value = chosen.join(",");
      showPicked(pointing, chosen);
      say(pointing.dataset.criterion + ": " + t("lines pointed at") + " " +
          (chosen.length ? chosen.map(function (i) { return "#" + i; }).join(", ") : "0"));
    });
  });
  document.addEventListener("click", function (ev) {
    const a = ev.target.closest && ev.target.closest(".pointed-utt");
    if (!a) return;
    ev.preventDefault();
    seek(parseFloat(a.dataset.start));
  });

  items.forEach(function (item) {
    const crit = item.dataset.criterion;
    const pb = item.querySelector(".point-button");
    if (pb) pb.addEventListener("click", function () { startPointing(item); });
    const base = api + "/scorecards/" + cfg.scorecardId + "/items/" + encodeURIComponent(crit);
    const rf = item.querySelector(".review-form");
    if (rf) rf.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      if (item.dataset.severity === "fatal" && rf.verdict.value !== item.dataset.provisional
          && !rf.comment.value.trim()) {
        say(t("a comment is required to overturn a fatal item"), true);
        rf.comment.focus();
        return;
      }
      try {
        const d = await post(base + "/review", {verdict: rf.verdict.value, comment: rf.comment.value,
                                                utterances: pickedOf(item)});
        if (pointing === item) stopPointing();
        showCard(d);
        showItem(item, d.item);
        showPicked(item, (d.item.review && d.item.review.utterances) || []);
        say(crit + ": " + t("saved") + " · " + t("score") + " " + fixed(d.total_score) + " (" + d.grade + ")");
      } catch (e) { say(e.message, true); }
    });
    const df = item.querySelector(".dispute-form");
    if (df) df.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      try {
        await post(base + "/disputes", {reason: df.reason.value});
        say(t("dispute opened") + ": " + crit);
        location.reload();  // the dispute list and audit trail change
      } catch (e) { say(e.message, true); }
    });
  });
  const confirmAll = document.getElementById("confirm-all");
  async function confirmRemaining() {
    try {
      const d = await post(api + "/scorecards/" + cfg.scorecardId + "/confirm");
      showCard(d);
      d.items.forEach(function (it) {
        const el = document.getElementById("item-" + it.criterion_id);
        if (el && el.dataset.severity) showItem(el, it);
      });
      say(t("all remaining verdicts confirmed") + " · " + t("score") + " " + fixed(d.total_score));
    } catch (e) { say(e.message, true); }
  }
  if (confirmAll) confirmAll.addEventListener("click", confirmRemaining);
  const tf = document.getElementById("tag-form");
  if (tf) tf.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    try {
      await post(api + "/cases/tags", {call_id: cfg.callId, label: tf.label.value,
                                       criterion_id: tf.criterion_id.value, note: tf.note.value});
      say(t("tagged as") + " " + tf.label.options[tf.label.selectedIndex].text);
    } catch (e) { say(e.message, true); }
  });

  // --- keyboard review ---------------------------------------------------------------------
  function select(i) {
    if (!items.length) return;
    if (current >= 0) items[current].classList.remove("selected");
    current = (i + items.length) % items.length;
    items[current].classList.add("selected");
    items[current].focus({preventScroll: true});
    items[current].scrollIntoView({block: "nearest"});
  }
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && pointing) { ev.preventDefault(); stopPointing(); return; }
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea" || ev.ctrlKey || ev.metaKey
        || ev.altKey) return;
    const key = ev.key.toLowerCase();
    if (key === " ") {
      ev.preventDefault();
      if (player.paused) { const p = player.play(); if (p && p.catch) p.catch(function () {}); }
      else player.pause();
    } else if (key === "j") { select(current + 1); }
    else if (key === "k") { select(current - 1); }
    else if (key === "c" && current >= 0) {
      const rf = items[current].querySelector(".review-form");
      if (rf) { rf.verdict.value = items[current].dataset.provisional; rf.requestSubmit(); }
    } else if (key === "o" && current >= 0) {
      const rf = items[current].querySelector(".review-form");
      if (rf) {
        const now = rf.verdict.value;
        rf.verdict.value = now === "fail" ? "pass" : "fail";
        rf.comment.focus();
        ev.preventDefault();
      }
    } else if (key === "p" && current >= 0) {
      if (items[current].querySelector(".point-button")) {
        ev.preventDefault();
        startPointing(items[current]);
      }
    } else if (key === "a" && confirmAll) { confirmRemaining(); }
    else if (key === "n") {
      const next = document.getElementById("next-call");
      if (next) location.href = next.href;
    }
  });
})();
