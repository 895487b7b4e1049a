# psych 2.2.9 reference for EFA with pairwise correlations (issue 14 item 7),
# tests/stats/test_efa_pairwise.py: psych::fa(use = "pairwise") on telecom_1500's TAN, REL and
# NQ items (the NQ items have not-applicable answers), minres / oblimin and ml / varimax, with
# the pairwise correlation matrix and KMO.
# usage (from the repo root): Rscript tests/data/efa_pairwise.R -> tests/data/efa_pairwise.json
suppressMessages({library(psych); library(jsonlite)})
d <- read.csv("tests/data/telecom_1500.csv")
items <- c(paste0("TAN", 1:3), paste0("REL", 1:4), paste0("NQ", 1:4))
x <- d[, items]
r <- cor(x, use = "pairwise")
f1 <- psych::fa(x, nfactors = 3, rotate = "oblimin", fm = "minres", use = "pairwise")
f2 <- psych::fa(x, nfactors = 3, rotate = "varimax", fm = "ml", use = "pairwise")
ld <- function(f) as.data.frame(unclass(f$loadings))
out <- list(
  psych_version = as.character(packageVersion("psych")), items = items,
  rows = nrow(x), complete = sum(complete.cases(x)),
  pairwise_n = unname(crossprod(!is.na(as.matrix(x)))),
  cor = unname(r), kmo = KMO(r)$MSA,
  minres_oblimin = list(loadings = ld(f1), communalities = as.list(f1$communality)),
  ml_varimax = list(loadings = ld(f2), communalities = as.list(f2$communality))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "rowmajor", rownames = TRUE),
           "tests/data/efa_pairwise.json")
