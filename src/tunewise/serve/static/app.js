"use strict";
// the server writes these into the page's <body data-…> (no inline script: the page's CSP)
const DEFAULT_SYSTEM = document.body.dataset.defaultSystem;
const NEEDS_KEY = document.body.dataset.needsKey === "true";
// the key is kept for this tab only (sessionStorage), never where a later page could read it
const KEY_STORE = window.sessionStorage;
const $ = (id) => document.getElementById(id);
const history = [];  // earlier turns, sent to systems without retrieval

function headers() {
  const h = {"Content-Type": "application/json"};
  const key = $("key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function loadSystems() {
  const response = await fetch("/v1/models", {headers: headers()});
  if (!response.ok) { showError(null, await errorText(response)); return; }
  const select = $("system");
  select.innerHTML = "";
  for (const m of (await response.json()).data) {
    const option = new Option(m.id + (m.retrieval ? "  (with documents)" : ""), m.id);
    option.dataset.retrieval = m.retrieval;
    select.add(option);
  }
  select.value = localStorage.getItem("tunewise.system") || DEFAULT_SYSTEM;
  if (!select.value && select.options.length) select.selectedIndex = 0;
}

async function errorText(response) {
  try { return (await response.json()).error.message; } catch (e) { return response.statusText; }
}

function showError(turn, message) {
  const target = turn ? turn.querySelector(".answer") : $("log");
  const p = document.createElement("p");
  p.className = "error";
  p.textContent = message;
  target.appendChild(p);
}

function renderAnswer(element, text) {
  // citations [n] become links to the numbered source below
  element.textContent = "";
  let last = 0;
  for (const match of text.matchAll(/\[(\d+)\]/g)) {
    element.append(text.slice(last, match.index));
    const cite = document.createElement("span");
    cite.className = "cite";
    cite.textContent = match[0];
    cite.onclick = () => openSource(element.closest(".turn"), match[1]);
    element.append(cite);
    last = match.index + match[0].length;
  }
  element.append(text.slice(last));
}

function openSource(turn, number) {
  const item = turn.querySelector(`.sources li[data-number="${number}"]`);
  if (!item) return;
  item.classList.add("open", "flash");
  item.scrollIntoView({block: "nearest"});
  setTimeout(() => item.classList.remove("flash"), 1200);
}

function openFile(url) {
  // the original file, at the cited page for a PDF (#page=N): fetched with the key, then opened
  const open = document.createElement("a");
  open.className = "open-file";
  open.textContent = "open";
  open.href = url;
  open.onclick = async (event) => {
    event.preventDefault();
    const [path, anchor] = url.split("#");
    const response = await fetch(path, {headers: headers()});
    if (!response.ok) { alert(await errorText(response)); return; }
    const blob = URL.createObjectURL(await response.blob());
    window.open(blob + (anchor ? "#" + anchor : ""), "_blank");
  };
  return open;
}

function renderSources(turn, sources) {
  const list = turn.querySelector(".sources");
  list.innerHTML = "";
  for (const s of sources) {
    const item = document.createElement("li");
    item.dataset.number = s.number;
    const link = document.createElement("a");
    link.className = "source";
    link.textContent = `[${s.number}] ${s.title || s.source}` + (s.page ? `, page ${s.page}` : "");
    link.title = s.source;
    link.onclick = () => item.classList.toggle("open");
    const score = document.createElement("span");
    score.className = "meta";
    score.textContent = `  score ${s.score.toFixed(3)} · ${s.source}`;
    const passage = document.createElement("div");
    passage.className = "passage";
    passage.textContent = s.text;
    item.append(link, score);
    if (s.url) item.append(" ", openFile(s.url));
    item.append(passage);
    list.append(item);
  }
}

async function ask(question) {
  $("empty")?.remove();
  const turn = document.createElement("section");
  turn.className = "turn";
  turn.innerHTML = '<div class="question"></div><div class="answer"></div>' +
                   '<ul class="sources"></ul><div class="meta"></div>';
  turn.querySelector(".question").textContent = question;
  $("log").append(turn);
  turn.scrollIntoView({block: "end"});
  const system = $("system").value;
  const retrieval = $("system").selectedOptions[0]?.dataset.retrieval === "true";
  const messages = retrieval ? [{role: "user", content: question}]
                             : [...history, {role: "user", content: question}];
  const started = performance.now();
  const response = await fetch("/v1/chat/completions", {
    method: "POST", headers: headers(),
    body: JSON.stringify({model: system, messages, stream: true,
                          ...(retrieval && $("collection").value.trim()
                              ? {collection: $("collection").value.trim()} : {})})});
  if (!response.ok) { showError(turn, await errorText(response)); return; }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const answer = turn.querySelector(".answer");
  let text = "", buffer = "", usage = null, firstToken = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 2);
      if (!event.startsWith("data:")) continue;
      const data = event.slice(5).trim();
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { showError(turn, chunk.error.message); continue; }
      if (chunk.sources) renderSources(turn, chunk.sources);
      if (chunk.usage) usage = chunk.usage;
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        if (firstToken === null) firstToken = performance.now() - started;
        text += delta;
        renderAnswer(answer, text);
      }
    }
  }
  history.push({role: "user", content: question}, {role: "assistant", content: text});
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  turn.querySelector(".meta").textContent = `${system} · ${seconds} s` +
    (firstToken !== null ? ` · first token ${(firstToken / 1000).toFixed(1)} s` : "") +
    (usage ? ` · ${usage.prompt_tokens} prompt + ${usage.completion_tokens} answer tokens` : "");
  turn.dataset.done = "true";
}


