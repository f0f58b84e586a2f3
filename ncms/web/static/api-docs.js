// The API's documentation page (/api/v1/docs): Swagger UI on the served OpenAPI document.
// A file of its own, not inline: the content security policy runs scripts from this site only.
(function () {
  var root = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    tryItOutEnabled: false,
  });
})();
