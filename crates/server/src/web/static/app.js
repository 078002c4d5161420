// Keyboard navigation of case lists: j and k move between rows, Enter
// opens the selected case (it is a focused link), / jumps to the filters.
// The pages work without this script.
"use strict";

document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (target instanceof HTMLElement && target.closest("input, select, textarea, button")) return;

  const links = Array.from(document.querySelectorAll("table.queue a.case-link"));
  if (event.key === "/") {
    const filter = document.getElementById("filter-first");
    if (filter) {
      filter.focus();
      event.preventDefault();
    }
    return;
  }
  if ((event.key !== "j" && event.key !== "k") || links.length === 0) return;

  const current = links.indexOf(document.activeElement);
  let next = current + (event.key === "j" ? 1 : -1);
  if (current === -1) next = 0;
  next = Math.max(0, Math.min(links.length - 1, next));
  for (const row of document.querySelectorAll("table.queue tr.selected")) row.classList.remove("selected");
  links[next].closest("tr").classList.add("selected");
  links[next].focus();
  event.preventDefault();
});
