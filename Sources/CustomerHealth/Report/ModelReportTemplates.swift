/// The templates of the model's page and the backtest's page (docs/model.md,
/// "Model and backtest pages"); the page shell, table, style and script are
/// the run report's (`ReportTemplates`).
extension ReportTemplates {
    static let model = #"""
        <header>
        <h1>Churn model{{#modelName}} <span class="asof">{{.}}</span>{{/modelName}}</h1>
        <p class="lede">Trained on {{trainRows}} rows ({{trainPositives}} churned){{#dataThrough}} with data through {{.}}{{/dataThrough}}. Every figure on this page is measured on the {{validationRows}} validation rows ({{validationPositives}} churned, a churn rate of {{churnRate}}): the latest observation dates, held out of training.</p>
        {{#warnings}}<p><strong>Warning:</strong> {{.}}</p>
        {{/warnings}}
        <nav><a href="#skill">Skill</a>{{#curves}} <a href="#curves">ROC and PR curves</a>{{/curves}}{{#calibration}} <a href="#calibration">Calibration</a>{{/calibration}} <a href="#members">Members</a>{{#importance}} <a href="#importance">Features</a>{{/importance}} <a href="#training-data">Training data</a></nav>
        </header>
        <main>
        {{> skill}}
        {{> curves}}
        {{> calibration}}
        <section id="members">
        <h2>Members</h2>
        <figure><div class="chart"><canvas id="chart-member-auc" role="img" aria-label="ROC AUC of the ensemble and of each member"></canvas></div>
        <figcaption class="how">How to read this: the ROC AUC of each member on the validation rows (from its raw output), beside the ensemble's. Bars start at 0.5, the AUC of guessing. The ensemble combines the members marked chosen in the table; the health score, a fixed formula, is there to show what the model adds to it.</figcaption></figure>
        {{#members}}{{#table}}{{> table}}{{/table}}{{/members}}
        {{#combination}}<p class="how">Combination: {{.}}</p>{{/combination}}
        </section>
        {{#importance}}
        <section id="importance">
        <h2>Features</h2>
        <figure><div class="chart" style="height:520px"><canvas id="chart-importance" role="img" aria-label="Feature importance"></canvas></div>
        <figcaption class="how">How to read this: the {{shown}} features (of {{features}}) with the largest share of the split gain over all boosting and forest trees. It says what the trees lean on, not in which direction a feature moves churn, nor what moves one customer's probability (that customer's reason codes say so).</figcaption></figure>
        {{#table}}{{> table}}{{/table}}
        </section>
        {{/importance}}
        <section id="training-data">
        <h2>Training data</h2>
        <p class="how">How to read this: one row per customer active on an observation date, labelled by whether it churned within the horizon after that date. Rows of the latest dates are held out for validation: no member was trained on them.</p>
        {{#trainingData}}
        {{#rowsTable}}{{> table}}{{/rowsTable}}
        {{#dates}}<p class="how">{{count}} observation dates from {{first}} to {{last}}: {{training}} for training, {{validation}} for validation.</p>
        <details><summary>Observation dates</summary>{{#table}}{{> table}}{{/table}}</details>{{/dates}}
        {{/trainingData}}
        {{#modelSHA256}}<p class="how">Model content_sha256: {{.}}</p>{{/modelSHA256}}
        </section>
        </main>

        """#

    static let backtest = #"""
        <header>
        <h1>Backtest <span class="asof">of the run of {{asOf}}</span></h1>
        <p class="lede">{{customers}} customers scored on {{asOf}} (read from {{predictions}}) and active then by the churn definition; {{churned}} of them churned within the {{horizon}} days after it ({{daysObserved}} days observed), by the current exports.</p>
        {{#notes}}<p class="how">{{.}}</p>
        {{/notes}}
        <nav><a href="#skill">Skill</a>{{#curves}} <a href="#curves">ROC and PR curves</a>{{/curves}}{{#calibration}} <a href="#calibration">Calibration</a>{{/calibration}} <a href="#health">Health score</a></nav>
        </header>
        <main>
        {{> skill}}
        {{^hasModel}}<p class="how">These scores have no churn_probability: that run had no churn model, so only the health score is backtested.</p>{{/hasModel}}
        {{> curves}}
        {{> calibration}}
        <section id="health">
        <h2>Health score</h2>
        <p class="how">How to read this: how well the health score, each of its components and each of its parts ranked the customers who churned (lower score, more churn): 0.5 is guessing, 1 is perfect. The parts are recomputed from the run's features.jsonl with the pipeline's current scoring settings.</p>
        {{#healthTable}}{{> table}}{{/healthTable}}
        </section>
        </main>

        """#

    /// The headline figures, as tiles and as a table.
    static let skill = #"""
        <section id="skill">
        <h2>Skill</h2>
        <div class="tiles">
        {{#tiles}}<div class="tile" data-key="{{key}}"><div class="label">{{label}}</div><div class="value">{{value}}</div></div>
        {{/tiles}}
        </div>
        <p class="how">How to read this: ROC AUC is the chance that a customer who churned got a higher probability than one who stayed (0.5 is guessing, 1 is perfect). PR AUC is the mean precision over the churners; guessing scores the churn rate, so compare the two. Log loss and Brier score measure the probabilities themselves: lower is better.</p>
        {{#skillTable}}{{> table}}{{/skillTable}}
        </section>

        """#

    static let curves = #"""
        {{#curves}}
        <section id="curves">
        <h2>ROC and precision-recall curves</h2>
        <div class="grid">
        {{#rocTable}}<figure><div class="chart"><canvas id="chart-roc" role="img" aria-label="ROC curve"></canvas></div>
        <figcaption class="how">How to read this: each point is a threshold on the churn probability. Flag every customer above it: the curve shows the share of churners caught (up) against the share of customers who stayed but were flagged anyway (right). Guessing follows the dashed diagonal; the nearer the curve runs to the top left corner, the better. The area under it is the ROC AUC.</figcaption></figure>{{/rocTable}}
        {{#prTable}}<figure><div class="chart"><canvas id="chart-pr" role="img" aria-label="Precision-recall curve"></canvas></div>
        <figcaption class="how">How to read this: of the customers flagged above a threshold, the share that did churn (precision, up) against the share of all churners they include (recall, right). The dashed line is the churn rate{{#baseline}} ({{.}}){{/baseline}}, the precision of flagging at random: with rare churn even a good model runs low, so read the curve against that line.</figcaption></figure>{{/prTable}}
        </div>
        <details><summary>Curve points ({{#rocTable}}{{rocPoints}} on the ROC curve{{/rocTable}}{{#prTable}}{{#rocTable}}, {{/rocTable}}{{prPoints}} on the precision-recall curve{{/prTable}})</summary><div class="grid">{{#rocTable}}{{> table}}{{/rocTable}}{{#prTable}}{{> table}}{{/prTable}}</div></details>
        </section>
        {{/curves}}

        """#

    static let calibration = #"""
        {{#calibration}}
        <section id="calibration">
        <h2>Calibration</h2>
        <figure><div class="chart"><canvas id="chart-calibration" role="img" aria-label="Mean predicted probability against observed churn rate"></canvas></div>
        <figcaption class="how">How to read this: customers grouped by tenth of predicted churn probability; each point is a group's mean prediction (across) against the share of it that churned (up). On the dashed diagonal a prediction of 20% meant 20%; below it the model predicted too much churn, above it too little. A group of few rows (see the table) is noisy.</figcaption></figure>
        {{#table}}{{> table}}{{/table}}
        </section>
        {{/calibration}}

        """#
}