function collectionQuery() {
  const name = $("collection").value.trim();
  return name ? "?collection=" + encodeURIComponent(name) : "";
}

function upload(file) {
  // XMLHttpRequest, not fetch: it reports upload progress
  const line = document.createElement("li");
  line.textContent = `${file.name}: uploading…`;
  $("uploads").append(line);
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents" + collectionQuery());
    const key = $("key").value.trim();
    if (key) xhr.setRequestHeader("Authorization", "Bearer " + key);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) line.textContent = `${file.name}: ${Math.round(100 * e.loaded / e.total)}%`;
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status < 300) {
        line.textContent = body.status === "unchanged"
          ? `${file.name}: unchanged (already here as ${body.filename})`
          : `${file.name}: ingested, ${body.chunks} chunks` +
            (body.ocr_pages ? `, ${body.ocr_pages} pages read by OCR` : "") +
            (body.warnings?.length ? ` (${body.warnings.join("; ")})` : "");
        line.className = "done";
      } else {
        line.textContent = `${file.name}: refused: ${body.error?.message || xhr.status}`;
        line.className = "refused";
      }
      resolve();
    };
    xhr.onerror = () => { line.textContent = `${file.name}: refused: connection lost`;
                          line.className = "refused"; resolve(); };
    const form = new FormData();
    form.append("file", file);
    xhr.send(form);
  });
}

async function uploadAll(files) {
  for (const file of files) await upload(file);
  loadDocuments();
}

async function loadDocuments() {
  const body = $("documents").querySelector("tbody");
  const response = await fetch("/v1/documents" + collectionQuery(), {headers: headers()});
  if (!response.ok) { body.innerHTML = ""; return; }
  const listed = await response.json();
  body.innerHTML = "";
  for (const doc of listed.data) {
    const row = document.createElement("tr");
    row.innerHTML = "<td></td><td></td><td></td>";
    row.children[0].textContent = doc.source;
    row.children[1].textContent = doc.chunks;
    if (doc.id) {
      const remove = document.createElement("button");
      remove.textContent = "delete";
      remove.className = "delete";
      remove.onclick = async () => {
        const gone = await fetch(`/v1/documents/${doc.id}` + collectionQuery(),
                                 {method: "DELETE", headers: headers()});
        if (gone.ok) loadDocuments(); else showError(null, await errorText(gone));
      };
      row.children[2].append(remove);
    }
    body.append(row);
  }
  loadReports();
}

async function loadReports() {
  const response = await fetch("/v1/reports", {headers: headers()});
  if (!response.ok) return;
  $("reports").innerHTML = "";
  for (const report of (await response.json()).data) {
    const item = document.createElement("li");
    const open = document.createElement("button");
    open.textContent = report.run;
    open.onclick = async () => {
      // the report needs the key, so it is fetched and shown in place, not linked
      const page = await fetch(report.url, {headers: headers()});
      $("report").srcdoc = page.ok ? await page.text() : await errorText(page);
      $("report").hidden = false;
    };
    item.append(open);
    $("reports").append(item);
  }
}

