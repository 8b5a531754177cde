// Starts Swagger UI on the OpenAPI document named by the page. Kept in a
// file of its own so the page's Content-Security-Policy needs no inline
// script.
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.getAttribute("data-spec-url"),
    domNode: el,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    displayRequestDuration: true,
    persistAuthorization: true,
    tryItOutEnabled: false,
    defaultModelsExpandDepth: 0,
    validatorUrl: null
  });
})();
