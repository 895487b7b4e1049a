# Reference for tests/stats/test_sem_bootstrap.py: lavaan's percentile bootstrap on
# Holzinger-Swineford (a labelled copy of the 3-factor CFA with one defined parameter).
# usage (from the repo root): Rscript tests/data/bootstrap_hs.R
# writes tests/data/bootstrap_hs.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/holzinger_swineford_1939.csv")
m <- "visual =~ x1 + a*x2 + x3\ntextual =~ x4 + b*x5 + x6\nspeed =~ x7 + x8 + x9\nab := a*b"
B <- 5000L
set.seed(20261122)
t0 <- Sys.time()
f <- cfa(m, data = d, se = "bootstrap", bootstrap = B)
secs <- as.numeric(Sys.time() - t0, units = "secs")
pe <- parameterEstimates(f, ci = TRUE, level = 0.95, boot.ci.type = "perc")
ml <- parameterEstimates(cfa(m, data = d))
boot <- lavInspect(f, "boot")
out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  call = sprintf("set.seed(20261122); cfa(model, data, se='bootstrap', bootstrap=%d); parameterEstimates(boot.ci.type='perc')", B),
  model = m, B = B, n_ok = nrow(boot), secs = secs,
  estimates = data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, label = pe$label, est = pe$est,
                         se_boot = pe$se, ci.lower = pe$ci.lower, ci.upper = pe$ci.upper,
                         se_ml = ml$se))
write_json(out, "tests/data/bootstrap_hs.json", auto_unbox = TRUE, digits = 10, pretty = TRUE,
           na = "null")
cat("wrote bootstrap_hs.json in", secs, "s\n")
