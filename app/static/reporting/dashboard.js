/* Operators' dashboard: a "PNG" button beside each chart's SVG download.
 *
 * Progressive enhancement: without JavaScript the page shows the CSV/SVG links only; this script
 * inserts the PNG buttons. A click draws the chart's SVG (the inline one in the chart's figure, or
 * else the SVG fetched from the download link, same origin) onto a canvas at 2x the SVG's viewBox
 * size on white and saves it as the link's data-png name. No network beyond the page's origin, no
 * inline script, no eval: it runs under "script-src 'self'" (drawing needs "img-src data:" and
 * fetching "connect-src 'self'" if a stricter policy is ever set).
 */
(function () {
  "use strict";

  var SCALE = 2;
  var SVG_NS = "http://www.w3.org/2000/svg";

  function svgSize(svg) {
    var box = svg.viewBox && svg.viewBox.baseVal;
    if (box && box.width > 0 && box.height > 0) {
      return { width: box.width, height: box.height };
    }
    var rect = svg.getBoundingClientRect();
    return { width: rect.width || 640, height: rect.height || 400 };
  }

  function inlineSvg(link) {
    // one chart: draw it; several (the trend panels): the download link's SVG holds them all
    var section = link.closest("section");
    var svgs = section ? section.querySelectorAll(".chart svg") : [];
    return svgs.length === 1 ? svgs[0] : null;
  }

  function fetchedSvg(url) {
    return fetch(url, { credentials: "same-origin" }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    }).then(function (text) {
      var doc = new DOMParser().parseFromString(text, "image/svg+xml");
      var root = doc.documentElement;
      if (!root || root.namespaceURI !== SVG_NS || root.localName !== "svg") {
        throw new Error("not an SVG document");
      }
      return root;
    });
  }

  function toPng(svg) {
    var size = svgSize(svg);
    var copy = svg.cloneNode(true);
    // The charts say width="100%"; as an image the SVG needs its own pixel size.
    copy.setAttribute("xmlns", SVG_NS);
    copy.setAttribute("width", String(size.width));
    copy.setAttribute("height", String(size.height));
    var source = new XMLSerializer().serializeToString(copy);
    var url = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(source);
    return new Promise(function (resolve, reject) {
      var img = new Image();
      img.onload = function () {
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(size.width * SCALE);
        canvas.height = Math.round(size.height * SCALE);
        var ctx = canvas.getContext("2d");
        ctx.fillStyle = "#fff";
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) {
          if (blob) {
            resolve(blob);
          } else {
            reject(new Error("canvas gave no PNG"));
          }
        }, "image/png");
      };
      img.onerror = function () {
        reject(new Error("the SVG could not be drawn"));
      };
      img.src = url;
    });
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function addButton(link) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "png";
    button.textContent = "PNG";
    // the page gives the words in its language
    button.title = link.getAttribute("data-png-title") || "PNG";
    button.addEventListener("click", function () {
      var inline = inlineSvg(link);
      button.disabled = true;
      button.removeAttribute("data-error");
      (inline ? Promise.resolve(inline) : fetchedSvg(link.href))
        .then(toPng)
        .then(function (blob) { save(blob, link.getAttribute("data-png")); })
        .catch(function (err) {
          button.setAttribute("data-error", String(err && err.message || err));
          button.title = (link.getAttribute("data-png-failed") || "PNG") + ": " +
            button.getAttribute("data-error");
        })
        .then(function () { button.disabled = false; });
    });
    link.after(" · ", button);
  }

  function init() {
    if (!window.HTMLCanvasElement || !window.fetch || !window.Promise) {
      return;
    }
    document.querySelectorAll(".downloads a[data-png]").forEach(addButton);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
