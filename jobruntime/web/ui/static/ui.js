// The only script of the web interface: the live log of a result page and the object pickers of a run form.
"use strict";

function levelFilter() {
  const select = document.getElementById("level");
  const apply = () => {
    document.querySelectorAll("#log tbody tr").forEach((row) => {
      row.classList.toggle("filtered", select.value !== "" && row.dataset.level !== select.value);
    });
  };
  select.addEventListener("change", apply);
  return apply;
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;  // text, never HTML: a log message cannot inject markup
  return td;
}

function liveLog(section) {
  const applyFilter = levelFilter();
  if (section.dataset.live !== "true") return;
  const body = document.querySelector("#log tbody");
  const status = document.getElementById("status");
  const source = new EventSource(section.dataset.stream);
  source.addEventListener("log", (event) => {
    const entry = JSON.parse(event.data);
    if (body.querySelector(`tr[data-seq="${entry.seq}"]`)) return;
    const row = document.createElement("tr");
    row.dataset.seq = entry.seq;
    row.dataset.level = entry.log_level;
    const level = document.createElement("span");
    level.className = `level level-${entry.log_level}`;
    level.textContent = entry.log_level;
    const levelCell = cell("");
    levelCell.appendChild(level);
    row.append(cell(new Date(entry.created).toTimeString().slice(0, 8)), levelCell, cell(entry.log_object || ""),
               cell(entry.message, "message"));
    body.appendChild(row);
    applyFilter();
  });
  source.addEventListener("status", (event) => {
    const state = JSON.parse(event.data);
    status.textContent = state.status;
    status.className = `status status-${state.status}`;
    if (["completed", "failed", "errored"].includes(state.status)) {
      source.close();
      window.location.reload();  // the finished page shows the output, and the log as Markdown
    }
  });
}

function picker(container) {
  const search = container.querySelector(".picker-search");
  const select = container.querySelector("select");
  const refersTo = container.dataset.refersTo ? container.dataset.refersTo.split(",") : [];
  let timer = null;
  const refresh = async () => {
    const params = new URLSearchParams({ q: search.value });
    refersTo.forEach((name) => {
      const field = document.querySelector(`[name="${name}"]`);
      if (field && field.value) params.set(name, field.value);
    });
    const answer = await fetch(`${container.dataset.url}?${params}`, { credentials: "same-origin" });
    if (!answer.ok) return;
    const { results } = await answer.json();
    const chosen = new Set(Array.from(select.selectedOptions, (option) => option.value).filter((value) => value !== ""));
    Array.from(select.options).forEach((option) => {
      if (option.value !== "" && option.value !== "null" && !chosen.has(option.value)) option.remove();
    });
    results.forEach(({ id, display }) => {
      if (!Array.from(select.options).some((option) => option.value === id)) select.add(new Option(display, id));
    });
    if (!select.multiple && results.length === 1 && !chosen.size) select.value = results[0].id;
  };
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  refersTo.forEach((name) => {
    const field = document.querySelector(`[name="${name}"]`);
    if (field) field.addEventListener("change", refresh);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const result = document.getElementById("result");
  if (result) liveLog(result);
  document.querySelectorAll(".picker").forEach(picker);
});
