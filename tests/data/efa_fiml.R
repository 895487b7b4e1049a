# Reference for EFA on FIML (EM) correlations (issue 14 item 7), tests/stats/test_efa_fiml.py:
# lavaan 0.6.14's lavCor(missing = "ml") (the EM estimate of the saturated normal model, as
# pvm's app/stats/sem/em.py) on telecom_1500's TAN, REL and NQ items (the NQ items have
# not-applicable answers), then psych::fa(r = that matrix, n.obs = rows with any item) with
# minres / oblimin and ml / varimax, psych::KMO and psych::cortest.bartlett on it.
# usage (from the repo root): Rscript tests/data/efa_fiml.R -> tests/data/efa_fiml.json
suppressMessages({library(lavaan); library(psych); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
items <- c(paste0("TAN", 1:3), paste0("REL", 1:4), paste0("NQ", 1:4))
x <- d[, items]
x <- x[rowSums(!is.na(x)) > 0, ]
# the EM run to convergence: lavaan's default em.h1.tol (1e-5) stops ~3e-5 short of the ML
# estimate in these correlations; pvm's EM stops at 1e-9
r <- lavCor(x, missing = "ml", output = "cor", em.h1.tol = 1e-12, em.h1.iter.max = 100000)
r <- unclass(r); attr(r, "class") <- NULL
n <- nrow(x)
f1 <- psych::fa(r, nfactors = 3, rotate = "oblimin", fm = "minres", n.obs = n)
f2 <- psych::fa(r, nfactors = 3, rotate = "varimax", fm = "ml", n.obs = n)
bt <- cortest.bartlett(r, n = n)
ld <- function(f) as.data.frame(unclass(f$loadings))
out <- list(
  lavaan_version = as.character(packageVersion("lavaan")),
  psych_version = as.character(packageVersion("psych")), items = items,
  rows = n, complete = sum(complete.cases(x)),
  cor = unname(r), kmo = KMO(r)$MSA,
  bartlett = list(chisq = bt$chisq, df = bt$df, p = bt$p.value),
  minres_oblimin = list(loadings = ld(f1), communalities = as.list(f1$communality)),
  ml_varimax = list(loadings = ld(f2), communalities = as.list(f2$communality))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor", rownames = TRUE),
           "tests/data/efa_fiml.json")
