# lavaan 0.6.14 reference for the MLR branch of tests/stats/test_sem_invariance.py:
# configural/metric/scalar by customer_type with estimator="MLR" (complete data: `levels`;
# and with missing="ml" on a model with the N/A-prone NQ items: `fiml`), and lavTestLRT's
# scaled difference test (method "satorra.bentler.2001", lavaan's default for MLR); and the
# estimates and robust se of the FIML scalar level (`fiml$scalar_estimates`).
# usage (from the repo root): Rscript tests/data/invariance_mlr.R -> tests/data/invariance_mlr.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
core <- "PV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nLOY =~ LOY1 + LOY2 + LOY3 + LOY4\nCCI ~ PV\nLOY ~ CCI + PV"
LEV <- list(configural = "none", metric = c("loadings"), scalar = c("loadings", "intercepts"))
FM <- c("npar", "chisq", "df", "cfi", "tli", "rmsea", "srmr", "chisq.scaled",
        "chisq.scaling.factor")
run <- function(model, missing) {
  fits <- lapply(LEV, function(ge) sem(model, data = d, group = "customer_type",
                                       group.equal = ge, estimator = "MLR", missing = missing))
  out <- list()
  for (i in seq_along(fits)) {
    row <- c(list(level = names(LEV)[i], group_equal = setdiff(LEV[[i]], "none")),
             as.list(fitMeasures(fits[[i]], FM)))
    if (i > 1) {
      lrt <- lavTestLRT(fits[[i]], fits[[i - 1]])
      row$delta.chisq <- lrt[["Chisq diff"]][2]
      row$delta.df <- lrt[["Df diff"]][2]
      row$delta.pvalue <- lrt[["Pr(>Chisq)"]][2]
      row$lrt.method <- attr(lrt, "heading")
    }
    out[[i]] <- row
  }
  out
}
nq <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nPV ~ NQ\nCCI ~ PV"
out <- run(core, "listwise")
fiml <- list(model = nq, missing = "ml", levels = run(nq, "ml"))
# robust se of the scalar level (warm-started in pvm: guards against a stale information)
sc <- sem(nq, data = d, group = "customer_type", group.equal = LEV$scalar, estimator = "MLR",
          missing = "ml")
pe <- parameterEstimates(sc)
pe <- pe[pe$op != "==" & pe$se > 0, ]
fiml$scalar_estimates <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
                                    group = lavInspect(sc, "group.label")[pe$group],
                                    est = pe$est, se = pe$se)
write_json(list(lavaan_version = as.character(packageVersion("lavaan")), model = core,
                group = "customer_type", estimator = "MLR", levels = out, fiml = fiml),
           "tests/data/invariance_mlr.json", auto_unbox = TRUE, digits = 10, pretty = TRUE,
           na = "null")
cat("wrote invariance_mlr.json\n")
