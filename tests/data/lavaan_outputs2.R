# lavaan 0.6.14 reference for the rest of issue 14 item 4: parameterEstimates(standardized =
# TRUE)'s std.lv / std.all / std.nox columns, lavResiduals(fit, type = "raw") ($cov, $mean),
# lavResiduals(fit)'s standardized residuals ($cov.z, $mean.z: the z statistics of the
# residuals, the same for type "raw" and "cor.bentler") and fitted(fit) ($cov, $mean), for
#   hs_ml      Holzinger-Swineford 3-factor CFA, ML, complete data (no mean structure)
#   hs_fiml    the same with missing = "ml" (cells set missing as in lavaan_outputs.R)
#   pd_ml      Bollen's political democracy SEM, ML
#   hs_groups  the CFA by school with group.equal = "loadings", ML
#   hs_x       the CFA plus "visual ~ ageyr + sex" (observed exogenous covariates, fixed.x:
#              std.nox differs from std.all)
# usage (from the repo root): Rscript tests/data/lavaan_outputs2.R -> tests/data/lavaan_outputs2.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
pd <- read.csv("tests/data/political_democracy.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
HSX <- paste(HS, "visual ~ ageyr + sex", sep = "\n")
PD <- paste("ind60 =~ x1 + x2 + x3", "dem60 =~ y1 + y2 + y3 + y4", "dem65 =~ y5 + y6 + y7 + y8",
            "dem60 ~ ind60", "dem65 ~ ind60 + dem60", "y1 ~~ y5", "y2 ~~ y4 + y6", "y3 ~~ y7",
            "y4 ~~ y8", "y6 ~~ y8", sep = "\n")
hs_na <- hs
hs_na$x1[seq(1, nrow(hs), by = 7)] <- NA
hs_na$x5[seq(3, nrow(hs), by = 11)] <- NA

named <- function(m) setNames(lapply(rownames(m), function(r) as.list(m[r, ])), rownames(m))
vec <- function(v) if (is.null(v)) NULL else as.list(v)
outputs <- function(fit) {
  pe <- parameterEstimates(fit, standardized = TRUE)
  grp <- if ("group" %in% names(pe)) lavInspect(fit, "group.label")[pe$group] else NA
  std <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, group = grp, est = pe$est,
                    std.lv = pe$std.lv, std.all = pe$std.all, std.nox = pe$std.nox,
                    check.names = FALSE)
  raw <- lavResiduals(fit, type = "raw", drop.list.single.group = FALSE)
  z <- lavResiduals(fit, drop.list.single.group = FALSE)
  fitted_ <- lavInspect(fit, "implied", drop.list.single.group = FALSE)
  blocks <- lapply(seq_along(raw), function(g) list(
    raw = list(cov = named(raw[[g]]$cov), mean = vec(raw[[g]]$mean)),
    std = list(cov = named(z[[g]]$cov.z), mean = vec(z[[g]]$mean.z)),
    fitted = list(cov = named(fitted_[[g]]$cov), mean = vec(fitted_[[g]]$mean))))
  names(blocks) <- if (lavInspect(fit, "ngroups") > 1) lavInspect(fit, "group.label") else "all"
  list(estimates = std, blocks = blocks)
}
fits <- list(
  hs_ml = cfa(HS, data = hs),
  hs_fiml = cfa(HS, data = hs_na, missing = "ml"),
  pd_ml = sem(PD, data = pd),
  hs_groups = cfa(HS, data = hs, group = "school", group.equal = "loadings"),
  hs_x = sem(HSX, data = hs)
)
out <- lapply(fits, outputs)
out$lavaan_version <- as.character(packageVersion("lavaan"))
out$models <- list(HS = HS, HSX = HSX, PD = PD)
write_json(out, "tests/data/lavaan_outputs2.json", auto_unbox = TRUE, digits = 12,
           pretty = TRUE, na = "null")
cat("wrote lavaan_outputs2.json\n")
