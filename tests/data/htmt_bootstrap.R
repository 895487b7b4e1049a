# semTools reference for the HTMT bootstrap (issue 14 item 6), tests/stats/test_htmt_bootstrap.py:
# for each resample of tests/data/htmt_bootstrap_rows.json (rows drawn by pvm's
# app.stats.validity.bootstrap_rows, written by htmt_bootstrap_rows.py), semTools::htmt of
# the Holzinger-Swineford three factors (htmt2 = FALSE and TRUE; missing = "ml" on the data
# with cells missing as in lavaan_outputs.R); then lavaan's percentile rule (boot's
# norm.inter at 0.025 / 0.975) and the bootstrap se (sd of the draws).
# usage (from the repo root): Rscript tests/data/htmt_bootstrap.R -> tests/data/htmt_bootstrap.json
suppressMessages({library(semTools); library(jsonlite); library(boot)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
hs_na <- hs
hs_na$x1[seq(1, nrow(hs), by = 7)] <- NA
hs_na$x5[seq(3, nrow(hs), by = 11)] <- NA
cases <- fromJSON("tests/data/htmt_bootstrap_rows.json", simplifyMatrix = TRUE)
pairs <- list(c("visual", "textual"), c("visual", "speed"), c("textual", "speed"))
one <- function(d, h2) {
  m <- htmt(HS, data = d, missing = "ml", htmt2 = h2)
  sapply(pairs, function(p) m[p[2], p[1]])
}
out <- list(semTools_version = as.character(packageVersion("semTools")))
for (name in names(cases)) {
  cs <- cases[[name]]
  d <- if (cs$missing) hs_na else hs
  rows <- cs$rows
  res <- list()
  for (h2 in c(FALSE, TRUE)) {
    t <- t(apply(rows, 1, function(r) one(d[r, ], h2)))
    key <- if (h2) "htmt2" else "htmt"
    res[[key]] <- list(
      est = one(d, h2), draws = unname(t),
      lower = apply(t, 2, function(v) boot:::norm.inter(v, 0.025)[1, 2]),
      upper = apply(t, 2, function(v) boot:::norm.inter(v, 0.975)[1, 2]),
      se = apply(t, 2, sd))
  }
  res$pairs <- pairs
  out[[name]] <- res
}
write_json(out, "tests/data/htmt_bootstrap.json", auto_unbox = TRUE, digits = 15)
cat("wrote htmt_bootstrap.json\n")
