# lavaan 0.6.14 references for pvm's admissibility warnings (issue 15): lavaan's post-fit checks
# (lav_object_post_check) on Holzinger-Swineford subsets that give inadmissible solutions,
# and a model lavaan does not converge on.
# * hs_rows_81_105: rows 81..105 (file order): a negative residual variance and a latent
#   covariance matrix that is not positive definite;
# * hs_age14_pasteur: ageyr 14 at Pasteur (31 rows): a negative residual variance only;
# * hs_age_configural: the configural model by age 12..15 with FIML does not converge.
# usage (from the repo root): Rscript tests/data/admissibility.R -> tests/data/admissibility.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
run <- function(data, ...) {
  w <- character(0)
  f <- withCallingHandlers(cfa(HS, data, ...), warning = function(c) {
    w <<- c(w, gsub("\\s+", " ", conditionMessage(c)))
    invokeRestart("muffleWarning")
  })
  out <- list(model = HS, converged = lavInspect(f, "converged"), warnings = w)
  if (out$converged) {
    pe <- parameterEstimates(f)
    out$fit <- as.list(fitMeasures(f, c("npar", "chisq", "df", "logl")))
    out$estimates <- data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est, se = pe$se)
    out$cov_lv_eigen <- eigen(lavInspect(f, "cov.lv"), only.values = TRUE)$values
  }
  out
}
out <- list(
  hs_rows_81_105 = c(list(rows = c(81, 105)), run(hs[81:105, ])),
  hs_age14_pasteur = c(list(ageyr = 14, school = "Pasteur"),
                       run(hs[hs$ageyr == 14 & hs$school == "Pasteur", ])),
  hs_age_configural = c(list(ageyr = 12:15, group = "ageyr", missing = "fiml"),
                        run(hs[hs$ageyr %in% 12:15, ], group = "ageyr", missing = "ml"))
)
write_json(c(list(lavaan_version = as.character(packageVersion("lavaan"))), out),
           "tests/data/admissibility.json", auto_unbox = TRUE, digits = 12, pretty = TRUE,
           na = "null")
cat("wrote admissibility.json\n")