// --- served tasks: GET /v1/tasks, POST /v1/tasks/NAME (text is set as text, never as HTML) ---
let tasks = [];
async function loadTasks() {
  const response = await fetch("/v1/tasks", {headers: headers()});
  const select = $("task");
  select.innerHTML = "";
  if (!response.ok) { $("task-about").textContent = await errorText(response); return; }
  tasks = (await response.json()).data;
  for (const t of tasks) select.add(new Option(t.id, t.id));
  $("task-about").textContent = tasks.length ? "" :
    "No task is served: `tunewise decide --task` registers its winner.";
  describeTask();
}
function describeTask() {
  const t = tasks.find((x) => x.id === $("task").value);
  if (!t) return;
  const what = t.labels ? "labels: " + t.labels.join(", ") : t.keys ? "keys: " + t.keys.join(", ") : "";
  $("task-about").textContent = `${t.task} with ${t.system}${what ? "; " + what : ""}`;
}
async function runTask() {
  const inputs = $("task-inputs").value.split("\n").map((x) => x.trim()).filter((x) => x);
  const body = $("task-results").tBodies[0];
  body.innerHTML = "";
  if (!inputs.length || !$("task").value) return;
  $("task-run").disabled = true;
  try {
    const response = await fetch("/v1/tasks/" + encodeURIComponent($("task").value),
                                 {method: "POST", headers: headers(), body: JSON.stringify({inputs})});
    if (!response.ok) {
      const row = body.insertRow(); const cell = row.insertCell();
      cell.colSpan = 3; cell.className = "error"; cell.textContent = await errorText(response);
      return;
    }
    for (const d of (await response.json()).data) {
      const row = body.insertRow();
      row.className = "task-result";
      row.insertCell().textContent = inputs[d.index];
      const output = row.insertCell();
      output.className = "task-output";
      output.textContent = d.output === null ? "(no valid answer: " + (d.error || "") + ")"
        : typeof d.output === "string" ? d.output : JSON.stringify(d.output);
      row.insertCell().textContent = d.probabilities ? Object.entries(d.probabilities)
        .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ") : "";
    }
  } catch (e) {
    const row = body.insertRow(); const cell = row.insertCell();
    cell.colSpan = 3; cell.className = "error"; cell.textContent = String(e);
  } finally { $("task-run").disabled = false; }
}
$("tasks").addEventListener("toggle", () => { if ($("tasks").open) loadTasks(); });
$("task").addEventListener("change", describeTask);
$("task-run").addEventListener("click", runTask);

$("drop").addEventListener("dragover", (e) => { e.preventDefault(); $("drop").classList.add("over"); });
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault(); $("drop").classList.remove("over"); uploadAll([...e.dataTransfer.files]);
});
$("files").addEventListener("change", () => { uploadAll([...$("files").files]); $("files").value = ""; });
$("library").addEventListener("toggle", () => { if ($("library").open) loadDocuments(); });
$("collection").value = localStorage.getItem("tunewise.collection") || "";
$("collection").addEventListener("change", () => {
  localStorage.setItem("tunewise.collection", $("collection").value.trim());
  if ($("library").open) loadDocuments();
});

$("ask").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  $("send").disabled = true;
  $("question").value = "";
  try { await ask(question); }
  catch (e) { showError(null, String(e)); }
  finally { $("send").disabled = false; $("question").focus(); }
});
$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("ask").requestSubmit(); }
});
$("system").addEventListener("change", () => localStorage.setItem("tunewise.system", $("system").value));
localStorage.removeItem("tunewise.key");  // where an earlier version kept it
$("key").value = KEY_STORE.getItem("tunewise.key") || "";
$("key").addEventListener("change", () => {
  KEY_STORE.setItem("tunewise.key", $("key").value); loadSystems();
  if ($("library").open) loadDocuments();
  if ($("tasks").open) loadTasks();
});
if (NEEDS_KEY) $("key-label").hidden = false;
loadSystems();
