/// The mustache templates, style sheet and script of the HTML reports
/// (docs/report.md). Kept as constants so the binary carries them: a report
/// must render wherever the tool is copied.
enum ReportTemplates {
    static let page = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{^served}}<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">{{/served}}
        <meta name="generator" content="customer-health">
        <title>{{title}}</title>
        <style>{{{style}}}</style>
        </head>
        <body>
        {{{bodyHTML}}}
        <footer><p>Made by customer-health from {{#madeFrom}}{{.}}{{/madeFrom}}{{^madeFrom}}the run's own files{{/madeFrom}}. Charts drawn with Chart.js {{chartVersion}} (MIT license), inlined: this page needs no network.</p></footer>
        <script type="application/json" id="report-data">{{{data}}}</script>
        <script>{{{chartJS}}}</script>
        <script>{{{script}}}</script>
        </body>
        </html>

        """#

    static let table = #"""
        <div class="table-wrap"><table id="{{id}}"><caption>{{caption}}</caption>
        <thead><tr>{{#columns}}<th scope="col"{{#sortable}} data-sort="{{sortKey}}"{{/sortable}}>{{name}}</th>{{/columns}}</tr></thead>
        <tbody>
        {{#rows}}<tr>{{#cells}}<td{{#numeric}} class="num"{{/numeric}}{{#hasKey}} data-key="{{dataKey}}"{{/hasKey}}{{#hasValue}} data-value="{{dataValue}}"{{/hasValue}}>{{#hasHref}}<a href="{{href}}">{{text}}</a>{{/hasHref}}{{^hasHref}}{{text}}{{/hasHref}}{{#isList}}<ul>{{#items}}<li>{{.}}</li>{{/items}}</ul>{{/isList}}</td>{{/cells}}</tr>
        {{/rows}}
        </tbody></table></div>

        """#

    static let run = #"""
        <header>
        <h1>Customer health <span class="asof">as of {{asOf}}</span></h1>
        <p class="lede">{{customerCount}} customers scored.{{#previousAsOf}} Changes are against the run of {{previousAsOf}} in the same output folder.{{/previousAsOf}}{{^previousAsOf}} No earlier run in this output folder, so no changes are shown.{{/previousAsOf}}</p>
        <nav><a href="#kpis">Key figures</a> <a href="#distribution">Distribution</a> <a href="#history">History</a>{{#churn}} <a href="#churn">Churn model</a>{{/churn}} <a href="#movers">Movers</a> <a href="#at-risk">At risk</a></nav>
        </header>
        <main>
        {{#live}}
        <section id="live">
        <h2>Live changes <span class="count" id="live-state">connecting…</span></h2>
        <p class="how">How to read this: the newest changes the server's watch stream sent since this page opened (a customer whose health moved, or whose status, risk band or priority changed), newest first. They are not yet in the figures below, which are the served run's.</p>
        <div class="table-wrap"><table id="live-table"><caption>Latest changes</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Customer</th><th scope="col">Health</th><th scope="col">Status</th><th scope="col">Churn</th><th scope="col">Priority</th></tr></thead>
        <tbody></tbody></table></div>
        </section>
        {{/live}}
        <section id="kpis">
        <h2>Key figures</h2>
        <div class="tiles">
        {{#tiles}}<div class="tile" data-key="{{key}}"><div class="label">{{label}}</div><div class="value">{{value}}</div><div class="change {{trend}}">{{change}}</div></div>
        {{/tiles}}
        </div>
        <p class="how">How to read this: each tile is a figure of kpis.json; below it, its change since the previous run (green when it moved the right way, red when the wrong way).</p>
        {{#kpiTable}}{{> table}}{{/kpiTable}}
        </section>

        <section id="distribution">
        <h2>Distribution</h2>
        <figure><div class="chart"><canvas id="chart-status" role="img" aria-label="Customers by health status"></canvas></div>
        <figcaption class="how">How to read this: how many customers sit in each health status, from excellent (85 and over by default) to churn risk. A growing right end is the first sign of trouble.</figcaption></figure>
        {{#status}}{{#table}}{{> table}}{{/table}}{{/status}}
        <figure><div class="chart"><canvas id="chart-histogram" role="img" aria-label="Customers by health and component score"></canvas></div>
        <figcaption class="how">How to read this: customers by 10-point band of the health score and of each of its components (usage 30%, engagement 25%, satisfaction 25%, value realization 20% by default). A component whose bars sit left is what pulls health down.</figcaption></figure>
        {{#histogram}}{{#table}}{{> table}}{{/table}}{{/histogram}}
        </section>

        <section id="history">
        <h2>History</h2>
        {{#history}}
        <p class="how">How to read this: one point per run found in the output folder ({{runs}} runs, nightly or replayed), oldest on the left, this run on the right.</p>
        <div class="grid">
        {{#charts}}<figure><div class="chart"><canvas id="chart-{{id}}" role="img" aria-label="{{title}}"></canvas></div><figcaption>{{title}}</figcaption></figure>
        {{/charts}}
        <figure><div class="chart"><canvas id="chart-history-status" role="img" aria-label="Status mix over runs"></canvas></div><figcaption>Status mix: customers in each health status, per run</figcaption></figure>
        </div>
        <details><summary>History table</summary>{{#table}}{{> table}}{{/table}}</details>
        {{/history}}
        </section>

        {{#churn}}
        <section id="churn">
        <h2>Churn model</h2>
        <figure><div class="chart"><canvas id="chart-churn" role="img" aria-label="Churn probability by risk band"></canvas></div>
        <figcaption class="how">How to read this: customers by predicted probability of churning within the model's horizon, coloured by risk band (low up to 30%, medium to 60%, high to 80%, critical above).</figcaption></figure>
        {{#table}}{{> table}}{{/table}}
        {{#reasons}}
        <figure><div class="chart"><canvas id="chart-reasons" role="img" aria-label="Top reason codes of at-risk customers"></canvas></div>
        <figcaption class="how">How to read this: the model inputs that most often raise an at-risk customer's churn probability (reason codes with a positive contribution), by how many at-risk customers they concern.</figcaption></figure>
        {{#table}}{{> table}}{{/table}}
        {{/reasons}}
        </section>
        {{/churn}}

        <section id="movers">
        <h2>Biggest movers</h2>
        {{#movers.previousAsOf}}<p class="how">How to read this: the customers whose health score or churn probability changed most since the run of {{movers.previousAsOf}} ({{movers.compared}} customers in both runs).</p>
        <div class="grid">{{#movers.tables}}{{> table}}{{/movers.tables}}</div>{{/movers.previousAsOf}}
        {{^movers.previousAsOf}}<p class="how">No earlier run in this output folder to compare with.</p>{{/movers.previousAsOf}}
        </section>

        <section id="at-risk">
        <h2>At risk <span class="count">{{atRisk.count}} customers</span></h2>
        <p class="how">How to read this: the customers of at-risk.json, most urgent first (intervention priority, then churn probability and health). Filter by priority, plan or risk band, search by id or name, and sort by any column with a heading you can click.</p>
        <form class="filters" id="at-risk-filters">
        <label>Priority <select name="priority"><option value="">all</option>{{#atRisk.priorities}}<option>{{value}}</option>{{/atRisk.priorities}}</select></label>
        <label>Plan <select name="plan"><option value="">all</option>{{#atRisk.plans}}<option>{{value}}</option>{{/atRisk.plans}}</select></label>
        <label>Risk band <select name="band"><option value="">all</option>{{#atRisk.bands}}<option>{{value}}</option>{{/atRisk.bands}}</select></label>
        <label>Search <input type="search" name="search" placeholder="id or name"></label>
        </form>
        <p class="pager" id="at-risk-pager">{{#atRisk.truncated}}The first {{atRisk.shown}} of {{atRisk.count}} are listed here; the page's script lists, filters and sorts all of them.{{/atRisk.truncated}}</p>
        {{#atRisk.table}}{{> table}}{{/atRisk.table}}
        </section>
        </main>

        """#

    static let customer = #"""
        <header>
        <p><a href="{{home}}">← Dashboard</a></p>
        <h1>{{customerID}} <span class="asof">{{name}}</span></h1>
        <p class="lede">As of {{asOf}}: health {{health}} ({{status}}){{#churn}}, churn probability {{churn}} ({{band}}){{/churn}}, intervention priority {{priority}}.</p>
        </header>
        <main>
        <section id="components">
        <h2>Score components</h2>
        <figure><div class="chart"><canvas id="chart-components" role="img" aria-label="Component scores"></canvas></div>
        <figcaption class="how">How to read this: each component of the health score, 0 to 100; the health score is their weighted mean.</figcaption></figure>
        {{#componentTable}}{{> table}}{{/componentTable}}
        </section>
        <section id="customer-history">
        <h2>Over time</h2>
        <figure><div class="chart"><canvas id="chart-customer-history" role="img" aria-label="Health and churn probability over runs"></canvas></div>
        <figcaption class="how">How to read this: the customer's health score (left axis) and churn probability (right axis) in every run of the output folder that scored them.</figcaption></figure>
        {{#historyTable}}{{> table}}{{/historyTable}}
        </section>
        <section id="reasons">
        <h2>Why</h2>
        {{#reasonTable}}{{> table}}{{/reasonTable}}
        <h3>Risk factors</h3>
        <ul>{{#riskFactors}}<li>{{.}}</li>{{/riskFactors}}</ul>{{^riskFactors}}<p>None.</p>{{/riskFactors}}
        <h3>Recommendations</h3>
        <ul>{{#recommendations}}<li>{{.}}</li>{{/recommendations}}</ul>{{^recommendations}}<p>None.</p>{{/recommendations}}
        </section>
        </main>

        """#

    static let style = """
        :root{--fg:#1d2430;--muted:#5b6574;--line:#d9dee5;--bg:#fff;--tile:#f4f6f9;--good:#1a7f37;--bad:#c62828;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        *{box-sizing:border-box}body{margin:0 auto;max-width:1200px;padding:16px;line-height:1.4}
        h1{font-size:1.6rem;margin:.2em 0}h2{font-size:1.25rem;margin:1.6em 0 .4em;border-bottom:1px solid var(--line);padding-bottom:.2em}
        .asof,.count{font-weight:normal;color:var(--muted);font-size:.8em}.lede,.how,figcaption,footer{color:var(--muted);font-size:.9rem}
        nav a{margin-right:1em}nav{display:flex;flex-wrap:wrap}
        .tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(140px,1fr));gap:10px}
        .tile{background:var(--tile);border-radius:6px;padding:10px}.tile .label{font-size:.85rem;color:var(--muted)}.tile .value{font-size:1.5rem;font-weight:600}
        .change{font-size:.85rem;color:var(--muted)}.change.better{color:var(--good)}.change.worse{color:var(--bad)}
        figure{margin:12px 0}.chart{position:relative;height:280px;width:100%}
        .grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:16px}
        .table-wrap{overflow-x:auto;max-width:100%;margin:8px 0}
        table{border-collapse:collapse;font-size:.85rem;min-width:100%}caption{text-align:left;font-weight:600;padding:4px 0}
        th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
        td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
        td ul{margin:0;padding-left:1.1em;min-width:14em}th[data-sort]{cursor:pointer;text-decoration:underline dotted}
        th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
        .filters{display:flex;flex-wrap:wrap;gap:8px 16px;margin:8px 0}.filters input,.filters select{font:inherit}
        .pager button{font:inherit;margin:0 4px}details{margin:8px 0}
        @media (max-width:600px){body{padding:8px}.chart{height:220px}.tile .value{font-size:1.2rem}}
        """

    /// The page's own script: draws the charts from the data block and runs
    /// the at-risk table. It only ever sets `textContent`, never HTML.
    static let script = #"""
        "use strict";
        (function () {
          var data = JSON.parse(document.getElementById("report-data").textContent);
          var statusColors = {excellent: "#1a9850", good: "#91cf60", warning: "#f6c343", critical: "#fc8d59", churn_risk: "#d73027"};
          var bandColors = {low: "#1a9850", medium: "#f6c343", high: "#fc8d59", critical: "#d73027"};
          var palette = ["#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477"];
          Chart.defaults.animation = false;
          Chart.defaults.maintainAspectRatio = false;
          Chart.defaults.font.family = "system-ui, sans-serif";
          function grouped(v, places) {
            return Number(v).toLocaleString("en-US", {minimumFractionDigits: places, maximumFractionDigits: places});
          }
          function fmt(format, v) {
            if (v === null || v === undefined) return "–";
            switch (format) {
              case "percent": case "probability": return grouped(v * 100, 1) + "%";
              case "score": return grouped(v, 1);
              case "ratio": return grouped(v, 2);
              default: return grouped(v, 0);
            }
          }
          function cell(tr, text, numeric, href) {
            var td = document.createElement("td");
            if (numeric) td.className = "num";
            if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
            else td.textContent = text;
            tr.appendChild(td);
            return td;
          }
          function make(id, config) {
            var el = document.getElementById(id);
            if (el) new Chart(el, config);
          }
          if (data.status) make("chart-status", {type: "bar",
            data: {labels: data.status.labels, datasets: [{label: "Customers", data: data.status.counts,
              backgroundColor: data.status.keys.map(function (k) { return statusColors[k]; })}]},
            options: {plugins: {legend: {display: false}}}});
          if (data.histogram) make("chart-histogram", {type: "bar",
            data: {labels: data.histogram.bins, datasets: data.histogram.series.map(function (s, i) {
              return {label: s.name, data: s.counts, backgroundColor: palette[i]}; })}});
          if (data.history) {
            data.history.charts.forEach(function (c) {
              var format = c.series.length ? c.series[0].format : "count";
              make("chart-" + c.id, {type: "line",
                data: {labels: data.history.dates, datasets: c.series.map(function (s, i) {
                  return {label: s.name, data: s.values, borderColor: palette[i], backgroundColor: palette[i], spanGaps: true, pointRadius: 3}; })},
                options: {scales: {y: {ticks: {callback: function (v) { return fmt(format, v); }}}}}});
            });
            make("chart-history-status", {type: "bar",
              data: {labels: data.history.dates, datasets: data.history.status.map(function (s) {
                return {label: s.name, data: s.counts, backgroundColor: statusColors[s.key]}; })},
              options: {scales: {x: {stacked: true}, y: {stacked: true}}}});
          }
          if (data.churn) make("chart-churn", {type: "bar",
            data: {labels: data.churn.bins, datasets: data.churn.bands.map(function (b) {
              return {label: b.name, data: b.counts, backgroundColor: bandColors[b.key]}; })},
            options: {scales: {x: {stacked: true}, y: {stacked: true}}}});
          if (data.reasons) make("chart-reasons", {type: "bar",
            data: {labels: data.reasons.features, datasets: [{label: "At-risk customers", data: data.reasons.counts, backgroundColor: palette[0]}]},
            options: {indexAxis: "y", plugins: {legend: {display: false}}}});
          if (data.components) make("chart-components", {type: "bar",
            data: {labels: data.components.labels, datasets: [{label: "Score", data: data.components.values, backgroundColor: palette[0]}]},
            options: {plugins: {legend: {display: false}}, scales: {y: {min: 0, max: 100}}}});
          if (data.customerHistory) make("chart-customer-history", {type: "line",
            data: {labels: data.customerHistory.dates, datasets: [
              {label: "Health score", data: data.customerHistory.health, borderColor: palette[0], backgroundColor: palette[0], yAxisID: "y", spanGaps: true},
              {label: "Churn probability", data: data.customerHistory.churn, borderColor: palette[1], backgroundColor: palette[1], yAxisID: "y1", spanGaps: true}]},
            options: {scales: {y: {min: 0, max: 100, position: "left"},
              y1: {min: 0, max: 1, position: "right", grid: {drawOnChartArea: false}, ticks: {callback: function (v) { return fmt("percent", v); }}}}}});

          // Served by `serve`: reload when the server loads a newer run.
          if (data.servedRun) setInterval(function () {
            fetch("/health", {cache: "no-store"}).then(function (r) { return r.json(); }).then(function (h) {
              if (h.run && h.run !== data.servedRun) location.reload();
            }).catch(function () {});
          }, 30000);
          // Served with --watch: the stream's newest changes, as they come.
          if (data.liveStream) (function live() {
            var state = document.getElementById("live-state"), body = document.getElementById("live-table").tBodies[0];
            var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + data.liveStream);
            socket.onopen = function () { state.textContent = "connected"; };
            socket.onclose = function () { state.textContent = "disconnected; retrying"; setTimeout(live, 5000); };
            socket.onmessage = function (event) {
              var line;
              try { line = JSON.parse(event.data); } catch (e) { return; }
              if (line.type !== "customer_health_update") return;
              var d = line.data, p = d.previous || {}, tr = document.createElement("tr");
              function add(text, numeric, href) { cell(tr, text, numeric, href); }
              add(d.last_updated || "", false);
              add(d.customer_id, false, data.customerLink ? data.customerLink + encodeURIComponent(d.customer_id) : null);
              add((p.health_score !== undefined ? fmt("score", p.health_score) + " → " : "") + fmt("score", d.health_score), true);
              add((p.health_status && p.health_status !== d.health_status ? p.health_status + " → " : "") + d.health_status, false);
              add(d.churn_probability === null ? "–" : fmt("probability", d.churn_probability), true);
              add(d.intervention_priority, false);
              body.insertBefore(tr, body.firstChild);
              while (body.rows.length > 50) body.deleteRow(-1);
            };
          })();
          // The model's and the backtest's pictures: curves on a linear 0..1 square.
          function line(label, pairs, color, dashed) {
            return {label: label, data: pairs.map(function (p) { return {x: p[0], y: p[1]}; }), showLine: true,
              borderColor: color, backgroundColor: color, pointRadius: 0, borderWidth: dashed ? 1 : 2, borderDash: dashed ? [6, 4] : []};
          }
          function unitSquare(xTitle, yTitle) {
            return {scales: {x: {type: "linear", min: 0, max: 1, title: {display: true, text: xTitle}},
              y: {type: "linear", min: 0, max: 1, title: {display: true, text: yTitle}}}};
          }
          if (data.roc) make("chart-roc", {type: "scatter",
            data: {datasets: [line(data.roc.label, data.roc.points, palette[0]), line("Guessing", [[0, 0], [1, 1]], "#888", true)]},
            options: unitSquare("False positive rate", "True positive rate")});
          if (data.pr) make("chart-pr", {type: "scatter",
            data: {datasets: [line(data.pr.label, data.pr.points, palette[0])].concat(data.pr.baseline === null ? [] :
              [line("Guessing (churn rate)", [[0, data.pr.baseline], [1, data.pr.baseline]], "#888", true)])},
            options: unitSquare("Recall", "Precision")});
          if (data.calibration) {
            var observed = line("Observed", data.calibration.points, palette[1]);
            observed.pointRadius = 4;
            make("chart-calibration", {type: "scatter",
              data: {datasets: [observed, line("Perfect calibration", [[0, 0], [1, 1]], "#888", true)]},
              options: unitSquare("Mean predicted probability", "Observed churn rate")});
          }
          if (data.memberAUC) make("chart-member-auc", {type: "bar",
            data: {labels: data.memberAUC.labels, datasets: [{label: "ROC AUC", data: data.memberAUC.values,
              backgroundColor: data.memberAUC.kinds.map(function (k) { return k === "ensemble" ? palette[0] : k === "health" ? "#888" : palette[2]; })}]},
            options: {plugins: {legend: {display: false}}, scales: {y: {min: data.memberAUC.min, max: 1}}}});
          if (data.importance) make("chart-importance", {type: "bar",
            data: {labels: data.importance.features, datasets: [{label: "Share of gain", data: data.importance.values, backgroundColor: palette[0]}]},
            options: {indexAxis: "y", plugins: {legend: {display: false}},
              scales: {x: {ticks: {callback: function (v) { return fmt("percent", v); }}}}}});

          function done() { document.body.setAttribute("data-ready", "true"); }
          if (!data.atRisk) { done(); return; }

          var table = document.getElementById("at-risk-table");
          var pager = document.getElementById("at-risk-pager");
          var form = document.getElementById("at-risk-filters");
          var pageSize = 50, page = 0, sortKey = "rank", sortUp = true, all = [], shown = [];
          var priorityRank = {critical: 0, high: 1, medium: 2, low: 3};
          function value(r, key) {
            switch (key) {
              case "priority": return priorityRank[r.priority];
              case "churn": return r.churn === null ? -1 : r.churn;
              case "mrr": return r.mrr === null ? -1 : r.mrr;
              default: return r[key];
            }
          }
          function list(tr, items) {
            var td = cell(tr, "", false), ul = document.createElement("ul");
            items.forEach(function (t) { var li = document.createElement("li"); li.textContent = t; ul.appendChild(li); });
            td.appendChild(ul);
          }
          function render() {
            var body = table.tBodies[0];
            while (body.firstChild) body.removeChild(body.firstChild);
            var start = page * pageSize, rows = shown.slice(start, start + pageSize);
            rows.forEach(function (r) {
              var tr = document.createElement("tr");
              cell(tr, String(r.rank), true);
              cell(tr, r.customer, false, data.customerLink ? data.customerLink + encodeURIComponent(r.customer) : null);
              cell(tr, r.name, false); cell(tr, r.plan, false); cell(tr, r.priority, false);
              cell(tr, fmt("score", r.health), true).setAttribute("data-value", r.health);
              cell(tr, r.statusLabel, false);
              var c = cell(tr, fmt("probability", r.churn), true);
              if (r.churn !== null) c.setAttribute("data-value", r.churn);
              cell(tr, r.band, false); cell(tr, fmt("money", r.mrr), true);
              list(tr, r.factors); list(tr, r.recommendations);
              body.appendChild(tr);
            });
            while (pager.firstChild) pager.removeChild(pager.firstChild);
            var text = shown.length ? "Rows " + grouped(start + 1, 0) + "–" + grouped(start + rows.length, 0) + " of " + grouped(shown.length, 0) : "No customer matches.";
            if (shown.length !== all.length) text += " (filtered from " + grouped(all.length, 0) + ")";
            pager.appendChild(document.createTextNode(text + " "));
            [["Previous", page > 0, -1], ["Next", start + pageSize < shown.length, 1]].forEach(function (b) {
              var button = document.createElement("button");
              button.type = "button"; button.textContent = b[0]; button.disabled = !b[1];
              button.addEventListener("click", function () { page += b[2]; render(); });
              pager.appendChild(button);
            });
          }
          function apply() {
            var f = new FormData(form), priority = f.get("priority"), plan = f.get("plan"), band = f.get("band");
            var search = String(f.get("search") || "").toLowerCase();
            shown = all.filter(function (r) {
              return (!priority || r.priority === priority) && (!plan || r.plan === plan) && (!band || r.band === band)
                && (!search || r.customer.toLowerCase().indexOf(search) >= 0 || r.name.toLowerCase().indexOf(search) >= 0);
            });
            shown.sort(function (a, b) {
              var x = value(a, sortKey), y = value(b, sortKey);
              var order = x < y ? -1 : x > y ? 1 : a.rank - b.rank;
              return sortUp ? order : -order;
            });
            page = 0;
            render();
          }
          function decode(base64) {
            var binary = atob(base64), bytes = new Uint8Array(binary.length);
            for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
            return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
          }
          if (typeof DecompressionStream === "undefined") {
            pager.textContent += " This browser cannot unpack the full list; at-risk.json holds it.";
            done();
            return;
          }
          decode(data.atRisk.gzip).then(function (text) {
            var payload = JSON.parse(text), s = payload.strings;
            var statusNames = {excellent: "Excellent", good: "Good", warning: "Warning", critical: "Critical", churn_risk: "Churn risk"};
            all = payload.rows.map(function (r) {
              return {rank: r[0], customer: r[1], name: r[2], plan: s[r[3]], mrr: r[4], health: r[5], status: s[r[6]],
                statusLabel: statusNames[s[r[6]]] || s[r[6]], priority: s[r[7]], churn: r[8], band: s[r[9]],
                factors: r[10].map(function (i) { return s[i]; }), recommendations: r[11].map(function (i) { return s[i]; })};
            });
            Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
              var key = th.getAttribute("data-sort");
              if (!key) return;
              th.tabIndex = 0;
              th.addEventListener("click", function () {
                sortUp = sortKey === key ? !sortUp : true;
                sortKey = key;
                Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
                th.setAttribute("aria-sort", sortUp ? "ascending" : "descending");
                apply();
              });
            });
            form.addEventListener("input", apply);
            form.addEventListener("submit", function (e) { e.preventDefault(); });
            apply();
            done();
          }).catch(function (e) {
            pager.textContent = "The full list could not be unpacked (" + e + "); the first rows are shown, and at-risk.json holds all.";
            done();
          });
        })();

        """#
}
