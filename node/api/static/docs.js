// Starts Swagger UI for /docs (node/api/docs.py). A file rather than an inline script, so the node's
// Content-Security-Policy can forbid inline scripts; the settings are FastAPI's own defaults, with the
// online validator off: its badge would be fetched from a host other than the node.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
