# lavaan 0.6.14 reference for the outputs researchers look for (issue 14, item 4/5):
# modindices(fit, sort = TRUE) (lhs, op, rhs, group, mi, epc, sepc.all), lavResiduals()'s
# correlation residuals (type "cor.bentler", the default: $cov and $mean), and
# standardizedSolution() (est.std, se.std), for
#   hs_ml      Holzinger-Swineford 3-factor CFA, ML, complete data (no mean structure)
#   hs_fiml    the same with missing = "ml" on cells set missing by a fixed rule (below)
#   hs_mlr     the same CFA with estimator = "MLR" (listwise)
#   pd_ml      Bollen's political democracy SEM (residual covariances, regressions), ML
#   hs_groups  the CFA by school with group.equal = "loadings", ML
# and lavTestLRT() tables: 1 vs 3 factors (ML and MLR, "satorra.bentler.2001"), configural vs
# metric by school (ML and MLR), 1 vs 3 factors under FIML (hs_fiml's data; no RMSEA column).
# usage (from the repo root): Rscript tests/data/lavaan_outputs.R -> tests/data/lavaan_outputs.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
pd <- read.csv("tests/data/political_democracy.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
HS1 <- "g =~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9"
PD <- paste("ind60 =~ x1 + x2 + x3", "dem60 =~ y1 + y2 + y3 + y4", "dem65 =~ y5 + y6 + y7 + y8",
            "dem60 ~ ind60", "dem65 ~ ind60 + dem60", "y1 ~~ y5", "y2 ~~ y4 + y6", "y3 ~~ y7",
            "y4 ~~ y8", "y6 ~~ y8", sep = "\n")
# missing cells for hs_fiml: rows 1, 8, 15, ... of x1 and rows 3, 14, 25, ... of x5 (1-based)
hs_na <- hs
hs_na$x1[seq(1, nrow(hs), by = 7)] <- NA
hs_na$x5[seq(3, nrow(hs), by = 11)] <- NA

outputs <- function(fit) {
  mi <- modindices(fit, sort = TRUE)
  grp <- if ("group" %in% names(mi)) lavInspect(fit, "group.label")[mi$group] else NULL
  mi_out <- data.frame(lhs = mi$lhs, op = mi$op, rhs = mi$rhs, mi = mi$mi, epc = mi$epc,
                       sepc.all = mi$sepc.all, check.names = FALSE)
  if (!is.null(grp)) mi_out$group <- grp
  res <- lavResiduals(fit)
  named <- function(m) setNames(lapply(rownames(m), function(r) as.list(m[r, ])), rownames(m))
  one <- function(r) list(cor = named(r$cov), mean = if (is.null(r$mean)) NULL else as.list(r$mean))
  residuals <- if (lavInspect(fit, "ngroups") > 1) lapply(res, one) else one(res)
  ss <- standardizedSolution(fit)
  ss_grp <- if ("group" %in% names(ss)) lavInspect(fit, "group.label")[ss$group] else NA
  std <- data.frame(lhs = ss$lhs, op = ss$op, rhs = ss$rhs, group = ss_grp,
                    est.std = ss$est.std, se.std = ss$se, check.names = FALSE)
  list(fit = as.list(fitMeasures(fit, c("npar", "chisq", "df"))), modindices = mi_out,
       residuals = residuals, standardized = std)
}
lrt <- function(a, b) {
  t <- lavTestLRT(a, b)
  list(rows = rownames(t), Df = t$Df, AIC = t$AIC, BIC = t$BIC, Chisq = t$Chisq,
       `Chisq diff` = t[["Chisq diff"]], `Df diff` = t[["Df diff"]],
       `Pr(>Chisq)` = t[["Pr(>Chisq)"]], RMSEA = t[["RMSEA"]], heading = attr(t, "heading"),
       columns = names(t))
}
fits <- list(
  hs_ml = cfa(HS, data = hs),
  hs_fiml = cfa(HS, data = hs_na, missing = "ml"),
  hs_mlr = cfa(HS, data = hs, estimator = "MLR"),
  pd_ml = sem(PD, data = pd),
  hs_groups = cfa(HS, data = hs, group = "school", group.equal = "loadings")
)
out <- lapply(fits, outputs)
out$lavaan_version <- as.character(packageVersion("lavaan"))
out$models <- list(HS = HS, HS1 = HS1, PD = PD)
out$lrt <- list(
  one_vs_three_ml = lrt(cfa(HS1, data = hs), fits$hs_ml),
  one_vs_three_mlr = lrt(cfa(HS1, data = hs, estimator = "MLR"), fits$hs_mlr),
  configural_vs_metric_ml = lrt(cfa(HS, data = hs, group = "school"), fits$hs_groups),
  configural_vs_metric_mlr = lrt(cfa(HS, data = hs, group = "school", estimator = "MLR"),
                                 cfa(HS, data = hs, group = "school", estimator = "MLR",
                                     group.equal = "loadings")),
  one_vs_three_fiml = lrt(cfa(HS1, data = hs_na, missing = "ml"), fits$hs_fiml)
)
write_json(out, "tests/data/lavaan_outputs.json", auto_unbox = TRUE, digits = 12,
           pretty = TRUE, na = "null")
cat("wrote lavaan_outputs.json\n")
