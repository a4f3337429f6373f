// 통계: put in the charts the server was still drawing when the page was sent (console/charts.py).
// A chart that cannot be had is taken away; the table beside it has every figure.
document.querySelectorAll("figure.chart[data-later]").forEach(async (figure) => {
  try {
    const answer = await fetch(figure.dataset.later, { credentials: "same-origin", cache: "no-store" });
    if (!answer.ok) throw new Error(String(answer.status));
    figure.innerHTML = await answer.text();
    figure.removeAttribute("data-later");
    figure.setAttribute("aria-busy", "false");
  } catch (e) {
    figure.remove();
  }
});
