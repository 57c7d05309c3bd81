// Draw every Mermaid diagram on the page, and again whenever htmx swaps new ones in. Only the
// pages with diagrams load Mermaid (3.5 MB), so the others skip all of this.
(function () {
  function draw(root) {
    var nodes = root.querySelectorAll(".mermaid:not([data-processed])");
    if (nodes.length && window.mermaid) {
      window.mermaid.run({ nodes: nodes }).catch(function (error) { console.error(error); });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (!window.mermaid) { return; }
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
                                sequence: { mirrorActors: false },
                                flowchart: { rankSpacing: 110, nodeSpacing: 70, curve: "basis" } });
    draw(document);
    document.body.addEventListener("htmx:afterSwap", function (event) { draw(event.detail.elt); });
    document.body.addEventListener("htmx:afterSettle", function () { draw(document); });
  });
})();
