/* Draws every chart of a page with the vendored ECharts, without inline script (the content
   security policy forbids it): an element with data-chart holds the ECharts option as JSON,
   one with data-chart-url names a JSON endpoint that returns it. The server builds the options;
   this file only adds what JSON cannot carry: number formats of the page's language, ARIA
   descriptions, tooltips drawn on the canvas (HTML tooltips need inline styles), resizing.
   An option may say {"ncms": {"format": "money" | "percent" | "number"}} for its values.
   Charts swapped in by htmx are drawn too. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || "zh-CN";
  var formats = {
    number: new Intl.NumberFormat(lang),
    money: new Intl.NumberFormat(lang, {style: "currency", currency: "CNY"}),
    percent: new Intl.NumberFormat(lang, {style: "percent", maximumFractionDigits: 1})
  };

  function prepare(option) {
    var extra = option.ncms || {};
    delete option.ncms;
    var format = formats[extra.format] || formats.number;
    option.aria = Object.assign({enabled: true}, option.aria || {});
    option.tooltip = Object.assign({trigger: "axis", renderMode: "richText"}, option.tooltip || {});
    option.tooltip.valueFormatter = function (value) {
      return value === null || value === undefined ? "—" : format.format(value);
    };
    if (extra.format === "percent") {  // a share's axis reads 53%, not 0.53
      [].concat(option.xAxis || [], option.yAxis || []).forEach(function (axis) {
        if (axis.type === "value" && !(axis.axisLabel && axis.axisLabel.formatter)) {
          axis.axisLabel = Object.assign({}, axis.axisLabel, {formatter: function (value) { return format.format(value); }});
        }
      });
    }
    return option;
  }

  function draw(element, option) {
    var chart = echarts.getInstanceByDom(element) || echarts.init(element, null, {locale: lang.indexOf("zh") === 0 ? "ZH" : "EN"});
    chart.setOption(prepare(option), true);
    element.setAttribute("data-chart-drawn", "true");
  }

  function fail(element, error) {
    element.textContent = element.getAttribute("aria-label") + ": " + error;
    element.classList.add("chart-failed");
  }

  function render(root) {
    var elements = (root || document).querySelectorAll("[data-chart], [data-chart-url]");
    Array.prototype.forEach.call(elements, function (element) {
      var inline = element.getAttribute("data-chart");
      var url = element.getAttribute("data-chart-url");
      if (inline) {
        try { draw(element, JSON.parse(inline)); } catch (error) { fail(element, error); }
      } else if (url) {
        fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
          .then(function (response) {
            if (!response.ok) { throw new Error(response.status + " " + response.statusText); }
            return response.json();
          })
          .then(function (option) { draw(element, option); })
          .catch(function (error) { fail(element, error.message); });
      }
    });
  }

  function resize() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-chart-drawn]"), function (element) {
      var chart = echarts.getInstanceByDom(element);
      if (chart) { chart.resize(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { render(document); });
  document.addEventListener("htmx:afterSwap", function (event) { render(event.target); });
  window.addEventListener("resize", resize);
  window.ncmsCharts = {render: render};
}());
