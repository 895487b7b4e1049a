# lavaan 0.6.14 reference for lavResiduals(fit)'s standardized residuals ($cov.z, $mean.z; with the
# raw residuals, type = "raw", to tell estimate precision from formula) beyond
# ML on complete data (issue 14 item 4): MLR on complete data, ML with missing = "ml" (FIML) and
# MLR with FIML. lavaan's z.type = "standardized", h1.acov = "unstructured": the residuals'
# covariance uses the h1 information of the fit's `information` (observed for MLR and FIML),
# the sandwich over it for MLR, and the model information with observed.information = "h1".
#   hs_mlr            Holzinger-Swineford 3-factor CFA, estimator MLR, complete data
#   hs_fiml_mlr       the same with missing = "ml" (cells set missing as in lavaan_outputs.R)
#   telecom_fiml      a 3-factor CFA on tests/data/telecom_1500.csv (NQ1-NQ4 have missing cells), ML
#   telecom_fiml_mlr  the same with estimator MLR
#   telecom_mlr       the same with estimator MLR, listwise deletion (n = 185)
# (ML with FIML on HS is hs_fiml in lavaan_outputs2.json.)
# usage (from the repo root): Rscript tests/data/residuals_std_robust.R -> residuals_std_robust.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
tc <- read.csv("tests/data/telecom_1500.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
TC <- "TAN =~ TAN1 + TAN2 + TAN3\nNQ =~ NQ1 + NQ2 + NQ3 + NQ4\nSAT =~ SAT1 + SAT2 + SAT3"
hs_na <- hs
hs_na$x1[seq(1, nrow(hs), by = 7)] <- NA
hs_na$x5[seq(3, nrow(hs), by = 11)] <- NA

named <- function(m) setNames(lapply(rownames(m), function(r) as.list(m[r, ])), rownames(m))
vec <- function(v) if (is.null(v)) NULL else as.list(v)
outputs <- function(fit) {
  z <- lavResiduals(fit)
  raw <- lavResiduals(fit, type = "raw")
  list(std = list(cov = named(z$cov.z), mean = vec(z$mean.z)),
       raw = list(cov = named(raw$cov), mean = vec(raw$mean)))
}
fits <- list(
  hs_mlr = cfa(HS, data = hs, estimator = "MLR"),
  hs_fiml_mlr = cfa(HS, data = hs_na, missing = "ml", estimator = "MLR"),
  telecom_fiml = cfa(TC, data = tc, missing = "ml"),
  telecom_fiml_mlr = cfa(TC, data = tc, missing = "ml", estimator = "MLR"),
  telecom_mlr = cfa(TC, data = tc, estimator = "MLR")
)
out <- lapply(fits, outputs)
out$lavaan_version <- as.character(packageVersion("lavaan"))
out$models <- list(HS = HS, TC = TC)
write_json(out, "tests/data/residuals_std_robust.json", auto_unbox = TRUE, digits = 12,
           pretty = TRUE, na = "null")
cat("wrote residuals_std_robust.json\n")
