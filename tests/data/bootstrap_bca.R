# lavaan 0.6.14 references for BCa bootstrap intervals (issue 14 item 6),
# tests/stats/sem/test_bootstrap_bca.py. On Holzinger-Swineford with ab := a*b and ratio := a/b
# (two defined parameters: with one, lavaan 0.6.14's bca code fails on a one-column matrix):
#   exact:  B = 400 draws as lavaan made them (`boot`: the replicate estimates of the free
#           parameters, lavInspect(fit, "boot"); `freq`: how often each row was drawn in each
#           replicate, lavaan's own lav_utils_bootstrap_indices with the bootstrap's seed) and
#           parameterEstimates(boot.ci.type = "bca" / "bca.simple" / "perc") on those draws:
#           pvm's interval arithmetic is fed the same draws and must give the same bounds;
#   mc:     B = 2000, parameterEstimates(boot.ci.type = "bca"): pvm's own draws are compared
#           within Monte-Carlo error.
# usage (from the repo root): Rscript tests/data/bootstrap_bca.R -> tests/data/bootstrap_bca.json
suppressMessages({library(lavaan); library(jsonlite)})
d <- read.csv("tests/data/holzinger_swineford_1939.csv")
m <- "visual =~ x1 + a*x2 + x3\ntextual =~ x4 + b*x5 + x6\nspeed =~ x7 + x8 + x9\nab := a*b\nratio := a/b"
rows <- function(pe) data.frame(lhs = pe$lhs, op = pe$op, rhs = pe$rhs, est = pe$est,
                                ci.lower = pe$ci.lower, ci.upper = pe$ci.upper)
set.seed(20261130)
f <- cfa(m, data = d, se = "bootstrap", bootstrap = 400L)
boot <- lavInspect(f, "boot")
freq <- lavaan:::lav_utils_bootstrap_indices(R = 400L, nobs = f@SampleStats@nobs,
                                             iseed = attr(boot, "seed"), return.freq = TRUE,
                                             merge.groups = TRUE)
exact <- list(B = 400L, n_ok = nrow(boot), boot = unname(boot), freq = unname(freq),
              est = coef(f)[seq_len(ncol(boot))],
              bca = rows(parameterEstimates(f, boot.ci.type = "bca")),
              bca.simple = rows(parameterEstimates(f, boot.ci.type = "bca.simple")),
              perc = rows(parameterEstimates(f, boot.ci.type = "perc")))
set.seed(20261131)
g <- cfa(m, data = d, se = "bootstrap", bootstrap = 2000L)
mc <- list(B = 2000L, n_ok = nrow(lavInspect(g, "boot")),
           bca = rows(parameterEstimates(g, boot.ci.type = "bca")),
           se = parameterEstimates(g)$se)
out <- list(lavaan_version = as.character(packageVersion("lavaan")), model = m,
            exact = exact, mc = mc)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor"),
           "tests/data/bootstrap_bca.json")
