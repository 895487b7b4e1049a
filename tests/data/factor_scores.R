# lavaan 0.6.14 reference for factor scores (issue 14): lavPredict(fit, method = "regression")
# and lavPredict(fit, method = "Bartlett") for
#   hs_ml      Holzinger-Swineford 3-factor CFA, ML, complete data (no mean structure)
#   hs_fiml    the same with missing = "ml" on cells set missing by a fixed rule (below)
#   pd_ml      Bollen's political democracy SEM (latent regressions, residual covariances)
#   hs_groups  the CFA by school with group.equal = "loadings" (scores in data-row order)
# usage (from the repo root): Rscript tests/data/factor_scores.R -> tests/data/factor_scores.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
pd <- read.csv("tests/data/political_democracy.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD <- paste("ind60 =~ x1 + x2 + x3", "dem60 =~ y1 + y2 + y3 + y4", "dem65 =~ y5 + y6 + y7 + y8",
            "dem60 ~ ind60", "dem65 ~ ind60 + dem60", "y1 ~~ y5", "y2 ~~ y4 + y6", "y3 ~~ y7",
            "y4 ~~ y8", "y6 ~~ y8", sep = "\n")
# missing cells for hs_fiml: rows 1, 8, 15, ... of x1 and rows 3, 14, 25, ... of x5 (1-based);
# row 2 has x1..x3 all missing (visual unmeasured there)
hs_na <- hs
hs_na$x1[seq(1, nrow(hs), by = 7)] <- NA
hs_na$x5[seq(3, nrow(hs), by = 11)] <- NA
hs_na[2, c("x1", "x2", "x3")] <- NA
scores <- function(fit, method) {
  fs <- lavPredict(fit, method = method)
  if (is.list(fs)) {  # by group: put the rows back in data order
    idx <- unlist(lavInspect(fit, "case.idx"))
    fs <- do.call(rbind, fs)[order(idx), ]
  }
  list(rows = if (is.null(lavInspect(fit, "case.idx"))) NULL else
         sort(unlist(lavInspect(fit, "case.idx"))),
       columns = colnames(fs), values = unname(as.matrix(fs)))
}
fits <- list(
  hs_ml = cfa(HS, data = hs),
  hs_fiml = cfa(HS, data = hs_na, missing = "ml"),
  pd_ml = sem(PD, data = pd),
  hs_groups = cfa(HS, data = hs, group = "school", group.equal = "loadings")
)
out <- lapply(fits, function(f) list(regression = scores(f, "regression"),
                                     bartlett = scores(f, "Bartlett")))
out$lavaan_version <- as.character(packageVersion("lavaan"))
out$models <- list(HS = HS, PD = PD)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null"),
           "tests/data/factor_scores.json")
