# lavaan 0.6.14 references for cluster= and sampling.weights= (single-level models, issue 15)
# (tests/stats/sem/test_design.py). Run from the repository root:
#   Rscript tests/data/survey_design.R
# hs_sampling_weights.csv: a made-up positive weight per Holzinger-Swineford pupil (by id).
library(lavaan); library(jsonlite)
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
w <- data.frame(id = hs$id, w = round(0.4 + ((hs$id * 37) %% 23) / 10 + (hs$school == "Pasteur") * 0.5, 1))
write.csv(w, "tests/data/hs_sampling_weights.csv", row.names = FALSE)
hs <- merge(hs, w, by = "id", sort = FALSE)
hs <- hs[order(hs$id), ]
tel <- read.csv("tests/data/telecom_1500.csv")
tel$w <- round(0.5 + ((seq_len(nrow(tel)) * 37) %% 23) / 10, 1)  # made-up weights by row
hs_model <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
tel_model <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nSAT =~ SAT1 + SAT2 + SAT3\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nPV ~ NQ\nSAT ~ PV + NQ\nLOY ~ SAT"
measures <- c("npar", "chisq", "df", "chisq.scaled", "df.scaled", "pvalue.scaled",
  "chisq.scaling.factor", "cfi", "tli", "rmsea", "cfi.robust", "tli.robust", "rmsea.robust",
  "rmsea.ci.lower.robust", "rmsea.ci.upper.robust", "logl", "unrestricted.logl", "srmr")
one <- function(name, data, model, ...) {
  f <- sem(model, data, ...)
  pe <- parameterEstimates(f)
  fm <- fitMeasures(f)
  fm <- as.list(fm[intersect(measures, names(fm))])
  o <- lavInspect(f, "options")
  lab <- lavInspect(f, "group.label")
  list(name = name, args = list(...), se = o$se, test = o$test,
    observed.information = o$observed.information,
    nobs = lavInspect(f, "nobs"),
    estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
      group = if (length(lab)) lab[pe$group] else "", est = pe$est, se = pe$se),
    fit = fm)
}
out <- list(lavaan_version = as.character(packageVersion("lavaan")),
  hs_model = hs_model, tel_model = tel_model, cases = list(
  one("hs_cluster_ml", hs, hs_model, cluster = "school"),
  one("hs_cluster_mlr", hs, hs_model, cluster = "school", estimator = "MLR"),
  one("hs_weights", hs, hs_model, sampling.weights = "w"),
  one("hs_cluster_weights", hs, hs_model, cluster = "school", sampling.weights = "w"),
  one("hs_cluster_group", hs, hs_model, cluster = "school", group = "sex"),
  one("hs_weights_group", hs, hs_model, sampling.weights = "w", group = "sex"),
  one("tel_cluster_listwise", tel, tel_model, cluster = "branch", missing = "listwise"),
  one("tel_cluster_fiml", tel, tel_model, cluster = "branch", missing = "ml"),
  one("tel_cluster_fiml_mlr", tel, tel_model, cluster = "branch", missing = "ml", estimator = "MLR"),
  one("tel_weights_fiml", tel, tel_model, sampling.weights = "w", missing = "ml"),
  one("tel_weights_listwise", tel, tel_model, sampling.weights = "w", missing = "listwise"),
  one("tel_cluster_weights_fiml", tel, tel_model, cluster = "branch", sampling.weights = "w",
    missing = "ml")))
# factor scores of the weighted fit (lavPredict, regression method), first 10 pupils by id
fw <- cfa(hs_model, hs, sampling.weights = "w")
out$hs_weights_scores <- list(id = hs$id[1:10], scores = as.data.frame(lavPredict(fw)[1:10, ]))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"),
  "tests/data/survey_design.json")
