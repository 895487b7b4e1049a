# lavaan 0.6.14 reference for modification indices per invariance level (issue 14, item 4/5):
# modindices(fit, sort = TRUE) of the Holzinger-Swineford CFA by school, configural
# (group = "school"), metric (group.equal = "loadings") and scalar (+ "intercepts"), ML,
# complete data. Rows that test equality constraints are not part of modindices().
# usage (from the repo root): Rscript tests/data/invariance_modindices.R -> tests/data/invariance_modindices.json
suppressMessages({library(lavaan); library(jsonlite)})
hs <- read.csv("tests/data/holzinger_swineford_1939.csv")
HS <- "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
eq <- list(configural = "", metric = "loadings", scalar = c("loadings", "intercepts"))
out <- lapply(eq, function(e) {
  fit <- cfa(HS, data = hs, group = "school", group.equal = e)
  mi <- modindices(fit, sort = TRUE)
  list(npar = fitMeasures(fit, "npar"), chisq = fitMeasures(fit, "chisq"),
       modindices = data.frame(lhs = mi$lhs, op = mi$op, rhs = mi$rhs,
                               group = lavInspect(fit, "group.label")[mi$group], mi = mi$mi,
                               epc = mi$epc, sepc.all = mi$sepc.all, check.names = FALSE))
})
out$model <- HS
out$lavaan_version <- as.character(packageVersion("lavaan"))
write_json(out, "tests/data/invariance_modindices.json", auto_unbox = TRUE, digits = 12,
           pretty = TRUE, na = "null")
cat("wrote invariance_modindices.json\n")
