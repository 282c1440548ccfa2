// Instants are written in UTC; shown here in the viewer's own zone, the UTC text kept as the tooltip.
document.querySelectorAll("time[datetime]").forEach((t) => {
  const at = new Date(t.getAttribute("datetime"));
  if (isNaN(at)) return;
  t.textContent = at.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", timeZoneName: "short" });
});
