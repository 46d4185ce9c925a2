// Starts Swagger UI on sluice's /docs page (internal/apidocs). This is a file of its
// own, not an inline script, so that the page's Content-Security-Policy can refuse
// every inline script.
//
// "Try it out" sends requests to the sluice that serves this page, the one origin the
// page's policy lets it reach: the document's servers (such as the default address
// http://localhost:8080) are replaced with the page's own origin before rendering.
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  var specURL = root.dataset.specUrl;

  function here(spec) {
    if (spec.openapi) {
      spec.servers = [{ url: window.location.origin, description: "this sluice, which serves this page" }];
      Object.keys(spec.paths || {}).forEach(function (path) {
        var item = spec.paths[path];
        delete item.servers;
        Object.keys(item).forEach(function (key) {
          if (item[key] && typeof item[key] === "object") delete item[key].servers;
        });
      });
    } else if (spec.swagger) {
      spec.host = window.location.host;
      spec.schemes = [window.location.protocol.replace(":", "")];
    }
    return spec;
  }

  fetch(specURL, { headers: { Accept: "application/json" } })
    .then(function (resp) {
      if (!resp.ok) throw new Error("GET " + specURL + " answered " + resp.status);
      return resp.json();
    })
    .then(function (spec) {
      var ui = SwaggerUIBundle({
        spec: here(spec),
        domNode: root,
        deepLinking: true,
        // Never send the document to the public validator.
        validatorUrl: null,
        // Ignore ?url= and ?configUrl= in the address: the page renders sluice's document.
        queryConfigEnabled: false,
        displayRequestDuration: true
      });
      ui.specActions.updateUrl(specURL); // the link under the title; nothing is fetched
    })
    .catch(function (err) {
      root.textContent = "The API description could not be loaded: " + err.message;
    });
})();
