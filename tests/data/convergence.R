# lavaan 0.6.14 references for pvm's optimizer and observed-information standard errors (issue 15):
# * mobi: the ECSI mobile-phone model (seminr's mobi data, 250 complete rows; a single-indicator
#   Complaints, whose residual variance lavaan fixes to 0) with ML and MLR, missing "ml" (pvm's
#   default FIML) and listwise: an ill-conditioned model (condition number ~1e8);
# * hs_age: the Holzinger-Swineford CFA by age (12..15 years: 101, 110, 55 and 20 rows), FIML,
#   metric and scalar (lavaan does not converge on the configural model);
# * telecom_tenure: the NQ model on telecom_1500 by tenure (four groups) with FIML where the
#   lapsed group keeps only its first 50 rows (file order): missing data and a small group.
# usage (from the repo root): Rscript tests/data/convergence.R -> tests/data/convergence.json
suppressMessages({library(lavaan); library(jsonlite)})
MOBI <- "
Image =~ IMAG1 + IMAG2 + IMAG3 + IMAG4 + IMAG5
Expectation =~ CUEX1 + CUEX2 + CUEX3
Quality =~ PERQ1 + PERQ2 + PERQ3 + PERQ4 + PERQ5 + PERQ6 + PERQ7
Value =~ PERV1 + PERV2
Satisfaction =~ CUSA1 + CUSA2 + CUSA3
Complaints =~ CUSCO
Loyalty =~ CUSL1 + CUSL2 + CUSL3
Expectation ~ Image
Quality ~ Expectation
Value ~ Expectation + Quality
Satisfaction ~ Image + Expectation + Quality + Value
Complaints ~ Satisfaction
Loyalty ~ Image + Satisfaction + Complaints
"
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
NQ <- "NQ =~ NQ1 + NQ2 + NQ3 + NQ4\nPV =~ PV1 + PV2\nCCI =~ CCI1 + CCI2 + CCI3 + CCI4\nPV ~ NQ\nCCI ~ PV"
FM <- c("npar", "chisq", "df", "logl", "unrestricted.logl", "cfi", "tli", "rmsea", "srmr")
FMR <- c(FM, "chisq.scaled", "chisq.scaling.factor", "cfi.robust", "rmsea.robust")
case <- function(fit, csv, model, options, measures) {
  pe <- parameterEstimates(fit)
  pe <- pe[pe$op != "==", ]
  gl <- lavInspect(fit, "group.label")
  list(csv = csv, model = model, options = options,
       converged = lavInspect(fit, "converged"), iterations = lavInspect(fit, "iterations"),
       fit = as.list(fitMeasures(fit, measures)),
       estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs,
                              group = if (length(gl)) gl[pe$group] else NA,
                              est = pe$est, se = pe$se))
}
mobi <- read.csv("tests/data/mobi.csv")
out <- list()
for (est in c("ML", "MLR")) for (mi in c("ml", "listwise")) {
  f <- sem(MOBI, data = mobi, estimator = est, missing = mi)
  out[[paste("mobi", est, mi, sep = "_")]] <- case(
    f, "mobi.csv", MOBI, list(estimator = est, missing = if (mi == "ml") "fiml" else mi),
    if (est == "MLR") FMR else FM)
}
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
hs <- hs[hs$ageyr %in% 12:15, ]
for (lev in list(list("metric", "loadings"), list("scalar", c("loadings", "intercepts")))) {
  f <- cfa(HS, data = hs, group = "ageyr", missing = "ml", group.equal = lev[[2]])
  out[[paste0("hs_age_", lev[[1]])]] <- case(
    f, "holzinger_swineford_1939.csv", HS,
    list(group = "ageyr", group_equal = lev[[2]], missing = "fiml", ageyr = 12:15), FM)
}
d <- read.csv("tests/data/telecom_1500.csv")
lap <- which(d$tenure == "lapsed")
d <- d[-lap[51:length(lap)], ]
f <- sem(NQ, data = d, group = "tenure", missing = "ml")
out$telecom_tenure <- case(f, "telecom_1500.csv", NQ,
                           list(group = "tenure", missing = "fiml", lapsed_rows = 50), FM)
write_json(c(list(lavaan_version = as.character(packageVersion("lavaan"))), out),
           "tests/data/convergence.json", auto_unbox = TRUE, digits = 12, pretty = TRUE,
           na = "null")
cat("wrote convergence.json\n")
