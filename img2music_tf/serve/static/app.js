// The page: choose or drop pictures, send each to POST /api/pieces, follow GET /api/pieces/{id} until done.
"use strict";

const MB = 1 << 20;
let limit = 20 * MB;
let chosen = [];  // [{file, va: <input>}]

const $ = (id) => document.getElementById(id);

function describeModel(about) {
  limit = about.max_upload_bytes;
  $("limit").textContent = `${limit / MB} MB`;
  $("model").textContent = `Music by ${about.model} (${about.preset}), image weights ${about.image_weights}; ` +
    `default decoding ${about.default_decoding}. Files are kept ${Math.round(about.file_lifetime_s / 60)} minutes.`;
}

function choose(files) {
  chosen = [];
  $("chosen").replaceChildren();
  for (const file of files) {
    const item = document.createElement("li");
    const va = document.createElement("input");
    va.placeholder = "VA, e.g. 6.5,3.2";
    va.setAttribute("aria-label", `valence,arousal of ${file.name}`);
    item.append(file.name, va);
    $("chosen").append(item);
    chosen.push({file, va});
  }
  $("make").disabled = chosen.length === 0;
}

function card(name) {
  const piece = $("piece-template").content.firstElementChild.cloneNode(true);
  piece.querySelector(".name").textContent = name;
  $("pieces").append(piece);
  return piece;
}

function show(piece, status) {
  const state = piece.querySelector(".state");
  piece.dataset.state = status.state;
  if (status.files && status.files.picture) piece.querySelector(".picture").src = status.files.picture;
  if (status.state === "queued") {
    state.textContent = status.position === 1 ? "Next in the queue..." : `Waiting: ${status.position} in the queue...`;
  } else if (status.state === "running") {
    state.textContent = `Making music... ${Math.round(status.seconds_running)} s`;
  } else if (status.state === "failed") {
    fail(piece, status.error);
  } else if (status.state === "done") {
    finish(piece, status);
  }
}

function fail(piece, message) {
  piece.dataset.state = "failed";
  piece.classList.add("failed");
  piece.querySelector(".state").textContent = message;
  piece.querySelector(".busy").hidden = true;
}

function va(pair) {
  return pair ? `V ${pair[0].toFixed(2)} A ${pair[1].toFixed(2)}` : "not known";
}

function finish(piece, status) {
  const facts = status.piece;
  piece.querySelector(".busy").hidden = true;
  piece.querySelector(".state").textContent = `Made in ${status.seconds_running.toFixed(1)} s.`;
  piece.querySelector(".roll").src = status.files.piano_roll;
  const audio = piece.querySelector(".audio");
  if (status.files.wav) audio.src = status.files.wav; else audio.hidden = true;
  piece.querySelector(".facts").textContent =
    `${facts.n_notes} notes, ${facts.seconds.toFixed(1)} seconds (${facts.n_tokens} tokens; ` +
    `${facts.generation.method}, seed ${facts.generation.seed}).`;
  piece.querySelector(".va").textContent =
    `Picture VA ${va(facts.image_va)}${facts.image_va_estimated ? " (estimated)" : ""}; ` +
    `music VA ${facts.music_va ? va(facts.music_va) : "not known (no music VA predictor with this model)"}.`;
  const midi = piece.querySelector(".midi");
  midi.href = status.files.midi;
  const wav = piece.querySelector(".wav");
  if (status.files.wav) wav.href = status.files.wav; else wav.hidden = true;
  piece.querySelector(".made").textContent =
    `Made by ${status.model} (${status.preset}) with image weights ${status.image_weights}.`;
  piece.querySelector(".result").hidden = false;
}

async function follow(piece, url) {
  for (;;) {
    let status;
    try {
      const response = await fetch(url);
      status = await response.json();
      if (!response.ok) return fail(piece, status.error);
    } catch (problem) {
      return fail(piece, `the server did not answer (${problem.message})`);
    }
    show(piece, status);
    if (status.state === "done" || status.state === "failed") return;
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function send(entry) {
  const piece = card(entry.file.name);
  piece.querySelector(".state").textContent = "Sending...";
  if (entry.file.size > limit) {
    return fail(piece, `${entry.file.name} is ${(entry.file.size / MB).toFixed(1)} MB; the limit is ${limit / MB} MB a picture`);
  }
  const form = new FormData();
  form.append("picture", entry.file, entry.file.name);
  form.append("va", entry.va.value);
  for (const field of ["decoding", "seed", "tries"]) form.append(field, $(field).value);
  try {
    const response = await fetch("/api/pieces", {method: "POST", body: form});
    const status = await response.json();
    if (!response.ok) return fail(piece, status.error);
    show(piece, status);
    await follow(piece, status.url);
  } catch (problem) {
    fail(piece, `the server did not answer (${problem.message})`);
  }
}

function start() {
  fetch("/api/model").then((r) => r.json()).then(describeModel);
  $("pictures").addEventListener("change", (event) => choose(event.target.files));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    choose(event.dataTransfer.files);
  });
  $("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const sending = chosen;
    choose([]);
    $("pictures").value = "";
    sending.forEach(send);
  });
}

start();
